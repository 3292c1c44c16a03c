// Design measurement (not the server's code path): what finding a CSV's field boundaries costs in WebAssembly.
// A SIMD scan (16 bytes per step: compares with ',', '\n' and '"', a bitmask, one store per set bit) writes the
// positions of those bytes; a JS loop turns them into each record's field starts and ends. Both are timed against
// a JS byte loop shaped like the tokenizer's (one compare per byte above the delimiter, quoted fields by indexOf),
// on the same bytes, with the field counts checked equal. Thread CPU seconds from /proc/thread-self/stat. Usage:
// node bench/platform/wasm-scan.mjs [--mb 64] [--rounds 3]  (after `npm run build`: the emitter is packages/ml's)
/* global WebAssembly */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLabs, threadCpuSeconds as threadCpu } from './common.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { FunctionBody, encodeModule, I32, Op, Simd } = await import(
  path.join(root, 'packages/ml/dist/gbdt/wasm/emit.js')
);

const COMMA = 0x2c;
const LF = 0x0a;
const QUOTE = 0x22;
const I32_CTZ = 0x68;
const I32_STORE = 0x36;
const I8X16_BITMASK = 0x64;

/** `scan(length, out)`: writes the positions of ',', '\n' and '"' in memory[0, length) at `out`; returns how many. */
function scanModule(pages) {
  const b = new FunctionBody(2);
  const length = 0;
  const out = 1;
  const i = b.local(I32);
  const mask = b.local(I32);
  const o = b.local(I32);
  b.get(out).set(o);
  b.block().loop();
  b.get(i).get(length).op(Op.i32GeU).brIf(1);
  b.get(i).simdMem(Simd.v128Load, 0, 0).splat8(COMMA).simd(Simd.i8x16Eq);
  b.get(i).simdMem(Simd.v128Load, 0, 0).splat8(LF).simd(Simd.i8x16Eq).simd(Simd.v128Or);
  b.get(i).simdMem(Simd.v128Load, 0, 0).splat8(QUOTE).simd(Simd.i8x16Eq).simd(Simd.v128Or);
  b.simd(I8X16_BITMASK).set(mask);
  b.block().loop();
  b.get(mask).op(Op.i32Eqz).brIf(1);
  b.get(o).get(i).get(mask).op(I32_CTZ).op(Op.i32Add).mem(I32_STORE, 2, 0);
  b.get(o).i32(4).op(Op.i32Add).set(o);
  b.get(mask).get(mask).i32(1).op(Op.i32Sub).op(Op.i32And).set(mask);
  b.br(0).end().end();
  b.get(i).i32(16).op(Op.i32Add).set(i);
  b.br(0).end().end();
  b.get(o).get(out).op(Op.i32Sub).i32(2).op(Op.i32ShrU);
  return encodeModule(pages, [{ name: 'scan', params: [I32, I32], results: [I32], body: b }]);
}

/** Records and fields of `s` by a byte loop like the tokenizer's. */
function byteLoop(s) {
  const starts = new Int32Array(64);
  const ends = new Int32Array(64);
  let rows = 0;
  let fields = 0;
  let p = 0;
  while (p < s.length) {
    let nf = 0;
    for (;;) {
      const a = p;
      if (s[p] === QUOTE) {
        const q = s.indexOf(QUOTE, p + 1);
        starts[nf] = a + 1;
        ends[nf] = q;
        p = q + 1;
      } else {
        while (p < s.length) {
          const c = s[p];
          if (c <= COMMA && (c === COMMA || c === LF)) break;
          p++;
        }
        starts[nf] = a;
        ends[nf] = p;
      }
      nf++;
      if (s[p++] !== COMMA) break;
    }
    rows++;
    fields += nf;
  }
  return { rows, fields, check: starts[0] + ends[0] };
}

/** The same records and fields from the scanned positions. */
function fromPositions(s, pos, count) {
  const starts = new Int32Array(64);
  const ends = new Int32Array(64);
  let rows = 0;
  let fields = 0;
  let k = 0;
  let p = 0;
  while (k < count) {
    let nf = 0;
    for (;;) {
      const a = p;
      let e = pos[k];
      if (e === a && s[a] === QUOTE) {
        // A quoted field ends at the next quote position; delimiters before it are inside the field.
        k++;
        while (s[pos[k]] !== QUOTE) k++;
        starts[nf] = a + 1;
        ends[nf] = pos[k];
        e = pos[++k];
      } else {
        starts[nf] = a;
        ends[nf] = e;
      }
      nf++;
      k++;
      p = e + 1;
      if (s[e] !== COMMA) break;
    }
    rows++;
    fields += nf;
  }
  return { rows, fields, check: starts[0] + ends[0] };
}

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const mb = Number(opt('--mb', 64));
const rounds = Number(opt('--rounds', 3));
const csv = path.join(root, '.bench-data', 'platform', `labs-${mb}mb.csv`);
await generateLabs(csv, mb * 1024 * 1024);
const data = readFileSync(csv);
// Memory: the bytes (and 16 zero bytes after them: no false positions), then room for a position per two bytes.
const out = Math.ceil((data.length + 16) / 16) * 16;
const pages = Math.ceil((out + data.length * 2) / 65536) + 1;
const memory = new WebAssembly.Memory({ initial: pages });
const bytes = new Uint8Array(memory.buffer);
bytes.set(data, 0);
const { instance } = await WebAssembly.instantiate(scanModule(pages), { env: { memory } });
const scan = instance.exports.scan;
const positions = new Int32Array(memory.buffer, out);
const results = [];
for (let r = 0; r < rounds; r++) {
  let t = threadCpu();
  const js = byteLoop(data);
  const jsCpu = threadCpu() - t;
  t = threadCpu();
  const count = scan(data.length, out);
  const scanCpu = threadCpu() - t;
  t = threadCpu();
  const wasm = fromPositions(bytes, positions, count);
  const rowsCpu = threadCpu() - t;
  results.push({
    byteLoopCpu: jsCpu,
    scanCpu,
    positionsToRowsCpu: rowsCpu,
    positions: count,
    rows: js.rows,
    same: js.rows === wasm.rows && js.fields === wasm.fields && js.check === wasm.check,
  });
}
console.log(JSON.stringify({ file: csv, results }, null, 2));
