// External models: an ONNX file trained in Jupyter, registered with the dataset version and columns it was trained
// on, evaluated by the platform itself on that version's patient-grouped holdout — like any other model version.
import type { Table } from 'apache-arrow';
import { groupedStratifiedHoldout } from '@ichigen/ml';
import { z } from 'zod';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import { AppError, badRequest, notFound } from '../errors.js';
import type { Platform } from '../platform.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import { readArrowTable } from '../training/data.js';
import type { PolicySpec } from '../training/policy.js';
import '../training/tables.js';
import { nowIso } from '../util.js';
import { dateRangesOf, limitationsFor, renderCardMarkdown, type ModelCard } from './card.js';
import { evaluateHoldout } from './evaluation.js';
import { openOnnx } from './onnx-session.js';

export const externalSchema = z
  .object({
    dataset: z.string().max(300),
    version: z.coerce.number().int().positive(),
    /** Input columns in the order the model expects them (numeric columns only). */
    columns: z
      .string()
      .max(100_000)
      .transform((s) =>
        s
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      ),
    target: z.string().max(256).optional(),
    positive: z.string().max(256).optional(),
    group: z.string().max(256).optional(),
    holdoutFraction: z.coerce.number().gt(0).lt(0.9).optional(),
    seed: z.coerce.number().int().min(0).optional(),
    description: z.string().max(5000).optional(),
    framework: z.string().max(100).optional(),
  })
  .strict();

export type ExternalInput = z.infer<typeof externalSchema>;

const cellNumber = (v: unknown): number => {
  if (v === null || v === undefined) return NaN;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  return NaN;
};

