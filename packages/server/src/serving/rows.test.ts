// Prediction log rows: each entry's features and explanation serialized and digested as before, whether entries
// share their objects (one CDS call's deployments) or not.
import { describe, expect, it } from 'vitest';
import { inputsDigest } from './predict.js';
import { PredictionService, type LogEntry } from './service.js';

// rowsFor touches neither the store, the audit log nor the scorers.
const service = new PredictionService(null as never, null as never, null as never);

const entry = (features: LogEntry['features'], explanation: unknown, deploymentId: string): LogEntry => ({
  projectId: 'p',
  modelVersionId: 'mv',
  deploymentId,
  source: 'cds',
  caller: 'ehr',
  features,
  output: { deployment: deploymentId },
  explanation,
});

describe('PredictionService.rowsFor', () => {
  it('writes shared and separate feature objects alike, each with its own digest and output', () => {
    const shared = { age: 64, sex: 'F', bmi: null, hba1c: 7.5 };
    const contributions = [{ feature: 'hba1c', value: 7.5, contribution: 0.25 }];
    const other = { age: 64, sex: 'M', bmi: 31.2, hba1c: 7.5 };
    const nested = { age: 64, note: { a: 1, b: [2, 3] } };
    const rows = service.rowsFor([
      entry(shared, contributions, 'a'),
      entry(shared, contributions, 'b'),
      entry(other, null, 'c'),
      entry({ ...shared }, [...contributions], 'd'),
      entry(nested, undefined, 'e'),
    ]);
    const features = [shared, shared, other, shared, nested];
    const explanations = [contributions, contributions, null, contributions, undefined];
    rows.forEach((r, i) => {
      expect(r.inputs_digest).toBe(inputsDigest(features[i]!));
      expect(r.features_json).toBe(JSON.stringify(features[i]));
      expect(r.explanation_json).toBe(explanations[i] == null ? null : JSON.stringify(explanations[i]));
      expect(r.output_json).toBe(JSON.stringify({ deployment: 'abcde'[i] }));
    });
    expect(rows[2]!.inputs_digest).not.toBe(rows[0]!.inputs_digest);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });
});
