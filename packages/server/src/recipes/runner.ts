// The `recipe.run` job: re-check the requester's access, read each input version's Arrow copy (audited as
// recipe.read), run the recipe, push its CSV through the normal dataset push (profiled, Arrow-copied, deduplicated by
// content) and link the output version in the lineage graph. A finished run is never run again.
import { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { defineHandler } from '../jobs/handlers.js';
import { isRetryable, JobCancelledError, NonRetryableError, type JobHandler } from '../jobs/worker.js';
import { addEdge } from '../lineage/lineage.js';
import type { Platform } from '../platform.js';
import type { Principal } from '../auth/service.js';
import { readArrowTable } from '../training/data.js';
import { nowIso } from '../util.js';
import type { RunInput } from './service.js';
import { arrowInputTable, type InputTable } from './table.js';
import { requireRecipe } from './registry.js';
import './tables.js';

export const recipeRunPayload = z.object({ runId: z.string().min(1).max(64) }).strict();

export function recipeRunHandler(platform: Platform): JobHandler {
  return defineHandler(recipeRunPayload, async ({ runId }, job, ctx) => {
    const db = platform.store.db;
    const run = await db.selectFrom('recipe_runs').selectAll().where('id', '=', runId).executeTakeFirst();
    if (!run) throw new NonRetryableError(`recipe run ${runId} does not exist`);
    if (['succeeded', 'cancelled'].includes(run.status)) return { status: run.status };
    const set = (patch: Partial<{ status: string; error: string | null; started_at: string; finished_at: string }>) =>
      db.updateTable('recipe_runs').set(patch).where('id', '=', runId).execute();
    await set({ status: 'running', error: null, started_at: nowIso() });
    const project = await db
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', run.project_id)
      .executeTakeFirstOrThrow();
    const label = `${run.recipe}@${run.recipe_version}`;
    try {
      const recipe = requireRecipe(platform.recipes.registry, run.recipe);
      if (recipe.version !== run.recipe_version)
        throw new NonRetryableError(
          `recipe run ${runId} asked for ${label} but this server has ${recipe.name}@${recipe.version}; start a new run`,
        );
      // The run acts as the user who asked for it, with the roles they hold now.
      const user = await db.selectFrom('users').selectAll().where('name', '=', run.created_by).executeTakeFirst();
      if (!user || user.disabled) throw new NonRetryableError(`the user ${run.created_by} who started the run is gone`);
      const principal: Principal = {
        userId: user.id,
        name: user.name,
        isAdmin: !!user.is_admin,
        tokenId: `job:${job.id}`,
      };
      const access = await platform.projects.access(principal, project.slug, 'recipe.run');

      const inputs: Record<string, InputTable> = {};
      const refs = JSON.parse(run.inputs_json) as Record<string, RunInput>;
      for (const [role, ref] of Object.entries(refs)) {
        await ctx.progress({ stage: `reading ${role}`, dataset: `${ref.dataset}@${ref.version}` });
        const v = await db
          .selectFrom('dataset_versions')
          .select('manifest_digest')
          .where('id', '=', ref.versionId)
          .executeTakeFirstOrThrow();
        const table = await readArrowTable(platform.objects, await platform.datasets.manifest(v.manifest_digest));
        inputs[role] = arrowInputTable(role, table);
        await platform.datasets.recordRead(
          principal,
          access,
          `dataset:${project.slug}/${ref.dataset}@${ref.version}`,
          'recipe.read',
          `job:${job.id}`,
          { run: runId, recipe: label, role, rows: table.numRows },
        );
      }
      const params = recipe.params.parse(JSON.parse(run.params_json));
      const out = await recipe.run({
        inputs,
        params,
        signal: ctx.signal,
        progress: (p) => ctx.progress(p),
      });
      ctx.signal.throwIfAborted();
      await ctx.progress({ stage: 'pushing', rows: out.rows });
      const pushed = await platform.datasets.pushTabular(
        principal,
        access,
        run.output_dataset,
        Readable.from([Buffer.from(out.csv, 'utf8')]),
        { encoding: 'utf-8', delimiter: ',', message: `recipe ${label} (run ${runId})`, client: `job:${job.id}` },
      );
      await addEdge(
        db,
        { kind: 'recipe_run', id: runId },
        { kind: 'dataset_version', id: pushed.version.id },
        'produced',
      );
      const report = {
        ...out.report,
        output: { rows: out.rows, version: pushed.version.version, created: pushed.created },
      };
      await db
        .updateTable('recipe_runs')
        .set({
          status: 'succeeded',
          output_version_id: pushed.version.id,
          report_json: JSON.stringify(report),
          finished_at: nowIso(),
        })
        .where('id', '=', runId)
        .execute();
      await platform.audit.append({
        actor: run.created_by,
        action: 'recipe.finish',
        target: `recipe_run:${runId}`,
        project: project.slug,
        outcome: 'success',
        client: `job:${job.id}`,
        details: { recipe: label, output: `${run.output_dataset}@${pushed.version.version}`, rows: out.rows },
      });
      return { output: `${project.slug}/${run.output_dataset}@${pushed.version.version}`, rows: out.rows };
    } catch (e) {
      const cancelled = e instanceof JobCancelledError || ctx.signal.reason instanceof JobCancelledError;
      const final = cancelled || !isRetryable(e) || job.attempts >= job.maxAttempts;
      const message = e instanceof Error ? e.message : String(e);
      await db
        .updateTable('recipe_runs')
        .set({
          status: cancelled ? 'cancelled' : final ? 'failed' : 'queued',
          error: cancelled ? 'cancelled' : message,
          ...(final ? { finished_at: nowIso() } : {}),
          ...(e instanceof AppError && e.details ? { report_json: JSON.stringify({ errorDetails: e.details }) } : {}),
        })
        .where('id', '=', runId)
        .execute();
      if (final)
        await platform.audit.append({
          actor: run.created_by,
          action: 'recipe.finish',
          target: `recipe_run:${runId}`,
          project: project.slug,
          outcome: 'failure',
          client: `job:${job.id}`,
          details: { recipe: label, error: message.slice(0, 500), code: e instanceof AppError ? e.code : undefined },
        });
      throw e;
    }
  });
}
