// A small WebAssembly binary emitter: just the sections, types and instructions the prediction kernels need,
// hand-encoded (opcodes from the WebAssembly 1.0 core specification, integers as LEB128). No toolchain, no dependency.

/** Value types. */
export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** SIMD opcodes (after the 0xfd prefix; WebAssembly 2.0 fixed-width SIMD). */
export const Simd = {
  v128Load: 0x00,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i8x16Eq: 0x23,
  i8x16GtS: 0x27,
  i8x16GtU: 0x28,
  v128And: 0x4e,
  v128Or: 0x50,
  i8x16Add: 0x6e,
  i8x16Sub: 0x71,
} as const;

/** Opcodes used by the kernels (core spec, section 5.4). */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  f64Load: 0x2b,
  i32Load8U: 0x2d,
  i32Load8S: 0x2c,
  i32Load16U: 0x2f,
  f64Store: 0x39,
  i32Store8: 0x3a,
  i32Const: 0x41,
  f64Const: 0x44,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32Xor: 0x73,
  i32GtS: 0x4a,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  f64Lt: 0x63,
  f64Gt: 0x64,
  f64Ne: 0x62,
  f64Eq: 0x61,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32ShrU: 0x76,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  i32TruncSatF64S: 0xfc02,
} as const;

/** Block type "no result". */
export const VOID = 0x40;

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(n: number, out: number[] = []): number[] {
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number, out: number[] = []): number[] {
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** The body of one function: its instructions, appended by the helpers below into a growing byte buffer. */
export class FunctionBody {
  private buf = new Uint8Array(1024);
  private len = 0;
  /** Types of the locals declared after the parameters, in index order. */
  private readonly localTypes: number[] = [];

  constructor(private readonly numParams: number) {}

  /** The instructions so far. */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Declares a local of `type` and returns its index. */
  local(type: number): number {
    this.localTypes.push(type);
    return this.numParams + this.localTypes.length - 1;
  }

  private byte(b: number): void {
    if (this.len === this.buf.length) {
      const bigger = new Uint8Array(2 * this.buf.length);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len++] = b;
  }

  /** Unsigned LEB128 of n, as uleb(). */
  private u(n: number): void {
    let v = n >>> 0;
    do {
      const byte = v & 0x7f;
      v >>>= 7;
      this.byte(v !== 0 ? byte | 0x80 : byte);
    } while (v !== 0);
  }

  /** Raw opcode (with its 0xfc prefix where it has one). */
  op(code: number): this {
    if (code > 0xff) {
      this.byte(code >> 8);
      this.u(code & 0xff);
    } else this.byte(code);
    return this;
  }

  get(i: number): this {
    this.byte(Op.localGet);
    this.u(i);
    return this;
  }

  set(i: number): this {
    this.byte(Op.localSet);
    this.u(i);
    return this;
  }

  tee(i: number): this {
    this.byte(Op.localTee);
    this.u(i);
    return this;
  }

  i32(v: number): this {
    this.byte(Op.i32Const);
    for (const b of sleb(v)) this.byte(b);
    return this;
  }

  f64(v: number): this {
    this.byte(Op.f64Const);
    for (const b of new Uint8Array(Float64Array.of(v).buffer)) this.byte(b);
    return this;
  }

  /** A memory access: `code` with alignment 2^alignLog2 and a constant byte offset added to the address. */
  mem(code: number, alignLog2: number, offset: number): this {
    this.byte(code);
    this.u(alignLog2);
    this.u(offset);
    return this;
  }

  /** A SIMD instruction (0xfd prefix). */
  simd(code: number): this {
    this.byte(0xfd);
    this.u(code);
    return this;
  }

  /** A SIMD memory access with alignment 2^alignLog2 and a constant byte offset. */
  simdMem(code: number, alignLog2: number, offset: number): this {
    this.simd(code);
    this.u(alignLog2);
    this.u(offset);
    return this;
  }

  /** v128.const with every one of the 16 bytes equal to `byte`. */
  splat8(byte: number): this {
    this.simd(Simd.v128Const);
    for (let k = 0; k < 16; k++) this.byte(byte & 0xff);
    return this;
  }

  block(): this {
    this.byte(Op.block);
    this.byte(VOID);
    return this;
  }

  loop(): this {
    this.byte(Op.loop);
    this.byte(VOID);
    return this;
  }

  /** Runs what follows (up to else or end) if the i32 on the stack is not zero. */
  if(): this {
    this.byte(Op.if);
    this.byte(VOID);
    return this;
  }

  else(): this {
    this.byte(Op.else);
    return this;
  }

  /** Branch to the enclosing block/loop `depth` levels out (0 = innermost). */
  br(depth: number): this {
    this.byte(Op.br);
    this.u(depth);
    return this;
  }

  brIf(depth: number): this {
    this.byte(Op.brIf);
    this.u(depth);
    return this;
  }

  end(): this {
    this.byte(Op.end);
    return this;
  }

  /** The encoded function: locals (run-length by type) and code, size-prefixed, as the code section wants it. */
  encode(): Uint8Array {
    const groups: [number, number][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const locals: number[] = uleb(groups.length);
    for (const [count, type] of groups) locals.push(...uleb(count), type);
    const size = locals.length + this.bytes.length + 1;
    return concat([uleb(size), locals, this.bytes, [Op.end]]);
  }
}

export interface FunctionDef {
  readonly name: string;
  readonly params: readonly number[];
  readonly results: readonly number[];
  readonly body: FunctionBody;
}

/** The parts one after the other in one array (Uint8Array.set copies a number[] or a Uint8Array quickly). */
function concat(parts: readonly (readonly number[] | Uint8Array)[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function section(id: number, content: readonly number[] | Uint8Array): Uint8Array {
  return concat([[id], uleb(content.length), content]);
}

function name(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...uleb(b.length), ...b];
}

/**
 * A module that imports one memory (`env.memory`, at least `minPages` 64 KiB pages) and exports `functions` by name,
 * each with its own function type.
 */
export function encodeModule(minPages: number, functions: readonly FunctionDef[]): Uint8Array {
  const types: number[] = uleb(functions.length);
  for (const f of functions) {
    types.push(0x60, ...uleb(f.params.length), ...f.params, ...uleb(f.results.length), ...f.results);
  }
  const imports = [...uleb(1), ...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)];
  const funcs: number[] = uleb(functions.length);
  functions.forEach((_, i) => funcs.push(...uleb(i)));
  const exports: number[] = uleb(functions.length);
  functions.forEach((f, i) => exports.push(...name(f.name), 0x00, ...uleb(i)));
  const code = concat([uleb(functions.length), ...functions.map((f) => f.body.encode())]);
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return concat([
    header,
    section(1, types),
    section(2, imports),
    section(3, funcs),
    section(7, exports),
    section(10, code),
  ]);
}
