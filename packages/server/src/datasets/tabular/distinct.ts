// Bounded distinct-value counting for column profiles: numbers (and dates, as epoch ms) in a typed-array
// hash table, text as UTF-8 byte keys in an open-addressing table over one byte arena. Both stop admitting
// values at a cap.
//
// Why not one Map<string>: a Map lookup per cell (string slice + hash, or a boxed double) was the largest cost
// of pass 1 (it halved throughput on a numeric file, and text columns took ~20 % of pass 1); these hash the
// cell's bytes where they lie and allocate nothing per cell. Strings exist only for the profile's output.

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

  /** `add` of a value written as the ASCII bytes `buf[a, b)` (numbers and dates are ASCII). */
  addBytes(v: number, buf: Uint8Array, a: number, b: number): boolean {
    if (v === 0) v = 0;
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
    this.texts[i] = Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1');
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

/** Counters with at most this many keys are searched without hashing. */
const SMALL_COUNTER = 8;

/** FNV-1a hash of the bytes `buf[a, b)`. (A multiply-free h·33 + byte with a final avalanche measured slower.) */
export function hashBytes(buf: Uint8Array, a: number, b: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = a; i < b; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  return h;
}

/** Length in UTF-16 code units of the UTF-8 bytes `buf[a, b)` (what String#length would say). */
export function utf16Length(buf: Uint8Array, a: number, b: number): number {
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = buf[i] as number;
    if ((c & 0xc0) !== 0x80) n += c >= 0xf0 ? 2 : 1;
  }
  return n;
}

/**
 * Distinct texts with counts, keyed by their UTF-8 bytes. Values longer than `maxKeyChars` (UTF-16 units,
 * as before), beyond `cap` values, or beyond `maxTotalChars` characters of keys in all are not admitted
 * (memory stays bounded however many wide text columns there are).
 */
export class TextCounter {
  /** Set once a value could not be admitted: `size` is then a lower bound. */
  overflow = false;
  size = 0;
  private chars = 0;
  /** Keys, back to back. */
  private arena = Buffer.allocUnsafe(1024);
  private arenaUsed = 0;
  private keyStart = new Int32Array(16);
  private keyEnd = new Int32Array(16);
  private hashes = new Int32Array(16);
  private counts = new Float64Array(16);
  /** Open addressing, linear probing: entry index + 1, 0 = empty. */
  private table = new Int32Array(32);

  constructor(
    readonly cap: number,
    readonly maxKeyChars: number,
    readonly maxTotalChars = Infinity,
  ) {}

  /** Counts the text `s.slice(a, b)`. */
  add(s: string, a: number, b: number): void {
    const bytes = Buffer.from(s.slice(a, b), 'utf8');
    this.addBytes(bytes, 0, bytes.length);
  }

  /**
   * Counts the text whose UTF-8 bytes are `buf[a, b)`. Returns its index in admission order (stable: keys are
   * never removed), or -1 when it could not be admitted (the counter overflowed).
   */
  addBytes(buf: Uint8Array, a: number, b: number): number {
    const k = this.find(buf, a, b);
    if (k >= 0) {
      this.counts[k] = (this.counts[k] as number) + 1;
      return k;
    }
    return this.insert(buf, a, b, this.lastHash, this.lastSlot, 1);
  }

  /** The arena holding every admitted key; key `k` is `keyArena()[keyStartOf(k), keyEndOf(k))`. */
  keyArena(): Buffer {
    return this.arena;
  }
  keyStartOf(k: number): number {
    return this.keyStart[k] as number;
  }
  keyEndOf(k: number): number {
    return this.keyEnd[k] as number;
  }

  /** Hash and free slot of the last `find` that missed. */
  private lastHash = 0;
  private lastSlot = 0;

