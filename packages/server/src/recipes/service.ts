// Recipe runs: validate a request (recipe, input roles, parameters, output), deduplicate it by an idempotency key over
// recipe@version + input versions + canonical parameters + output, record it with lineage, and queue its job.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { JobQueue } from '../jobs/queue.js';
import { addEdge } from '../lineage/lineage.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import { canonicalJson, newId, nowIso } from '../util.js';
import { describeRecipe, requireRecipe, type RecipeInfo, type RecipeRegistry } from './registry.js';
import type { RecipeRunsTable } from './tables.js';
import './tables.js';

export const RECIPE_JOB = 'recipe.run';

export const runRequestSchema = z
  .object({
    inputs: z.record(
      z.string().min(1).max(100),
      z.object({ dataset: z.string().min(1).max(300), version: z.number().int().positive() }).strict(),
    ),
    params: z.record(z.string(), z.unknown()).default({}),
    output: z.string().min(1).max(300),
  })
  .strict();
export type RunRequest = z.input<typeof runRequestSchema>;

export interface RunInput {
  dataset: string;
  version: number;
  versionId: string;
  digest: string;
}

export interface RecipeRunSummary {
  id: string;
  project: string;
  recipe: string;
  recipeVersion: string;
  params: Record<string, unknown>;
  inputs: Record<string, RunInput>;
  output: { dataset: string; version: number | null };
  status: string;
  report: unknown;
  error: string | null;
  progress: unknown;
  attempt: number;
  jobId: string | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export class RecipeService {
  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly jobs: JobQueue,
    readonly registry: RecipeRegistry,
  ) {}

  private get db() {
    return this.store.db;
  }

