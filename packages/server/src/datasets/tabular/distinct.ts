// Bounded distinct-value counting for column profiles: numbers (and dates, as epoch ms) in a typed-array
// hash table, text in a short in-place-compared list that becomes a Map. Both stop admitting values at a cap.
//
// Why not one Map<string>: a Map lookup per cell (string slice + hash, or a boxed double) was the largest cost
// of pass 1 (it halved throughput on a numeric file); these avoid allocating anything per cell.

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function hashDouble(v: number): number {
  if ((v | 0) === v) {
    // Small integers (the common case: ages, codes, counts) hash without touching the double's bits.
    const h = Math.imul(v, 0x9e3779b1);
    return h ^ (h >>> 15);
  }
  f64[0] = v;
  let h = Math.imul((u32[0] as number) ^ Math.imul(u32[1] as number, 0x85ebca6b), 0x9e3779b1);
  h ^= h >>> 15;
  return h;
}

/** Copies a slice into its own string, so a kept key does not pin the whole decoded chunk in memory. */
export const ownString = (s: string, a: number, b: number): string => (' ' + s.slice(a, b)).slice(1);

export interface CountedValue {
  text: string;
  count: number;
}

/** Distinct doubles with counts, and the text of each value's first occurrence. */
export class NumberCounter {
  size = 0;
  private keys = new Float64Array(64);
  private counts = new Float64Array(64);
  private used = new Uint8Array(64);
  private texts: string[] = new Array<string>(64);

  constructor(readonly cap: number) {}

  /** Counts `v` (written as `s.slice(a, b)`). False when `v` is new and `cap` values are held already. */
  add(v: number, s: string, a: number, b: number): boolean {
    if (v === 0) v = 0; // -0 and 0 are one value
    const mask = this.keys.length - 1;
    let i = hashDouble(v) & mask;
    for (;;) {
      if (this.used[i] === 0) break;
      if (this.keys[i] === v) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return true;
      }
      i = (i + 1) & mask;
    }
    if (this.size >= this.cap) return false;
    this.used[i] = 1;
    this.keys[i] = v;
    this.counts[i] = 1;
    this.texts[i] = ownString(s, a, b);
    if (++this.size * 2 > this.keys.length) this.grow();
    return true;
  }

  entries(): CountedValue[] {
    const out: CountedValue[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (this.used[i] === 1) out.push({ text: this.texts[i] as string, count: this.counts[i] as number });
    }
    return out;
  }

  private grow(): void {
    const { keys, counts, used, texts } = this;
    const cap = keys.length * 2;
    this.keys = new Float64Array(cap);
    this.counts = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.texts = new Array<string>(cap);
    const mask = cap - 1;
    for (let j = 0; j < keys.length; j++) {
      if (used[j] === 0) continue;
      const v = keys[j] as number;
      let i = hashDouble(v) & mask;
      while (this.used[i] === 1) i = (i + 1) & mask;
      this.used[i] = 1;
      this.keys[i] = v;
      this.counts[i] = counts[j] as number;
      this.texts[i] = texts[j] as string;
    }
  }
}

/** Up to this many distinct texts are matched by comparing in place, without slicing the cell. */
const SHORT_LIST = 8;

/**
 * Distinct texts with counts. Values longer than `maxKeyChars`, beyond `cap` values, or beyond `maxTotalChars`
 * characters of keys in all are not admitted (memory stays bounded however many wide text columns there are).
 */
export class TextCounter {
  /** Set once a value could not be admitted: `size` is then a lower bound. */
  overflow = false;
  private list: string[] | undefined = [];
  private map: Map<string, number> | undefined;
  private counts = new Float64Array(16);
  private chars = 0;

  constructor(
    readonly cap: number,
    readonly maxKeyChars: number,
    readonly maxTotalChars = Infinity,
  ) {}

  get size(): number {
    return this.list?.length ?? this.map?.size ?? 0;
  }

  add(s: string, a: number, b: number): void {
    const list = this.list;
    if (list !== undefined) {
      const len = b - a;
      for (let i = 0; i < list.length; i++) {
        const k = list[i] as string;
        if (k.length === len && s.startsWith(k, a)) {
          this.counts[i] = (this.counts[i] as number) + 1;
          return;
        }
      }
      if (list.length < SHORT_LIST) {
        this.admit(ownString(s, a, b), 1);
        return;
      }
      this.map = new Map(list.map((k, i) => [k, i]));
      this.list = undefined;
    }
    const key = s.slice(a, b);
    const i = (this.map as Map<string, number>).get(key);
    if (i !== undefined) this.counts[i] = (this.counts[i] as number) + 1;
    else this.admit(ownString(s, a, b), 1);
  }

  /** Adds a value with a count (for values counted elsewhere first). */
  admit(key: string, count: number): void {
    const i = this.size;
    if (
      this.overflow ||
      i >= this.cap ||
      key.length > this.maxKeyChars ||
      this.chars + key.length > this.maxTotalChars
    ) {
      // Keep counting the values already known (top values stay meaningful), but admit no new ones.
      this.overflow = true;
      return;
    }
    if (i === this.counts.length) {
      const grown = new Float64Array(i * 2);
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[i] = count;
    this.chars += key.length;
    if (this.list !== undefined && i < SHORT_LIST) {
      this.list.push(key);
    } else {
      if (this.map === undefined) {
        this.map = new Map((this.list ?? []).map((k, j) => [k, j]));
        this.list = undefined;
      }
      this.map.set(key, i);
    }
  }

  entries(): CountedValue[] {
    const keys = this.list ?? [...(this.map ?? new Map<string, number>()).keys()];
    return keys.map((text, i) => ({ text, count: this.counts[i] as number }));
  }
}
