import { describe, expect, it } from 'vitest';
import { newId } from './util.js';

describe('newId', () => {
  it('gives distinct 128-bit hex ids, time-ordered by their first 48 bits, across refills of its random pool', () => {
    const before = Date.now();
    // 4 KiB of random bytes serve 409 ids: 5,000 ids cross a dozen refills.
    const ids = Array.from({ length: 5000 }, () => newId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    const times = ids.map((id) => parseInt(id.slice(0, 12), 16));
    expect(times[0]).toBeGreaterThanOrEqual(before);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]!);
    // The random parts are not reused across a refill: no 80-bit suffix repeats.
    expect(new Set(ids.map((id) => id.slice(12))).size).toBe(ids.length);
  });
});
