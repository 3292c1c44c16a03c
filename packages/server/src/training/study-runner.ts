// The `study.run` job: load the dataset version, split off a patient-grouped holdout, search hyperparameters with
// grouped CV in worker threads, refit the best configuration, evaluate it once on the holdout, and register a
// candidate model version with its card and lineage. Re-running after a crash starts over and registers at most once.
import {
  ENGINE_VERSION,
  confirmFinalists,
  defaultSearchSpace,
  groupedStratifiedHoldout,
  modelToOnnx,
  overrideSpace,
  runStudy,
  trainGbdt,
  trainLogistic,
  trialPool,
  type Finalist,
  type Frame,
  type GbdtModel,
  type LogisticModel,
  type SearchSpace,
  type SpaceOverrides,
  type TrialRecord,
} from '@ichigen/ml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { defineHandler } from '../jobs/handlers.js';
import { JobCancelledError, NonRetryableError, type JobHandler } from '../jobs/worker.js';
import { addEdge } from '../lineage/lineage.js';
import { dateRangesOf, limitationsFor, renderCardMarkdown, type ModelCard } from '../models/card.js';
import { compareOnHoldout, evaluateHoldout, type ComparisonResult, type HoldoutMetrics } from '../models/evaluation.js';
import type { Platform } from '../platform.js';
import { nowIso } from '../util.js';
import { prepareStudyData, readArrowTable, studyInputError } from './data.js';
import {
  DEFAULT_FOLDS,
  DEFAULT_PARALLEL_TRIALS,
  DEFAULT_SEARCH_ROWS,
  effectiveFolds,
  type PolicySpec,
} from './policy.js';
import './tables.js';

export const studyPayload = z.object({ studyId: z.string().min(1).max(64) }).strict();

type Fitted = GbdtModel | LogisticModel;

const take = (xs: ArrayLike<number>, idx: ArrayLike<number>) =>
  Float64Array.from({ length: idx.length }, (_, i) => xs[idx[i]!]!);

/** With a search sample, this many of the best configurations are cross-validated again on every training row. */
export const FINALISTS = 2;

