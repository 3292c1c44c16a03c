#!/usr/bin/env node
// Entry point of the `ichigen` command; the compiled CLI lives in ../dist (built by `npm install`).
import { main } from '../dist/cli/main.js';

// A reader that goes away (`ichigen serve | head -1`, `ichigen dataset log … | head`) closes our stdout or stderr:
// writes then fail with EPIPE, which would crash the process with an unhandled 'error' event and a stack trace.
// The output has nowhere to go; the command goes on (a server keeps serving and still stops cleanly on SIGTERM).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') return;
    throw err;
  });
}

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ichigen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