  /** Index (in admission order) of the text whose UTF-8 bytes are `buf[a, b)`, or -1. */
  find(buf: Uint8Array, a: number, b: number): number {
    const len0 = b - a;
    if (this.size <= SMALL_COUNTER) {
      // Few keys (codes, units, flags): comparing lengths and bytes directly beats hashing every cell.
      const arena = this.arena;
      for (let k = 0; k < this.size; k++) {
        const ks = this.keyStart[k] as number;
        if ((this.keyEnd[k] as number) - ks !== len0) continue;
        let i = 0;
        while (i < len0 && arena[ks + i] === buf[a + i]) i++;
        if (i === len0) return k;
      }
    }
    const h = hashBytes(buf, a, b);
    const table = this.table;
    const mask = table.length - 1;
    const len = b - a;
    const arena = this.arena;
    let slot = h & mask;
    for (;;) {
      const e = table[slot] as number;
      if (e === 0) break;
      const k = e - 1;
      if (this.hashes[k] === h) {
        const ks = this.keyStart[k] as number;
        if ((this.keyEnd[k] as number) - ks === len) {
          let i = 0;
          while (i < len && arena[ks + i] === buf[a + i]) i++;
          if (i === len) return k;
        }
      }
      slot = (slot + 1) & mask;
    }
    this.lastHash = h;
    this.lastSlot = slot;
    return -1;
  }

  /** Adds a value with a count (for values counted elsewhere first). */
  admit(key: string, count: number): void {
    const bytes = Buffer.from(key, 'utf8');
    const h = hashBytes(bytes, 0, bytes.length);
    let slot = h & (this.table.length - 1);
    while (this.table[slot] !== 0) slot = (slot + 1) & (this.table.length - 1);
    this.insert(bytes, 0, bytes.length, h, slot, count);
  }

  /** Admits a key; returns its index, or -1 (and sets `overflow`) when it cannot be admitted. */
  private insert(buf: Uint8Array, a: number, b: number, h: number, slot: number, count: number): number {
    const len = b - a;
    const i = this.size;
    if (this.overflow || i >= this.cap || len > 4 * this.maxKeyChars + 4) {
      this.overflow = true;
      return -1;
    }
    const chars = len > this.maxKeyChars || this.maxTotalChars !== Infinity ? utf16Length(buf, a, b) : len;
    if (chars > this.maxKeyChars || this.chars + chars > this.maxTotalChars) {
      // Keep counting the values already known (top values stay meaningful), but admit no new ones.
      this.overflow = true;
      return -1;
    }
    if (i === this.counts.length) this.growEntries();
    if (this.arenaUsed + len > this.arena.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + len));
      this.arena.copy(grown, 0, 0, this.arenaUsed);
      this.arena = grown;
    }
    this.arena.set(buf.subarray(a, b), this.arenaUsed);
    this.keyStart[i] = this.arenaUsed;
    this.keyEnd[i] = this.arenaUsed + len;
    this.arenaUsed += len;
    this.hashes[i] = h;
    this.counts[i] = count;
    this.chars += chars;
    this.table[slot] = i + 1;
    this.size = i + 1;
    if (this.size * 2 > this.table.length) this.rehash();
    return i;
  }

  private growEntries(): void {
    const n = this.counts.length * 2;
    const grow = <T extends Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const g = make(n);
      g.set(old);
      return g;
    };
    this.keyStart = grow(this.keyStart, (k) => new Int32Array(k));
    this.keyEnd = grow(this.keyEnd, (k) => new Int32Array(k));
    this.hashes = grow(this.hashes, (k) => new Int32Array(k));
    this.counts = grow(this.counts, (k) => new Float64Array(k));
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let k = 0; k < this.size; k++) {
      let slot = (this.hashes[k] as number) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = k + 1;
    }
    this.table = table;
  }

  entries(): CountedValue[] {
    const out: CountedValue[] = [];
    for (let k = 0; k < this.size; k++) {
      out.push({
        text: this.arena.toString('utf8', this.keyStart[k], this.keyEnd[k]),
        count: this.counts[k] as number,
      });
    }
    return out;
  }
}
