import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliError } from './client.js';
import { lineReader, readNewSecret } from './prompt.js';

describe('reading secrets', () => {
  it('hands out piped lines one per call, CRLF or not, the last one without a line end too', async () => {
    const input = new PassThrough();
    input.end('one-time\r\nnew password\nlast');
    const next = lineReader(input);
    expect(await next()).toBe('one-time');
    expect(await next()).toBe('new password');
    expect(await next()).toBe('last');
    expect(await next()).toBeUndefined();
  });

  it('waits for a line that arrives later', async () => {
    const input = new PassThrough();
    const next = lineReader(input);
    const pending = next();
    input.write('pass');
    input.write('word\n');
    expect(await pending).toBe('password');
  });

  it('asks for a new password twice on a terminal and refuses two that differ', async () => {
    const answers = (...a: string[]) => {
      const asked: string[] = [];
      return { asked, read: async (q: string) => (asked.push(q), a.shift() ?? '') };
    };
    const same = answers('a long new password', 'a long new password');
    expect(await readNewSecret(same.read, true)).toBe('a long new password');
    expect(same.asked).toEqual(['New password: ', 'New password again: ']);

    const typo = answers('a long new password', 'a long new pasword');
    const err = await readNewSecret(typo.read, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).code).toBe('PASSWORD_MISMATCH');

    const piped = answers('from a script');
    expect(await readNewSecret(piped.read, false)).toBe('from a script');
    expect(piped.asked).toEqual(['New password: ']);
  });
});
