import { describe, expect, test } from 'vitest';
import { Frame } from './frame.js';
import { GbdtModel } from './gbdt/model.js';
import { trainGbdt } from './gbdt/train.js';
import { loadModel } from './model.js';

describe('loadModel', () => {
  test('dispatches a GBDT model by its format field', async () => {
    const frame = Frame.fromColumns({ x: [1, 2, 3, 4, 5, 6] });
    const model = await trainGbdt(frame, [0, 0, 0, 1, 1, 1], { objective: 'binary', numTrees: 3, minDataInLeaf: 1 });
    const loaded = loadModel(JSON.parse(JSON.stringify(model.toJSON())));
    expect(loaded).toBeInstanceOf(GbdtModel);
    expect(Array.from(loaded.predict(frame))).toEqual(Array.from(model.predict(frame)));
  });

  test('refuses what is not a model, naming the problem', () => {
    expect(() => loadModel('{"format": "ichigen.gbdt", "formatVer')).toThrow(
      expect.objectContaining({ code: 'MODEL_CORRUPT' }),
    );
    expect(() => loadModel([1, 2])).toThrow(expect.objectContaining({ code: 'MODEL_CORRUPT' }));
    expect(() => loadModel({ format: 'sklearn.pickle' })).toThrow(/unknown model format "sklearn.pickle"/);
    expect(() => loadModel({})).toThrow(expect.objectContaining({ code: 'MODEL_FORMAT' }));
  });
});
