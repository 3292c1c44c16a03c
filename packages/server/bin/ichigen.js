#!/usr/bin/env node
// Entry point of the `ichigen` command; the compiled CLI lives in ../dist (built by `npm install`).
import { main } from '../dist/cli/main.js';

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ichigen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
