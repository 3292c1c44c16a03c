// ONNX models (imported from Jupyter: scikit-learn via skl2onnx, PyTorch, TensorFlow) run through onnxruntime-node.
// One float32 [N, F] input in the registered column order; the positive-class probability is read from the first
// tensor output shaped [N, 2] (column 1), [N, 1] or [N]. Sessions are cached by artifact digest.
import * as ort from 'onnxruntime-node';
import { AppError } from '../errors.js';

export interface OnnxScorer {
  inputName: string;
  width: number | null;
  outputName: string;
  predictProba(rows: Float32Array, n: number): Promise<Float64Array>;
}

const invalid = (message: string) => new AppError('ONNX_INVALID', 400, message);

export async function openOnnx(bytes: Uint8Array): Promise<OnnxScorer> {
  if (bytes.length < 16) throw invalid('the file is too small to be an ONNX model');
  if (bytes[0] === 0x80 && (bytes[1] ?? 0) <= 5)
    throw invalid(
      'this looks like a Python pickle; Ichigen never loads pickles — export the model to ONNX (skl2onnx, torch.onnx, tf2onnx)',
    );
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  } catch (e) {
    throw invalid(
      `not a loadable ONNX model: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300)}`,
    );
  }
  const inputs = session.inputMetadata;
  if (inputs.length !== 1) {
    throw new AppError(
      'ONNX_INPUT_MISMATCH',
      400,
      `the model has ${inputs.length} inputs (${session.inputNames.join(', ')}); Ichigen needs one float input [N, F] with the columns in order`,
    );
  }
  const inp = inputs[0]!;
  if (!inp.isTensor || inp.type !== 'float32') {
    throw new AppError('ONNX_INPUT_MISMATCH', 400, `input ${inp.name} must be a float32 tensor [N, F]`);
  }
  const shape = inp.shape;
  const last = shape.length === 2 ? shape[1] : undefined;
  const width = typeof last === 'number' && last > 0 ? last : null;
  const outIdx = session.outputMetadata.findIndex((o) => o.isTensor && o.type === 'float32');
  if (outIdx < 0) {
    throw new AppError(
      'ONNX_OUTPUT_MISMATCH',
      400,
      'the model has no float tensor output for probabilities (export scikit-learn classifiers with zipmap=False)',
    );
  }
  const outputName = session.outputNames[outIdx]!;
  return {
    inputName: inp.name,
    width,
    outputName,
    async predictProba(rows: Float32Array, n: number) {
      const f = rows.length / Math.max(n, 1);
      const out = await session.run({ [inp.name]: new ort.Tensor('float32', rows, [n, f]) }, [outputName]);
      const t = out[outputName]!;
      const data = t.data as Float32Array;
      const dims = t.dims;
      const p = new Float64Array(n);
      if (dims.length === 2 && dims[1] === 2) for (let i = 0; i < n; i++) p[i] = data[2 * i + 1]!;
      else if ((dims.length === 2 && dims[1] === 1) || dims.length === 1) for (let i = 0; i < n; i++) p[i] = data[i]!;
      else
        throw new AppError(
          'ONNX_OUTPUT_MISMATCH',
          400,
          `output ${outputName} has shape [${dims.join(', ')}]; expected [N, 2], [N, 1] or [N]`,
        );
      return p;
    },
  };
}

export class OnnxSessionCache {
  private readonly sessions = new Map<string, Promise<OnnxScorer>>();

  get(digest: string, load: () => Promise<Uint8Array>): Promise<OnnxScorer> {
    let s = this.sessions.get(digest);
    if (!s) {
      s = load().then(openOnnx);
      this.sessions.set(digest, s);
      s.catch(() => this.sessions.delete(digest));
    }
    return s;
  }
}
