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

const latin1 = (buf: Uint8Array, a: number, b: number): string =>
  Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1');

/** Copies a slice into its own string, so a kept key does not pin the whole decoded chunk in memory. */
export const ownString = (s: string, a: number, b: number): string => (' ' + s.slice(a, b)).slice(1);

/** A chunk counter's keys (see `NumberCounter.chunkKeys`). */
export interface ChunkKeys {
  keys: Float64Array;
  counts: Float64Array;
  starts: Int32Array;
  ends: Int32Array;
}

export interface CountedValue {
  text: string;
  count: number;
}

/** Distinct doubles with counts, and the text of each value's first occurrence. */
export class NumberCounter {
  size = 0;
  /**
   * The table: slot i's key at [2i] (NaN = empty: no counted value is NaN) and its count at [2i + 1], so a
   * lookup touches one cache line instead of three arrays (keys, counts, used) — ~20 % of a parse was counting.
   */
  private slots: Float64Array;
  private texts: string[];
  /** Keys in the order they were first met (a merge replays them in that order: same table, same entries). */
  private order: Float64Array;

  /** `expected`: distinct values expected (a chunk's counter starts at the file's size, not growing 6 times). */
  constructor(
    readonly cap: number,
    expected = 0,
    base?: Uint8Array,
  ) {
    let n = 64;
    while (n < expected * 2 + 2 && n < 1 << 24) n *= 2;
    this.slots = new Float64Array(2 * n).fill(NaN);
    this.base = base;
    // A chunk's counter keeps positions, no texts (an array of them per chunk only fed the collector).
    this.texts = base === undefined ? new Array<string>(n) : [];
    this.order = new Float64Array(n);
  }

  /**
   * Set for a chunk's counter: keys are met in these bytes, and each key's first text is kept as its position
   * there (`firstStart`/`firstEnd`, in insertion order), not as a string; the merge makes strings of new keys only.
   */
  base: Uint8Array | undefined;
  private firstStart = new Int32Array(0);
  private firstEnd = new Int32Array(0);

  private remember(v: number): void {
    if (this.size === this.order.length) {
      const grown = new Float64Array(this.order.length * 2);
      grown.set(this.order);
      this.order = grown;
    }
    this.order[this.size] = v;
  }

  private rememberAt(a: number, b: number): void {
    const n = this.size;
    if (n >= this.firstStart.length) {
      const cap = Math.max(64, this.firstStart.length * 2);
      const s = new Int32Array(cap);
      s.set(this.firstStart);
      const e = new Int32Array(cap);
      e.set(this.firstEnd);
      this.firstStart = s;
      this.firstEnd = e;
    }
    this.firstStart[n] = a;
    this.firstEnd[n] = b;
  }

  /** A chunk's keys in first-occurrence order with counts and first positions in `base` (see `base`). */
  chunkKeys(): ChunkKeys {
    const keys = this.order.slice(0, this.size);
    const counts = new Float64Array(this.size);
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    for (let k = 0; k < this.size; k++) {
      const v = keys[k] as number;
      let i = hashDouble(v) & mask;
      while (slots[2 * i] !== v) i = (i + 1) & mask;
      counts[k] = slots[2 * i + 1] as number;
    }
    return { keys, counts, starts: this.firstStart.slice(0, this.size), ends: this.firstEnd.slice(0, this.size) };
  }

  /** Adds `count` to `v` when it is held and returns its slot; else returns -1 - (the free slot for it). */
  private bump(v: number, count: number): number {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    let i = hashDouble(v) & mask;
    for (;;) {
      const key = slots[2 * i] as number;
      if (key === v) {
        slots[2 * i + 1] = (slots[2 * i + 1] as number) + count;
        return i;
      }
      if (key !== key) return -1 - i;
      i = (i + 1) & mask;
    }
  }

  /** Holds new key `v` in free slot `slot` (from `bump`); false when `cap` keys are held already. */
  private put(v: number, count: number, slot: number, text: string | undefined): boolean {
    if (this.size >= this.cap) return false;
    this.remember(v);
    this.slots[2 * slot] = v;
    this.slots[2 * slot + 1] = count;
    if (text !== undefined) this.texts[slot] = text;
    if (++this.size * 4 > this.slots.length) this.grow();
    return true;
  }

  /** Adds `count` occurrences of `v`, its text (latin1 bytes `buf[a, b)`) made only if `v` is new. */
  addCountedAt(v: number, count: number, buf: Uint8Array, a: number, b: number): boolean {
    const r = this.bump(v, count);
    return r >= 0 || this.put(v, count, -1 - r, latin1(buf, a, b));
  }

  /** Counts `v` (written as `s.slice(a, b)`). False when `v` is new and `cap` values are held already. */
  add(v: number, s: string, a: number, b: number): boolean {
    if (v === 0) v = 0; // -0 and 0 are one value
    const r = this.bump(v, 1);
    return r >= 0 || this.put(v, 1, -1 - r, ownString(s, a, b));
  }

  /** `add` of a value written as the ASCII bytes `buf[a, b)` (numbers and dates are ASCII). */
  addBytes(v: number, buf: Uint8Array, a: number, b: number): boolean {
    if (v === 0) v = 0;
    const r = this.bump(v, 1);
    if (r >= 0) return true;
    if (this.base === undefined) return this.put(v, 1, -1 - r, latin1(buf, a, b));
    if (this.size >= this.cap) return false;
    if (buf !== this.base) throw new Error('NumberCounter: a key outside its chunk');
    this.rememberAt(a, b);
    return this.put(v, 1, -1 - r, undefined);
  }

