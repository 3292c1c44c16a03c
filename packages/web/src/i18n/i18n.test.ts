// The message files: Japanese has every English key (and no extra ones), the same {{placeholders}}, no empty text;
// and every literal key the source code asks for exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { en } from './en';
import { ja } from './ja';

type Tree = { [k: string]: string | Tree };

function flatten(t: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(t)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

const SRC = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

describe('message files', () => {
  const E = flatten(en as unknown as Tree);
  const J = flatten(ja as unknown as Tree);

  it('ja has exactly the keys of en', () => {
    expect([...J.keys()].sort()).toEqual([...E.keys()].sort());
  });

  it('no message is empty, and ja uses the same placeholders as en', () => {
    for (const [k, v] of E) {
      expect(v.trim(), k).not.toBe('');
      expect(J.get(k)?.trim(), k).not.toBe('');
      expect(placeholders(J.get(k) ?? ''), k).toEqual(placeholders(v));
    }
  });

  it('every literal key used in the source exists in en', () => {
    const missing: string[] = [];
    let seen = 0;
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z]+(?:\.[a-zA-Z_]+)+)'/g)) {
        seen++;
        if (!E.has(m[1]!)) missing.push(`${path.relative(SRC, file)}: ${m[1]}`);
      }
    }
    expect(seen).toBeGreaterThan(200);
    expect(missing).toEqual([]);
  });
});
