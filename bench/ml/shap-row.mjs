// TreeSHAP cost per row, as the serving path pays it: a 100-tree GBDT (31 leaves, maxDepth 6) trained on 5,000
// synthetic rows with 6 features (2 categorical; missing values in two numeric and one categorical column), then
// `model.explain` on single-row frames (256 different rows, round robin) and on 8-row frames. Prints CPU µs per row
// (process.cpuUsage) as one JSON line.
//
// Needs `npm run build` (or `npx tsc -b packages/ml`). Usage: node bench/ml/shap-row.mjs [--dist DIR]
// (--dist: another build of packages/ml, e.g. a copy from before a change; alternate builds run by run to compare).
import { fileURLToPath, pathToFileURL } from 'node:url';

const k = process.argv.indexOf('--dist');
const dist = k >= 0 ? process.argv[k + 1] : fileURLToPath(new URL('../../packages/ml/dist', import.meta.url));
const { Frame, trainGbdt } = await import(pathToFileURL(`${dist}/index.js`).href);

const N = 5000;
let s = 12345;
const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
const cols = {
  a: new Float64Array(N),
  b: new Float64Array(N),
  d: new Float64Array(N),
  e: new Float64Array(N),
  c1: [],
  c2: [],
};
const y = new Float64Array(N);
const cats1 = ['u', 'v', 'w', 'x', 'y', 'z', 'q', 'r'];
const cats2 = ['k', 'l', 'm', 'n', 'o'];
for (let i = 0; i < N; i++) {
  cols.a[i] = r() < 0.1 ? NaN : r();
  cols.b[i] = r();
  cols.d[i] = r() * 10;
  cols.e[i] = r() < 0.05 ? NaN : r();
  cols.c1.push(cats1[Math.floor(r() * 8)]);
  cols.c2.push(r() < 0.05 ? null : cats2[Math.floor(r() * 5)]);
  const z =
    2 * (cols.a[i] > 0.5 ? 1 : -1) +
    (cols.b[i] * cols.d[i]) / 5 -
    (cols.c1[i] === 'v' || cols.c1[i] === 'y' ? 1.5 : 0) +
    (cols.c2[i] === 'm' ? 1 : 0) +
    Math.sin(cols.e[i] * 6);
  y[i] = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
}
const frame = Frame.fromColumns(cols);
const model = await trainGbdt(frame, y, {
  objective: 'binary',
  numTrees: 100,
  numLeaves: 31,
  maxDepth: 6,
  minDataInLeaf: 5,
  earlyStoppingRounds: 0,
});
const K = 256;
const singles = Array.from({ length: K }, (_, i) => frame.take([i]));
const batch8 = Array.from({ length: K }, (_, i) => frame.take(Array.from({ length: 8 }, (_, j) => (i * 8 + j) % N)));
for (let i = 0; i < 2000; i++) model.explain(singles[i % K]); // warm-up
const ITER = 20000;
let sink = 0;
const t0 = process.cpuUsage();
for (let i = 0; i < ITER; i++) sink += model.explain(singles[i % K]).values[0][0];
const t1 = process.cpuUsage(t0);
const b0 = process.cpuUsage();
for (let i = 0; i < ITER / 8; i++) sink += model.explain(batch8[i % K]).values[0][0];
const b1 = process.cpuUsage(b0);
console.log(
  JSON.stringify({
    dist,
    trees: model.trees.length,
    singleRowCpuUs: (t1.user + t1.system) / ITER,
    batch8CpuUsPerRow: (b1.user + b1.system) / ITER,
    sink,
  }),
);