export async function registerExternalModel(
  platform: Platform,
  p: Principal,
  a: Access,
  modelName: string,
  bytes: Buffer,
  q: ExternalInput,
  client: string,
) {
  validateName('model', modelName);
  const db = platform.store.db;
  const dv = await db
    .selectFrom('dataset_versions')
    .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
    .selectAll('dataset_versions')
    .select(['datasets.name as dataset_name', 'datasets.id as dataset_id'])
    .where('datasets.project_id', '=', a.project.id)
    .where('datasets.name', '=', q.dataset)
    .where('dataset_versions.version', '=', q.version)
    .executeTakeFirst();
  if (!dv)
    throw notFound('VERSION_NOT_FOUND', `no dataset version ${printable(q.dataset)}@${q.version} in ${a.project.slug}`);
  // Holdout settings: explicit, else the dataset's training policy, so external and in-platform models meet the same patients.
  const pol = await db
    .selectFrom('training_policies')
    .select('spec_json')
    .where('dataset_id', '=', dv.dataset_id)
    .executeTakeFirst();
  const spec = pol ? (JSON.parse(pol.spec_json) as PolicySpec) : undefined;
  const target = q.target ?? spec?.target;
  if (!target)
    throw badRequest('TARGET_REQUIRED', 'name the outcome column (target), or set a training policy on the dataset');
  const positive = q.positive ?? spec?.positive ?? '1';
  const group = q.group ?? spec?.group;
  const fraction = q.holdoutFraction ?? spec?.holdoutFraction ?? 0.2;
  const seed = q.seed ?? spec?.seed ?? 42;
  if (q.columns.length === 0)
    throw badRequest('COLUMNS_REQUIRED', "list the model's input columns in order (columns=a,b,c)");

  const scorer = await openOnnx(bytes);
  if (scorer.width !== null && scorer.width !== q.columns.length) {
    throw new AppError(
      'ONNX_INPUT_MISMATCH',
      400,
      `the model's input ${scorer.inputName} takes ${scorer.width} columns but ${q.columns.length} were named (${q.columns.join(', ')})`,
    );
  }
  const manifest = await platform.datasets.manifest(dv.manifest_digest);
  const table: Table = await readArrowTable(platform.objects, manifest);
  const names = table.schema.fields.map((f) => f.name);
  const missing = [...q.columns, target, ...(group ? [group] : [])].filter((c) => !names.includes(c));
  if (missing.length)
    throw new AppError(
      'ONNX_INPUT_MISMATCH',
      400,
      `dataset version ${q.dataset}@${q.version} has no column(s) ${missing.join(', ')}`,
    );
  const types = new Map((manifest.tabular?.columns ?? []).map((c) => [c.name, c.type]));
  const nonNumeric = q.columns.filter((c) => !['integer', 'number', 'boolean'].includes(types.get(c) ?? ''));
  if (nonNumeric.length) {
    throw new AppError(
      'ONNX_INPUT_MISMATCH',
      400,
      `column(s) ${nonNumeric.join(', ')} are not numeric; an external model must take numeric inputs (encode categories in the exported pipeline)`,
    );
  }

  const tcol = table.getChild(target)!;
  const gcol = group ? table.getChild(group) : null;
  const kept: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const v = tcol.get(i);
    if (v === null || v === undefined || v === '') continue;
    kept.push(i);
    labels.push(String(typeof v === 'bigint' ? Number(v) : v) === positive ? 1 : 0);
  }
  const groups = kept.map((i) => (gcol ? String(gcol.get(i)) : `row-${i}`));
  const split = groupedStratifiedHoldout(groups, labels, fraction, seed);
  const test = Array.from(split.test, (k) => kept[k]!);
  const y = Float64Array.from(split.test, (k) => labels[k]!);
  if (new Set(y).size < 2) throw new AppError('HOLDOUT_SINGLE_CLASS', 422, 'the holdout has only one outcome class');
  const F = q.columns.length;
  const x = new Float32Array(test.length * F);
  const cols = q.columns.map((c) => table.getChild(c)!);
  for (let r = 0; r < test.length; r++) for (let j = 0; j < F; j++) x[r * F + j] = cellNumber(cols[j]!.get(test[r]!));
  let scores: Float64Array;
  try {
    scores = await scorer.predictProba(x, test.length);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError(
      'ONNX_INPUT_MISMATCH',
      400,
      `the model failed on the dataset's rows: ${(e as Error).message.split('\n')[0]!.slice(0, 300)}`,
    );
  }
  for (const s of scores) {
    if (!(s >= 0 && s <= 1))
      throw new AppError(
        'ONNX_OUTPUT_MISMATCH',
        400,
        `the model output ${s} is not a probability; export the probability output (zipmap=False)`,
      );
  }
  const subgroupNames = names.filter((c) => /^(sex|gender|性別|age|age_years|年齢)$/i.test(c));
  const metrics = evaluateHoldout(y, scores, {
    threshold: spec?.threshold ?? { method: 'youden' },
    subgroups: subgroupNames.map((name) => {
      const c = table.getChild(name)!;
      return {
        name,
        values: test.map((i) => {
          const v = c.get(i);
          return v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : String(v);
        }),
      };
    }),
    importance: [],
  });
  const onnxDigest = await platform.registry.putArtifact(bytes);
  const card: Omit<ModelCard, 'version'> = {
    model: modelName,
    createdAt: nowIso(),
    intendedUse: q.description ?? spec?.description ?? '',
    data: {
      project: a.project.slug,
      dataset: dv.dataset_name,
      datasetVersion: Number(dv.version),
      datasetDigest: dv.content_digest,
      datasetCreatedAt: dv.created_at,
      dateRanges: dateRangesOf(dv.schema_json),
      rows: table.numRows,
      trainingRows: kept.length - test.length,
      holdoutRows: test.length,
      patients: group ? new Set(groups).size : null,
      holdoutPatients: group ? new Set(Array.from(split.test, (k) => groups[k]!)).size : null,
      prevalence: labels.reduce((s, v) => s + v, 0) / Math.max(labels.length, 1),
      droppedMissingTarget: table.numRows - kept.length,
      target,
      positive,
      features: q.columns,
    },
    method: {
      source: 'external',
      algorithm: `onnx${q.framework ? ` (${q.framework})` : ''}`,
      engineVersion: 'onnxruntime-node',
      seed: null,
      params: {},
      search: null,
    },
    metrics,
    limitations: limitationsFor(metrics, [
      'Trained outside Ichigen: the platform cannot verify that the holdout patients were kept out of its training data.',
    ]),
    comparison: null,
  };
  const reg = await platform.registry.register({
    projectId: a.project.id,
    projectSlug: a.project.slug,
    modelName,
    source: 'external',
    datasetVersionId: dv.id,
    datasetDigest: dv.content_digest,
    policyId: null,
    studyId: null,
    engineVersion: 'onnxruntime-node',
    algorithm: card.method.algorithm,
    seed: null,
    params: {},
    features: q.columns,
    modelDigest: null,
    onnxDigest,
    threshold: metrics.threshold.value,
    metrics,
    card,
    renderCard: renderCardMarkdown,
    trainedBy: p.name,
    responsible: [p.name],
  });
  void client;
  return { model: modelName, version: reg.version, auc: metrics.auc, aucCi: metrics.aucCi };
}
