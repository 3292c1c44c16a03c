// The job kinds this platform runs and their handlers, in one table that `ichigen serve` and `ichigen worker` use.
// Add a domain's kinds here (training, recipes, scoring); payloads are validated by a zod schema per kind.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Platform } from '../platform.js';
import type { JobRow } from './queue.js';
import { NonRetryableError, type JobContext, type JobHandler } from './worker.js';
import { STUDY_JOB } from '../training/service.js';
import { studyHandler } from '../training/study-runner.js';
import { RECIPE_JOB } from '../recipes/service.js';
import { recipeRunHandler } from '../recipes/runner.js';
import { BATCH_JOB, batchHandler } from '../serving/batch.js';

/**
 * Wraps a handler with payload validation: a payload that does not match the schema fails the job at once
 * (retrying cannot fix it) with the first problem named.
 */
export function defineHandler<S extends z.ZodType>(
  schema: S,
  run: (payload: z.infer<S>, job: JobRow, ctx: JobContext) => Promise<unknown>,
): JobHandler {
  return async (job, ctx) => {
    const parsed = schema.safeParse(job.payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new NonRetryableError(
        `invalid ${job.kind} payload: ${issue.path.join('.') || '(payload)'}: ${issue.message}`,
      );
    }
    return run(parsed.data, job, ctx);
  };
}

/** A diagnostic for operators (and the tests): sleeps, reporting progress, and can fail its first attempts. */
export const DIAG_SLEEP = 'diag.sleep';
export const diagSleepPayload = z
  .object({
    /** Total time asleep; bounded so a diagnostic can never occupy a worker for long. */
    ms: z.number().int().min(0).max(600_000),
    /** Progress reports over the sleep. */
    steps: z.number().int().min(1).max(1000).default(1),
    /** Attempts that fail (retryably) before one succeeds: exercises retries and the dead letter. */
    failAttempts: z.number().int().min(0).max(100).default(0),
  })
  .strict();

export const diagSleep: JobHandler = defineHandler(diagSleepPayload, async (p, job, ctx) => {
  if (job.attempts <= p.failAttempts) throw new Error(`diag.sleep: attempt ${job.attempts} fails as asked`);
  for (let i = 0; i < p.steps; i++) {
    await sleep(p.ms / p.steps, undefined, { signal: ctx.signal });
    await ctx.progress({ done: i + 1, total: p.steps });
  }
  return { sleptMs: p.ms, attempt: job.attempts, worker: ctx.workerId };
});

/** Every job kind the platform runs. `platform` gives handlers their services. */
export function jobHandlers(platform: Platform): Record<string, JobHandler> {
  return {
    [DIAG_SLEEP]: diagSleep,
    [STUDY_JOB]: studyHandler(platform),
    [RECIPE_JOB]: recipeRunHandler(platform),
    [BATCH_JOB]: batchHandler(platform),
  };
}
