// Reading a secret: from a terminal without echo, or the next line of standard input when it is not a terminal.
import { createInterface } from 'node:readline';

/**
 * Hands out the lines of a piped stream one at a time, across calls: `login` reads the one-time password and then
 * the new one, so the first read must not swallow what follows it. The stream is paused between reads, so a pipe
 * that stays open does not keep the process alive.
 */
export function lineReader(input: NodeJS.ReadableStream): () => Promise<string | undefined> {
  let buffered = '';
  let ended = false;
  input.setEncoding('utf8');
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
      if (line !== undefined || ended) return line;
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          input.off('data', onData);
          input.off('end', onEnd);
          input.off('error', onError);
          input.pause();
        };
        const onData = (chunk: string | Buffer) => {
          buffered += chunk.toString();
          done();
          resolve();
        };
        const onEnd = () => {
          ended = true;
          done();
          resolve();
        };
        const onError = (e: Error) => {
          done();
          reject(e);
        };
        input.on('data', onData);
        input.once('end', onEnd);
        input.once('error', onError);
        input.resume();
      });
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