export function studyHandler(platform: Platform): JobHandler {
  return defineHandler(studyPayload, async ({ studyId }, _job, ctx) => {
    const startedAt = Date.now();
    // CPU time of the process (every thread: the trial workers too) at each phase boundary, for the report.
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const cpuAt: number[] = [cpu()];
    const db = platform.store.db;
    const study = await db.selectFrom('studies').selectAll().where('id', '=', studyId).executeTakeFirst();
    if (!study) throw new NonRetryableError(`study ${studyId} does not exist`);
    if (['succeeded', 'failed', 'cancelled'].includes(study.status)) return { status: study.status };
    const spec = JSON.parse(study.spec_json) as PolicySpec;
    const project = await db
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', study.project_id)
      .executeTakeFirstOrThrow();
    const setStudy = (
      patch: Partial<{
        status: string;
        error: string | null;
        started_at: string;
        finished_at: string;
        trials_done: number;
        best_value: number | null;
        best_trial: number | null;
        report_json: string;
        model_version_id: string;
      }>,
    ) => db.updateTable('studies').set(patch).where('id', '=', studyId).execute();

    // A previous attempt (a killed worker) may have left trials: start the search over, deterministically.
    await db.deleteFrom('trials').where('study_id', '=', studyId).execute();
    await setStudy({
      status: 'running',
      error: null,
      started_at: nowIso(),
      trials_done: 0,
      best_value: null,
      best_trial: null,
    });
    try {
      // The policy's number, not the machine's cores: the trials of a seed depend on it (see parallelTrials).
      const parallel = spec.parallelTrials ?? DEFAULT_PARALLEL_TRIALS;
      // Checked before any data is read: a policy set where more was allowed does not get past this server's limit.
      if (parallel > platform.config.maxParallelTrials) {
        throw studyInputError(
          'PARALLEL_TRIALS_LIMIT',
          `the policy runs ${parallel} trials at once; this server allows ${platform.config.maxParallelTrials} (maxParallelTrials)`,
        );
      }
      const dv = await db
        .selectFrom('dataset_versions')
        .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
        .selectAll('dataset_versions')
        .select(['datasets.name as dataset_name'])
        .where('dataset_versions.id', '=', study.dataset_version_id)
        .executeTakeFirstOrThrow();
      const manifest = await platform.datasets.manifest(dv.manifest_digest);
      const table = await readArrowTable(platform.objects, manifest);
      const data = prepareStudyData(table, manifest, spec, Math.max(20, (spec.folds ?? DEFAULT_FOLDS) * 4));

      // Patient-grouped, stratified holdout that the search never sees.
      const split = groupedStratifiedHoldout(data.groups, data.labels, spec.holdoutFraction, spec.seed);
      const trainIdx = split.train;
      const testIdx = split.test;
      const trainLabels = take(data.labels, trainIdx);
      const testLabels = take(data.labels, testIdx);
      if (new Set(testLabels).size < 2 || new Set(trainLabels).size < 2) {
        throw studyInputError(
          'HOLDOUT_SINGLE_CLASS',
          'the holdout or training split has only one outcome class; add data or lower holdoutFraction',
        );
      }
      const trainFrame = data.frame.take(trainIdx);
      const testFrame = data.frame.take(testIdx);
      const trainGroups = Array.from(trainIdx, (i) => data.groups[i]!);
      const folds = effectiveFolds(spec, trainIdx.length);
      const searchRows = spec.searchRows ?? DEFAULT_SEARCH_ROWS;
      const tLoaded = Date.now();
      cpuAt.push(cpu());

      const pool = await trialPool({
        frame: trainFrame,
        labels: trainLabels,
        groups: trainGroups,
        folds,
        seed: spec.seed,
        size: parallel,
        ...(searchRows < trainIdx.length ? { searchRows } : {}),
      });
      const sampled = pool.searchRows < trainIdx.length;
      // The space is sized by the cohort the final model trains on (a large cohort gets the large-data space even
      // when its search runs on a sample).
      let space: SearchSpace = defaultSearchSpace({ numRows: trainIdx.length, algorithms: spec.algorithms });
      if (spec.searchSpace) space = overrideSpace(space, spec.searchSpace as SpaceOverrides);
      let writes = Promise.resolve();
      let done = 0;
      let best: { value: number; number: number } | null = null;
      const onTrial = (t: TrialRecord) => {
        done++;
        if (t.state === 'complete' && t.value !== null && (!best || t.value > best.value))
          best = { value: t.value, number: t.number };
        const snapshot = { done, best };
        writes = writes.then(async () => {
          await db
            .insertInto('trials')
            .values({
              study_id: studyId,
              number: t.number,
              algorithm: String(t.params.algorithm ?? 'gbdt'),
              params_json: JSON.stringify(t.params),
              state: t.state,
              value: t.value,
              folds_json: JSON.stringify({ metrics: t.folds, intermediate: t.intermediate, ...(t.attrs ?? {}) }),
              duration_ms: Math.round(t.durationMs),
              error: t.error ?? null,
              finished_at: nowIso(),
            })
            .execute();
          await setStudy({
            trials_done: snapshot.done,
            best_value: snapshot.best?.value ?? null,
            best_trial: snapshot.best?.number ?? null,
          });
          await ctx.progress({
            trialsDone: snapshot.done,
            trials: spec.trials,
            bestValue: snapshot.best?.value ?? null,
            metric: spec.metric,
          });
        });
      };
      let result;
      let finalists: Finalist[] = [];
      const tSearch = Date.now();
      let tSearched = tSearch;
      let tConfirmed = tSearch;
      try {
        // The budget counts from the start of the study (loading the data included).
        const timeoutMs = spec.timeoutMinutes
          ? Math.max(0, spec.timeoutMinutes * 60_000 - (Date.now() - startedAt))
          : null;
        const maxTrees = space.algorithm?.type === 'branch' ? space.algorithm.branches.gbdt?.numTrees : undefined;
        result = await runStudy({
          space,
          objective: pool.objective,
          nTrials: spec.trials,
          ...(timeoutMs !== null ? { timeoutMs } : {}),
          direction: 'maximize',
          seed: spec.seed,
          concurrency: parallel,
          signal: ctx.signal,
          onTrial,
          ...(maxTrees?.type === 'const' && typeof maxTrees.value === 'number' ? { maxStep: maxTrees.value } : {}),
        });
        tSearched = tConfirmed = Date.now();
        cpuAt.push(cpu());
        if (sampled && !ctx.signal.aborted && result.stoppedBy !== 'abort' && result.best) {
          // The search ran on a sample: its best configurations are cross-validated again on every training row.
          finalists = await confirmFinalists(pool, result.trials, {
            top: FINALISTS,
            seed: spec.seed,
            signal: ctx.signal,
          });
          tConfirmed = Date.now();
        }
        cpuAt.push(cpu());
      } catch (e) {
        if (ctx.signal.aborted) throw new JobCancelledError();
        throw e;
      } finally {
        await pool.close();
        await writes;
      }
      if (ctx.signal.aborted || result.stoppedBy === 'abort') throw new JobCancelledError();
      const searchBest = result.best;
      if (!searchBest) {
        const firstError = result.trials.find((t) => t.error)?.error;
        throw studyInputError(
          'NO_SUCCESSFUL_TRIAL',
          `no trial completed${firstError ? `; first error: ${firstError}` : ''}`,
        );
      }
      const chosen = finalists[0];
      const bestTrial = chosen ? result.trials.find((t) => t.number === chosen.trial)! : searchBest;
      const bestIterations = chosen
        ? chosen.bestIterations
        : ((searchBest.attrs?.bestIterations as (number | null)[] | undefined) ?? []);
      const bestCv = chosen ? chosen.value : searchBest.value!;

      // Refit the chosen configuration on all training rows, evaluate once on the holdout.
      const { algorithm, ...params } = bestTrial.params;
      const fitted = await refit(
        String(algorithm ?? 'gbdt'),
        params,
        trainFrame,
        trainLabels,
        bestIterations,
        spec.seed,
        parallel,
      );
      const tRefit = Date.now();
      cpuAt.push(cpu());
      const scores = fitted.predictProba(testFrame);
      const importance = importanceOf(fitted, testFrame);
      const metrics = evaluateHoldout(testLabels, scores, {
        threshold: spec.threshold,
        subgroups: data.subgroups.map((s) => ({ name: s.name, values: Array.from(testIdx, (i) => s.values[i]!) })),
        importance,
      });

      const modelName = spec.model ?? dv.dataset_name;
      const comparison = await compareWithApproved(
        platform,
        study.project_id,
        modelName,
        data.features,
        testFrame,
        testLabels,
        scores,
        dv.id,
      );
      const nativeJson = JSON.stringify(fitted.toJSON());
      const modelDigest = await platform.registry.putArtifact(Buffer.from(nativeJson));
      const onnxDigest = await platform.registry.putArtifact(modelToOnnx(fitted));
      const completed = result.trials.filter((t) => t.state === 'complete').length;
      const pruned = result.trials.filter((t) => t.state === 'pruned').length;
      const card: Omit<ModelCard, 'version'> = {
        model: modelName,
        createdAt: nowIso(),
        intendedUse: spec.description,
        data: {
          project: project.slug,
          dataset: dv.dataset_name,
          datasetVersion: Number(dv.version),
          datasetDigest: dv.content_digest,
          datasetCreatedAt: dv.created_at,
          dateRanges: dateRangesOf(dv.schema_json),
          rows: data.rows,
          trainingRows: trainIdx.length,
          holdoutRows: testIdx.length,
          patients: spec.group ? new Set(data.groups).size : null,
          holdoutPatients: spec.group ? new Set(Array.from(testIdx, (i) => data.groups[i]!)).size : null,
          prevalence: data.labels.reduce((s, x) => s + x, 0) / data.labels.length,
          droppedMissingTarget: data.droppedMissingTarget,
          target: spec.target,
          positive: spec.positive,
          features: data.features,
        },
        method: {
          source: 'study',
          algorithm: String(algorithm ?? 'gbdt'),
          engineVersion: ENGINE_VERSION,
          seed: spec.seed,
          params: refitParams(fitted, params),
          search: {
            trials: result.trials.length,
            completed,
            pruned,
            metric: spec.metric,
            folds,
            bestCvValue: bestCv,
            ...(sampled ? { searchRows: pool.searchRows, finalists: finalists.length } : {}),
          },
        },
        metrics,
        limitations: limitationsFor(
          metrics,
          data.ignoredColumns.map((c) => `Column ${c.name} was not used: ${c.reason}.`),
        ),
        comparison,
      };
      const reg = await platform.registry.register({
        projectId: project.id,
        projectSlug: project.slug,
        modelName,
        source: 'study',
        datasetVersionId: dv.id,
        datasetDigest: dv.content_digest,
        policyId: study.policy_id,
        studyId,
        engineVersion: ENGINE_VERSION,
        algorithm: String(algorithm ?? 'gbdt'),
        seed: spec.seed,
        params: refitParams(fitted, params),
        features: data.features,
        modelDigest,
        onnxDigest,
        threshold: metrics.threshold.value,
        metrics,
        card,
        renderCard: renderCardMarkdown,
        trainedBy: study.created_by,
        responsible: [study.created_by, study.policy_author],
      });
      const report = {
        rows: data.rows,
        droppedMissingTarget: data.droppedMissingTarget,
        ignoredColumns: data.ignoredColumns,
        trainingRows: trainIdx.length,
        holdoutRows: testIdx.length,
        features: data.features,
        folds,
        // Rows the search trials cross-validated on (a patient-grouped sample when below trainingRows).
        searchRows: pool.searchRows,
        parallelTrials: parallel,
        bestTrial: bestTrial.number,
        bestCv,
        bestSearchCv: bestTrial.value,
        finalists: finalists.map((f) => ({
          trial: f.trial,
          searchCv: f.searchValue,
          cv: f.value,
          std: f.std,
          folds: f.folds,
          bestIterations: f.bestIterations,
        })),
        holdoutAuc: metrics.auc,
        stoppedBy: result.stoppedBy,
        durationMs: Math.round(result.durationMs),
        // Wall time of each phase, in ms: loading and splitting, search, confirmation on every row, refit,
        // evaluation and registration.
        phasesMs: {
          load: tLoaded - startedAt,
          search: tSearched - tLoaded,
          confirm: tConfirmed - tSearched,
          refit: tRefit - tConfirmed,
          evaluate: Date.now() - tRefit,
        },
        // CPU time of the same phases (the whole process, all threads).
        phasesCpuMs: Object.fromEntries(
          ['load', 'search', 'confirm', 'refit', 'evaluate'].map((k, i) => [
            k,
            Math.round((cpuAt[i + 1] ?? cpu()) - cpuAt[i]!),
          ]),
        ),
      };
      await setStudy({
        status: 'succeeded',
        finished_at: nowIso(),
        report_json: JSON.stringify(report),
        model_version_id: reg.id,
      });
      await platform.audit.append({
        actor: study.created_by,
        action: 'study.finish',
        target: `study:${studyId}`,
        project: project.slug,
        outcome: 'success',
        details: { model: `${modelName}@${reg.version}`, auc: metrics.auc },
      });
      return { model: modelName, version: reg.version, auc: metrics.auc };
    } catch (e) {
      if (e instanceof JobCancelledError || ctx.signal.aborted) {
        await setStudy({ status: 'cancelled', finished_at: nowIso() });
        throw e instanceof JobCancelledError ? e : new JobCancelledError();
      }
      const retryable = !(e instanceof AppError && e.status < 500) && !(e instanceof NonRetryableError);
      const message = e instanceof Error ? e.message : String(e);
      // A retryable failure leaves the study running: the job will try again. Otherwise it has failed for good.
      if (!retryable) {
        await setStudy({ status: 'failed', error: message, finished_at: nowIso() });
        await platform.audit.append({
          actor: study.created_by,
          action: 'study.finish',
          target: `study:${studyId}`,
          project: project.slug,
          outcome: 'failure',
          details: { error: message },
        });
        throw new NonRetryableError(message, { cause: e });
      }
      await setStudy({ error: message });
      throw e;
    }
  });
}