  entries(): CountedValue[] {
    const out: CountedValue[] = [];
    const slots = this.slots;
    for (let i = 0; 2 * i < slots.length; i++) {
      const key = slots[2 * i] as number;
      if (key === key) out.push({ text: this.texts[i] as string, count: slots[2 * i + 1] as number });
    }
    return out;
  }

  private grow(): void {
    const { slots: old, texts } = this;
    const cap = old.length; // slots: twice the old slot count
    const slots = (this.slots = new Float64Array(2 * cap).fill(NaN));
    if (this.base === undefined) this.texts = new Array<string>(cap);
    const mask = cap - 1;
    for (let j = 0; 2 * j < old.length; j++) {
      const v = old[2 * j] as number;
      if (v !== v) continue;
      let i = hashDouble(v) & mask;
      while (slots[2 * i] === slots[2 * i]) i = (i + 1) & mask;
      slots[2 * i] = v;
      slots[2 * i + 1] = old[2 * j + 1] as number;
      if (this.base === undefined) this.texts[i] = texts[j] as string;
    }
  }
}

/** Counters with at most this many keys are searched without hashing. */
const SMALL_COUNTER = 8;

/**
 * A short signature of the bytes `buf[a, b)` for the small counter's search: the length (capped at 255) and the
 * first three bytes (0 past the end). Keys of up to 3 bytes are equal exactly when their signatures are.
 */
function signature(buf: Uint8Array, a: number, b: number): number {
  const len = b - a;
  if (len >= 3)
    return (
      (len < 255 ? len : 255) |
      ((buf[a] as number) << 8) |
      ((buf[a + 1] as number) << 16) |
      ((buf[a + 2] as number) << 24)
    );
  if (len === 2) return 2 | ((buf[a] as number) << 8) | ((buf[a + 1] as number) << 16);
  return len === 1 ? 1 | ((buf[a] as number) << 8) : 0;
}

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

/** A `TextCounter`'s keys and hash table, without counts (see `TextCounter.frozen`). */
export interface FrozenTexts {
  arena: Uint8Array;
  keyStart: Int32Array;
  keyEnd: Int32Array;
  hashes: Int32Array;
  table: Int32Array;
  size: number;
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
  /** `signature` of each of the first SMALL_COUNTER keys. */
  private readonly sigs = new Int32Array(SMALL_COUNTER);

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
    if (this.overflow) return -1;
    return this.insert(buf, a, b, this.lastHash, this.lastSlot, 1);
  }

  /** `addBytes` of `count` occurrences at once (merging counters in file order). */
  addCounted(buf: Uint8Array, a: number, b: number, count: number): number {
    const k = this.find(buf, a, b);
    if (k >= 0) {
      this.counts[k] = (this.counts[k] as number) + count;
      return k;
    }
    return this.insert(buf, a, b, this.lastHash, this.lastSlot, count);
  }

  countOf(k: number): number {
    return this.counts[k] as number;
  }

  /** Adds `count` to key `k`'s count. */
  addCountAt(k: number, count: number): void {
    this.counts[k] = (this.counts[k] as number) + count;
  }

  /** The counter's state, to look keys up in another thread (`fromFrozen`) once it admits no more keys. */
  frozen(): FrozenTexts {
    return {
      arena: new Uint8Array(this.arena.subarray(0, this.arenaUsed)),
      keyStart: this.keyStart.slice(0, this.size),
      keyEnd: this.keyEnd.slice(0, this.size),
      hashes: this.hashes.slice(0, this.size),
      table: this.table.slice(),
      size: this.size,
    };
  }

  /** A read-only counter over `frozen()` state (counts are zero: the caller counts per key). */
  static fromFrozen(f: FrozenTexts): TextCounter {
    const t = new TextCounter(f.size, Infinity);
    t.overflow = true;
    t.size = f.size;
    t.arena = Buffer.from(f.arena.buffer as ArrayBuffer, f.arena.byteOffset, f.arena.byteLength);
    t.arenaUsed = f.arena.byteLength;
    t.keyStart = f.keyStart as Int32Array<ArrayBuffer>;
    t.keyEnd = f.keyEnd as Int32Array<ArrayBuffer>;
    t.hashes = f.hashes as Int32Array<ArrayBuffer>;
    t.table = f.table as Int32Array<ArrayBuffer>;
    t.counts = new Float64Array(f.size);
    for (let k = 0; k < f.size && k < SMALL_COUNTER; k++) {
      t.sigs[k] = signature(t.arena, f.keyStart[k] as number, f.keyEnd[k] as number);
    }
    return t;
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
    const size = this.size;
    if (size <= SMALL_COUNTER) {
      // Few keys (codes, units, flags): comparing signatures (length and first bytes), then the rest of the
      // bytes, beats hashing every cell.
      const sig = signature(buf, a, b);
      const sigs = this.sigs;
      for (let k = 0; k < size; k++) {
        if (sigs[k] !== sig) continue;
        if (len0 <= 3) return k;
        const ks = this.keyStart[k] as number;
        if ((this.keyEnd[k] as number) - ks !== len0) continue;
        const arena = this.arena;
        let i = 3;
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
    const arena = this.arena;
    if (len < 64) {
      // A subarray per key (a Buffer object each) cost more than copying short keys by hand.
      let o = this.arenaUsed;
      for (let p = a; p < b; p++) arena[o++] = buf[p] as number;
    } else arena.set(buf.subarray(a, b), this.arenaUsed);
    if (i < SMALL_COUNTER) this.sigs[i] = signature(buf, a, b);
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
