import { describe, expect, it } from 'vitest';
import { displayWidth, table } from './output.js';

describe('table', () => {
  it('aligns columns holding Japanese text by the width a terminal draws', () => {
    const out = table(
      [
        ['患者ID', 'text', '0'],
        ['HbA1c', 'number', '0'],
        ['ｶﾅ', 'text', '1'],
      ],
      ['COLUMN', 'TYPE', 'MISSING'],
    ).split('\n');
    // Every TYPE value starts at the same terminal column.
    const starts = out.map((line) => displayWidth(line.slice(0, line.search(/ (text|number|TYPE)/))) + 1);
    expect(new Set(starts).size).toBe(1);
    expect(out[1]).toBe('患者ID  text    0');
  });

  it('counts wide characters twice and everything else once', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('検査日')).toBe(6);
    expect(displayWidth('ＨｂＡ１ｃ')).toBe(10);
    expect(displayWidth('ｶﾅ')).toBe(2); // halfwidth katakana
    expect(displayWidth('𠮷')).toBe(2); // outside the BMP
  });
});
