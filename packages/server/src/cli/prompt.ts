// Reading a secret: from a terminal without echo, or the next line of standard input when it is not a terminal.
import { createInterface } from 'node:readline';
import { CliError } from './client.js';

/**
 * Hands out the lines of a piped stream one at a time, across calls: `login` reads the one-time password and then
 * the new one, so the first read must not swallow what follows it. Between reads the stream is paused and, when it
 * is a socket or pipe, unreferenced, so a pipe that stays open does not keep the process alive (pausing alone does
 * not: the stream goes on filling its buffer). Its end and errors are watched from the start, so none is missed.
 */
export function lineReader(
  input: NodeJS.ReadableStream & { ref?: () => unknown; unref?: () => unknown },
): () => Promise<string | undefined> {
  let buffered = '';
  let ended = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  input.setEncoding('utf8');
  input.on('data', (chunk: string | Buffer) => {
    buffered += chunk.toString();
    input.pause();
    input.unref?.();
    wake?.();
  });
  input.once('end', () => {
    ended = true;
    wake?.();
  });
  input.once('error', (e: Error) => {
    failed = e;
    wake?.();
  });
  input.pause();
  input.unref?.();
  const take = (): string | undefined => {
    const nl = buffered.indexOf('\n');
    if (nl >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, '');
      buffered = buffered.slice(nl + 1);
      return line;
    }
    if (ended && buffered !== '') {
      const line = buffered.replace(/\r$/, '');
      buffered = '';
      return line;
    }
    return undefined;
  };
  return async () => {
    for (;;) {
      const line = take();
      if (line !== undefined) return line;
      if (failed) throw failed;
      if (ended) return undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        input.ref?.();
        input.resume();
      });
      wake = undefined;
    }
  };
}

let stdinLines: (() => Promise<string | undefined>) | undefined;

export async function readSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    stdinLines ??= lineReader(process.stdin);
    const line = await stdinLines();
    if (line === undefined) throw new Error(`no password given on standard input (${question.replace(/:\s*$/, '')})`);
    return line;
  }
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    out._writeToOutput = (s: string) => {
      // Echo the question and line breaks, never the typed characters.
      if (s.includes(question) || s === '\r\n' || s === '\n') process.stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/**
 * A new password: typed twice on a terminal, where a typo cannot be seen (and would lock the account out); a script's
 * standard input gives it once.
 */
export async function readNewSecret(
  read: (question: string) => Promise<string> = readSecret,
  onTerminal: boolean = process.stdin.isTTY === true,
): Promise<string> {
  const first = await read('New password: ');
  if (onTerminal && (await read('New password again: ')) !== first) {
    throw new CliError('PASSWORD_MISMATCH', 'the two new passwords differ; nothing was changed: run login again');
  }
  return first;
}
