// Human and machine output for the CLI: --json prints exactly one JSON document; otherwise aligned tables.
import { SingleBar, Presets } from 'cli-progress';
import type { Progress } from './client.js';

// Characters a terminal draws two cells wide (East Asian Wide and Fullwidth): CJK, kana, Hangul, fullwidth forms.
const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/gu;

/** Columns a string takes in a terminal: Japanese column names and values are two columns a character. */
export function displayWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n + (s.match(WIDE)?.length ?? 0);
}

export function table(rows: (string | number | null | undefined)[][], header: string[]): string {
  const all = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => displayWidth(r[i] ?? ''))));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '') + ' '.repeat(widths[i]! - displayWidth(c ?? ''))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function bytes(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = n;
  while (x >= 1000 && i < u.length - 1) {
    x /= 1000;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${u[i]}`;
}

/** A progress bar on stderr when it is a terminal (and not --json); silent otherwise. */
export function progressBar(label: string, enabled: boolean): { update: Progress; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {doneH} / {totalH} | {speed}`,
      stream: process.stderr,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  const started = Date.now();
  let begun = false;
  return {
    update(done, total) {
      const t = total ?? done;
      const payload = {
        doneH: bytes(done),
        totalH: total ? bytes(total) : '?',
        speed: `${bytes(done / Math.max((Date.now() - started) / 1000, 0.001))}/s`,
      };
      if (!begun) {
        bar.start(t, done, payload);
        begun = true;
      } else {
        bar.setTotal(t);
        bar.update(done, payload);
      }
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}