/** Marks a study failed when its job ends in the dead letter (retries exhausted). */
export async function markStudyDead(platform: Platform, studyId: string, error: string): Promise<void> {
  await platform.store.db
    .updateTable('studies')
    .set({ status: 'failed', error, finished_at: nowIso() })
    .where('id', '=', studyId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
}

async function refit(
  algorithm: string,
  params: Record<string, unknown>,
  frame: Frame,
  labels: Float64Array,
  bestIterations: (number | null)[],
  seed: number,
  numThreads: number,
): Promise<Fitted> {
  if (algorithm === 'logreg') return trainLogistic(frame, labels, params as never);
  const its = bestIterations.filter((x): x is number => typeof x === 'number');
  const { earlyStoppingRounds: _es, ...rest } = params;
  // The folds' early-stopped round counts (already counts, not indices): their mean sizes the refit.
  const numTrees = its.length
    ? Math.max(1, Math.round(its.reduce((s, x) => s + x, 0) / its.length))
    : Number(params.numTrees ?? 100);
  // As many histogram threads as the pool had (its cores are free again); the same trees for any thread count.
  return trainGbdt(frame, labels, {
    ...(rest as object),
    objective: 'binary',
    numTrees,
    seed,
    numThreads,
  } as never);
}

function refitParams(m: Fitted, params: Record<string, unknown>): Record<string, unknown> {
  const j = m.toJSON() as { params?: Record<string, unknown> };
  return { ...params, ...(j.params ?? {}) };
}

function importanceOf(m: Fitted, frame: Frame): HoldoutMetrics['importance'] {
  const sample =
    frame.numRows > 2000
      ? frame.take(Int32Array.from({ length: 2000 }, (_, i) => Math.floor((i * frame.numRows) / 2000)))
      : frame;
  if ('featureImportance' in m && typeof (m as GbdtModel).featureImportance === 'function') {
    const g = m as GbdtModel;
    const gain = g.featureImportance('gain');
    const split = g.featureImportance('split');
    const shap = g.featureImportance('shap', sample);
    return Object.keys(gain).map((f) => ({
      feature: f,
      gain: gain[f] ?? 0,
      split: split[f] ?? 0,
      meanAbsShap: shap[f] ?? 0,
      coefficient: null,
    }));
  }
  const { values } = m.explain(sample);
  const names = sample.names;
  return names.map((f, j) => {
    let s = 0;
    for (const row of values) s += Math.abs(row[j]!);
    return {
      feature: f,
      gain: null,
      split: null,
      meanAbsShap: values.length ? s / values.length : 0,
      coefficient: null,
    };
  });
}

async function compareWithApproved(
  platform: Platform,
  projectId: string,
  modelName: string,
  features: string[],
  testFrame: Frame,
  labels: Float64Array,
  scores: Float64Array,
  datasetVersionId: string,
): Promise<ComparisonResult | null> {
  const approved = await platform.registry.approvedVersion(projectId, modelName);
  if (!approved?.model_digest) return null;
  const theirFeatures = JSON.parse(approved.features_json) as string[];
  if (!theirFeatures.every((f) => features.includes(f))) return null;
  const model = await platform.registry.loadNative(approved.model_digest);
  const theirs = model.predictProba(testFrame.select(theirFeatures));
  const note =
    approved.dataset_version_id === datasetVersionId
      ? 'Both were evaluated on the same holdout of the same dataset version.'
      : 'The approved version was trained on another dataset version, so some of these holdout patients may have been in its training data: its AUC here can be optimistic.';
  return compareOnHoldout(labels, scores, theirs, { model: modelName, version: Number(approved.version) }, note);
}

void addEdge;