  list(): RecipeInfo[] {
    return [...this.registry.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(describeRecipe);
  }

  get(name: string): RecipeInfo {
    return describeRecipe(requireRecipe(this.registry, name));
  }

  /** Starts a run, or returns the run that already exists for the same recipe, inputs, parameters and output. */
  async run(
    p: Principal,
    a: Access,
    recipeName: string,
    body: unknown,
    client: string,
  ): Promise<{ run: RecipeRunSummary; created: boolean }> {
    const recipe = requireRecipe(this.registry, recipeName);
    const req = runRequestSchema.safeParse(body);
    if (!req.success) {
      const i = req.error.issues[0]!;
      throw badRequest('VALIDATION_ERROR', `recipe run request: ${i.path.join('.') || '(body)'}: ${i.message}`);
    }
    const { inputs, output } = req.data;
    const roles = new Map(recipe.inputs.map((r) => [r.role, r]));
    for (const role of Object.keys(inputs)) {
      if (!roles.has(role))
        throw badRequest(
          'RECIPE_UNKNOWN_INPUT',
          `recipe ${recipe.name} has no input role "${printable(role)}"; its roles are: ${recipe.inputs.map((r) => r.role).join(', ')}`,
        );
    }
    for (const r of recipe.inputs) {
      if (r.required && !inputs[r.role])
        throw badRequest(
          'RECIPE_INPUT_REQUIRED',
          `recipe ${recipe.name} needs an input for role "${r.role}" (${r.description}): --input ${r.role}=<dataset>@<version>`,
        );
    }
    const parsed = recipe.params.safeParse(req.data.params);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw badRequest(
        'INVALID_RECIPE_PARAMS',
        `recipe ${recipe.name} parameter ${i.path.join('.') || '(params)'}: ${i.message}`,
        { path: i.path.map(String) },
      );
    }
    const params = JSON.parse(canonicalJson(parsed.data)) as Record<string, unknown>;
    validateName('dataset', output);

    const resolved: Record<string, RunInput> = {};
    for (const role of Object.keys(inputs).sort()) {
      const ref = inputs[role]!;
      if (ref.dataset === output)
        throw badRequest('RECIPE_OUTPUT_IS_INPUT', `the output dataset ${output} is also the "${role}" input`);
      validateName('dataset', ref.dataset);
      const v = await this.db
        .selectFrom('dataset_versions')
        .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
        .select(['dataset_versions.id', 'dataset_versions.content_digest', 'datasets.kind'])
        .where('datasets.project_id', '=', a.project.id)
        .where('datasets.name', '=', ref.dataset)
        .where('dataset_versions.version', '=', ref.version)
        .executeTakeFirst();
      if (!v)
        throw notFound(
          'VERSION_NOT_FOUND',
          `input "${role}": dataset ${a.project.slug}/${ref.dataset} has no version ${ref.version}`,
        );
      if (v.kind !== 'tabular')
        throw badRequest(
          'RECIPE_INPUT_NOT_TABULAR',
          `input "${role}": dataset ${ref.dataset} holds files, not a table`,
        );
      resolved[role] = { dataset: ref.dataset, version: ref.version, versionId: v.id, digest: v.content_digest };
    }
    const key = createHash('sha256')
      .update(
        canonicalJson({
          recipe: recipe.name,
          version: recipe.version,
          inputs: Object.fromEntries(Object.entries(resolved).map(([r, i]) => [r, i.versionId])),
          params,
          output,
        }),
      )
      .digest('hex');

    const existing = await this.byKey(a, key);
    if (existing) return { run: await this.requeueIfFailed(p, existing), created: false };
    const row: RecipeRunsTable = {
      id: newId(),
      project_id: a.project.id,
      recipe: recipe.name,
      recipe_version: recipe.version,
      params_json: canonicalJson(params),
      inputs_json: canonicalJson(resolved),
      output_dataset: output,
      output_version_id: null,
      status: 'queued',
      report_json: null,
      error: null,
      idempotency_key: key,
      job_id: null,
      attempt: 1,
      created_by: p.name,
      created_at: nowIso(),
      started_at: null,
      finished_at: null,
    };
    try {
      await this.db.insertInto('recipe_runs').values(row).execute();
    } catch (e) {
      // A concurrent identical request won the race: that run is this run.
      const raced = isUniqueViolation(e) ? await this.byKey(a, key) : undefined;
      if (raced) return { run: await this.summary(raced), created: false };
      throw e;
    }
    for (const i of Object.values(resolved))
      await addEdge(
        this.db,
        { kind: 'dataset_version', id: i.versionId },
        { kind: 'recipe_run', id: row.id },
        'input-of',
      );
    const jobId = await this.enqueue(p, a.project.slug, row.id, 1);
    await this.audit.append({
      actor: p.name,
      action: 'recipe.run',
      target: `recipe_run:${row.id}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: {
        recipe: `${recipe.name}@${recipe.version}`,
        inputs: Object.fromEntries(Object.entries(resolved).map(([r, i]) => [r, `${i.dataset}@${i.version}`])),
        output,
      },
    });
    return { run: await this.summary({ ...row, job_id: jobId }), created: true };
  }

  private async enqueue(p: Principal, project: string, runId: string, attempt: number): Promise<string> {
    const { job } = await this.jobs.enqueue({
      kind: RECIPE_JOB,
      project,
      payload: { runId },
      idempotencyKey: `recipe-run:${runId}:${attempt}`,
      maxAttempts: 3,
      createdBy: p.name,
    });
    await this.db.updateTable('recipe_runs').set({ job_id: job.id }).where('id', '=', runId).execute();
    return job.id;
  }

  /** A failed or cancelled run asked for again is queued again (same run, next attempt); others are returned as is. */
  private async requeueIfFailed(p: Principal, r: RecipeRunsTable): Promise<RecipeRunSummary> {
    if (r.status !== 'failed' && r.status !== 'cancelled') return this.summary(r);
    const attempt = Number(r.attempt) + 1;
    const res = await this.db
      .updateTable('recipe_runs')
      .set({ status: 'queued', error: null, attempt, started_at: null, finished_at: null })
      .where('id', '=', r.id)
      .where('status', '=', r.status)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) {
      const project = await this.db
        .selectFrom('projects')
        .select('slug')
        .where('id', '=', r.project_id)
        .executeTakeFirstOrThrow();
      await this.enqueue(p, project.slug, r.id, attempt);
    }
    return this.summary(await this.row(r.id));
  }

  private byKey(a: Access, key: string) {
    return this.db
      .selectFrom('recipe_runs')
      .selectAll()
      .where('project_id', '=', a.project.id)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  private row(id: string) {
    return this.db.selectFrom('recipe_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async listRuns(a: Access, opts: { limit?: number; recipe?: string } = {}): Promise<RecipeRunSummary[]> {
    let q = this.db.selectFrom('recipe_runs').selectAll().where('project_id', '=', a.project.id);
    if (opts.recipe) q = q.where('recipe', '=', opts.recipe);
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(opts.limit ?? 100, 500))
      .execute();
    return Promise.all(rows.map((r) => this.summary(r)));
  }

  async getRun(a: Access, id: string): Promise<RecipeRunSummary> {
    const r = await this.db
      .selectFrom('recipe_runs')
      .selectAll()
      .where('id', '=', id)
      .where('project_id', '=', a.project.id)
      .executeTakeFirst();
    if (!r) throw notFound('RECIPE_RUN_NOT_FOUND', `no recipe run ${printable(id)} in project ${a.project.slug}`);
    return this.summary(r);
  }

  async cancelRun(p: Principal, a: Access, id: string, client: string): Promise<RecipeRunSummary> {
    const r = await this.getRun(a, id);
    if (['succeeded', 'failed', 'cancelled'].includes(r.status))
      throw conflict('RECIPE_RUN_FINISHED', `recipe run ${id} already ${r.status}`);
    if (r.jobId) await this.jobs.cancel(r.jobId, p.name);
    await this.db
      .updateTable('recipe_runs')
      .set({ status: 'cancelled', finished_at: nowIso() })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .execute();
    await this.audit.append({
      actor: p.name,
      action: 'recipe.cancel',
      target: `recipe_run:${id}`,
      project: a.project.slug,
      outcome: 'success',
      client,
    });
    return this.getRun(a, id);
  }

  async summary(r: RecipeRunsTable): Promise<RecipeRunSummary> {
    const project = await this.db
      .selectFrom('projects')
      .select('slug')
      .where('id', '=', r.project_id)
      .executeTakeFirstOrThrow();
    let outVersion: number | null = null;
    if (r.output_version_id) {
      const v = await this.db
        .selectFrom('dataset_versions')
        .select('version')
        .where('id', '=', r.output_version_id)
        .executeTakeFirst();
      outVersion = v ? Number(v.version) : null;
    }
    let progress: unknown = null;
    if (r.job_id && (r.status === 'running' || r.status === 'queued')) {
      const j = await this.jobs.get(r.job_id).catch(() => null);
      progress = j?.progress ?? null;
    }
    return {
      id: r.id,
      project: project.slug,
      recipe: r.recipe,
      recipeVersion: r.recipe_version,
      params: JSON.parse(r.params_json) as Record<string, unknown>,
      inputs: JSON.parse(r.inputs_json) as Record<string, RunInput>,
      output: { dataset: r.output_dataset, version: outVersion },
      status: r.status,
      report: r.report_json ? (JSON.parse(r.report_json) as unknown) : null,
      error: r.error,
      progress,
      attempt: Number(r.attempt),
      jobId: r.job_id,
      createdBy: r.created_by,
      createdAt: r.created_at,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
    };
  }
}
