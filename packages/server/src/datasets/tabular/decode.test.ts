// Strict decoding: UTF-8 split across chunks, BOM, CP932 (cross-checked against iconv-lite), the deferred
// 'auto' choice, and exact byte offsets of undecodable bytes.
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { ByteDecoder, DETECT_WINDOW, firstInvalidUtf8, normalizeEncoding } from './decode.js';

function decodeAll(
  bytes: Uint8Array,
  enc: 'auto' | 'utf-8' | 'cp932',
  chunk: number,
): { text: string; d: ByteDecoder } {
  const d = new ByteDecoder(enc);
  let text = '';
  for (let i = 0; i < bytes.length && d.failure === undefined; i += chunk)
    text += d.write(bytes.subarray(i, i + chunk));
  if (d.failure === undefined) text += d.end();
  return { text, d };
}

describe('ByteDecoder', () => {
  const jp = '患者ID,検査値,コメント\nP001,6.8,経過良好 ～①ｱ\n';

  it('decodes UTF-8 split at every possible chunk size', () => {
    const bytes = Buffer.from(jp + '😀\n');
    for (const chunk of [1, 2, 3, 5, 7, 64]) {
      const { text, d } = decodeAll(bytes, 'auto', chunk);
      expect(d.failure).toBeUndefined();
      expect(text).toBe(jp + '😀\n');
      expect(d.encoding).toBe('utf-8');
    }
  });

  it('keeps copies of what it holds between calls: the caller may reuse a chunk at once', () => {
    const text = 'a,b\n1,2\n' + '患者,' + 'x'.repeat(70_000) + '\n';
    const bytes = Buffer.from(text);
    // Tiny first chunk (held until 3 bytes), then a chunk holding the first non-ASCII byte (held for the
    // detection window), each overwritten right after it was written, as the ingest worker's ring is.
    for (const cuts of [
      [2, 12, 40_000],
      [9, 20, 100],
    ]) {
      const d = new ByteDecoder('auto');
      const out: Buffer[] = [];
      let at = 0;
      for (const cut of [...cuts, bytes.length]) {
        const chunk = Buffer.from(bytes.subarray(at, cut));
        out.push(Buffer.from(d.writeBytes(chunk)));
        chunk.fill(0x21);
        at = cut;
      }
      out.push(Buffer.from(d.endBytes()));
      expect(d.failure).toBeUndefined();
      expect(d.encoding).toBe('utf-8');
      expect(Buffer.concat(out).toString('utf8')).toBe(text);
    }
  });

  it('strips a BOM and reports utf-8-bom', () => {
    const { text, d } = decodeAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(jp)]), 'auto', 4);
    expect(text).toBe(jp);
    expect(d.encoding).toBe('utf-8-bom');
  });

  it('detects CP932 and decodes it exactly like iconv-lite, at any chunk size', () => {
    const bytes = iconv.encode(jp, 'cp932');
    for (const chunk of [1, 2, 3, 1000]) {
      const { text, d } = decodeAll(bytes, 'auto', chunk);
      expect(d.encoding).toBe('cp932');
      expect(text).toBe(jp);
    }
    expect(decodeAll(bytes, 'cp932', 5).text).toBe(iconv.decode(bytes, 'cp932'));
  });

  it('matches iconv-lite on random CP932 text', () => {
    const alphabet = [...'あいうえお漢字患者検査ｱｲｳ①②Ⅰ～－＼￥abc,"\n'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        (cs, chunk) => {
          const s = cs.join('');
          const bytes = iconv.encode(s, 'cp932');
          const { text, d } = decodeAll(bytes, 'cp932', chunk);
          expect(d.failure).toBeUndefined();
          expect(text).toBe(iconv.decode(bytes, 'cp932'));
        },
      ),
    );
  });

  it('chooses CP932 when the Japanese text starts after a long ASCII prefix', () => {
    const prefix = 'id,value\n' + '1,2\n'.repeat(300_000); // 1.2 MB of ASCII
    const bytes = Buffer.concat([Buffer.from(prefix), iconv.encode('3,患者\n', 'cp932')]);
    const { text, d } = decodeAll(bytes, 'auto', 65536);
    expect(d.encoding).toBe('cp932');
    expect(text.endsWith('3,患者\n')).toBe(true);
  });

  it('names the offset of an undecodable byte in declared UTF-8', () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,'), Buffer.from([0xff]), Buffer.from('\n')]);
    for (const chunk of [1, 3, 100]) {
      const { text, d } = decodeAll(bytes, 'utf-8', chunk);
      expect(d.failure).toEqual({ offset: 6, encoding: 'utf-8' });
      expect(text).toBe('a,b\n1,');
    }
  });

  it('names the offset of a CP932 byte or pair that iconv-lite would replace with U+FFFD', () => {
    for (const bad of [[0xa0], [0xfd], [0xff], [0x85, 0x40], [0x81, 0x20], [0xeb, 0x40]]) {
      expect(iconv.decode(Buffer.from(bad), 'cp932')).toContain('\uFFFD');
      const bytes = Buffer.concat([iconv.encode('患者,', 'cp932'), Buffer.from(bad), Buffer.from('\n')]);
      const { d } = decodeAll(bytes, 'cp932', 2);
      expect([bad, d.failure]).toEqual([bad, { offset: 5, encoding: 'cp932' }]);
    }
  });

  it('fails on a file that ends inside a multi-byte character', () => {
    const { d } = decodeAll(Buffer.from([0x61, 0xe6, 0x82]), 'utf-8', 1);
    expect(d.failure).toEqual({ offset: 1, encoding: 'utf-8' });
    const { d: d2 } = decodeAll(Buffer.from([0x61, 0x82]), 'cp932', 1);
    expect(d2.failure).toEqual({ offset: 1, encoding: 'cp932' });
  });

  it('fails when UTF-8 was chosen and invalid bytes come after the detection window', () => {
    const bytes = Buffer.concat([
      Buffer.from('é,'),
      Buffer.from('x'.repeat(DETECT_WINDOW + 10)),
      iconv.encode('患', 'cp932'),
    ]);
    const { d } = decodeAll(bytes, 'auto', 4096);
    expect(d.encoding).toBe('utf-8');
    expect(d.failure?.offset).toBe(3 + DETECT_WINDOW + 10);
  });
});

describe('firstInvalidUtf8', () => {
  it('agrees with a fatal TextDecoder on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        let valid = true;
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          valid = false;
        }
        expect(firstInvalidUtf8(bytes, false) === -1).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('normalizeEncoding', () => {
  it('accepts the CP932 aliases and rejects unknown names', () => {
    for (const a of ['shift_jis', 'SJIS', 'windows-31j', 'cp932', 'MS932']) expect(normalizeEncoding(a)).toBe('cp932');
    expect(normalizeEncoding('UTF8')).toBe('utf-8');
    expect(() => normalizeEncoding('euc-jp')).toThrow(AppError);
  });
});
