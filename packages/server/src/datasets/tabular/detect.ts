// Delimiter detection: tokenizes the first block of text with each candidate delimiter (quotes respected)
// and keeps the one that splits the header into the most fields with the most rows agreeing on that count.

import { CsvTokenizer } from './tokenizer.js';

export const DELIMITER_CANDIDATES = [',', '\t', ';', '|'] as const;
export type Delimiter = (typeof DELIMITER_CANDIDATES)[number];

/** How many records of the sample are compared. */
const SAMPLE_RECORDS = 200;

class SampleFull extends Error {}

/** Field counts of the first records of `sample` split by `delimiter` (complete records only unless final). */
function fieldCounts(sample: string, delimiter: string, final: boolean): number[] | undefined {
  const counts: number[] = [];
  const tok = new CsvTokenizer(
    delimiter.charCodeAt(0),
    1_000_000,
    (row) => {
      counts.push(row.count);
      if (counts.length >= SAMPLE_RECORDS) throw new SampleFull();
    },
    () => {
      throw new SampleFull();
    },
  );
  try {
    tok.push(sample);
    if (final) tok.end();
  } catch (e) {
    // A quoting error under one delimiter only disqualifies that delimiter.
    if (!(e instanceof SampleFull)) return undefined;
  }
  return counts;
}

/** Picks the delimiter for `sample` (the first ~64 KB of text); ',' when nothing splits the header. */
export function detectDelimiter(sample: string, final: boolean): Delimiter {
  let best: Delimiter = ',';
  let bestAgree = -1;
  let bestFields = 1;
  for (const d of DELIMITER_CANDIDATES) {
    const counts = fieldCounts(sample, d, final);
    const header = counts?.[0];
    if (counts === undefined || header === undefined || header < 2) continue;
    const agree = counts.filter((c) => c === header).length / counts.length;
    if (agree > bestAgree + 1e-9 || (Math.abs(agree - bestAgree) <= 1e-9 && header > bestFields)) {
      best = d;
      bestAgree = agree;
      bestFields = header;
    }
  }
  return best;
}
