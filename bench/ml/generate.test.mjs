// Checks of the benchmark data generator: same seed gives the same bytes, the files have the documented layout, and
// numpy (the anchors' reader) sees the same values as Node. Run: node --test bench/ml/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENERATORS, generate, makeRng } from './generate.mjs';

const TINY = {
  t: {
    higgs: { train: 3000, test: 1000 },
    wide: { train: 300, test: 100 },
    clinical: { train: 20000, test: 1000 },
    linear: { train: 2000, test: 500 },
  },
};

test('the PRNG is deterministic and uniform-looking', () => {
  const a = makeRng(7);
  const b = makeRng(7);
  const c = makeRng(8);
  const xs = Array.from({ length: 10000 }, () => a.uniform());
  assert.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => b.uniform()),
  );
  assert.notEqual(xs[0], c.uniform());
  const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  assert.ok(xs.every((v) => v >= 0 && v < 1));
});

test('two generations of every data set give identical bytes', () => {
  for (const name of Object.keys(GENERATORS)) {
    const one = GENERATORS[name](500, makeRng(1));
    const two = GENERATORS[name](500, makeRng(1));
    assert.deepEqual(Buffer.from(one.x.buffer), Buffer.from(two.x.buffer), name);
    assert.deepEqual(one.y, two.y, name);
  }
});

test('files are column-major float32 with the sizes meta.json states; clinical has ~5 % positives, ~30 % missing', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-gen-'));
  try {
    for (const name of Object.keys(GENERATORS)) {
      const { dir, meta } = generate(name, 't', out, true, TINY);
      const x = readFileSync(join(dir, 'train.x.f32'));
      const y = readFileSync(join(dir, 'train.y.u8'));
      assert.equal(x.byteLength, meta.nTrain * meta.numFeatures * 4);
      assert.equal(y.byteLength, meta.nTrain);
      assert.equal(readFileSync(join(dir, 'test.x.f32')).byteLength, meta.nTest * meta.numFeatures * 4);
      assert.equal(meta.featureNames.length, meta.numFeatures);
      assert.ok(y.every((v) => v === 0 || v === 1));
      // Both classes present in every data set.
      assert.ok(meta.positiveRateTrain > 0.02 && meta.positiveRateTrain < 0.98, `${name} ${meta.positiveRateTrain}`);
    }
    const clinical = JSON.parse(readFileSync(join(out, 't', 'clinical', 'meta.json'), 'utf8'));
    assert.ok(Math.abs(clinical.positiveRateTrain - 0.05) < 0.01, `positives ${clinical.positiveRateTrain}`);
    assert.ok(Math.abs(clinical.missingRateTrain - 0.3) < 0.03, `missing ${clinical.missingRateTrain}`);
    // Column-major: the first column of higgs is lepton_pt (positive), the third lepton_phi (within ±π).
    const higgs = JSON.parse(readFileSync(join(out, 't', 'higgs', 'meta.json'), 'utf8'));
    const hx = new Float32Array(readFileSync(join(out, 't', 'higgs', 'train.x.f32')).buffer.slice(0));
    const n = higgs.nTrain;
    assert.ok(hx.subarray(0, n).every((v) => v > 0));
    assert.ok(hx.subarray(2 * n, 3 * n).every((v) => Math.abs(v) <= Math.PI + 1e-6));
    // numpy reads the same values, when the anchors' interpreter has it.
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, numpy as np; d = sys.argv[1]; x = np.fromfile(d + "/train.x.f32", dtype="<f4")' +
          '.reshape(28, int(sys.argv[2])).T; print(repr(float(x[5, 0])), repr(float(x[7, 27])))',
        join(out, 't', 'higgs'),
        String(n),
      ],
      { encoding: 'utf8' },
    );
    if (py.status === 0) {
      const [a, b] = py.stdout.trim().split(' ').map(Number);
      assert.equal(a, hx[0 * n + 5]);
      assert.equal(b, hx[27 * n + 7]);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
