// Starting workers over a platform: the handlers of every job kind (jobs/handlers.ts) bound to the platform's
// services. Used by `ichigen serve` (one embedded worker) and `ichigen worker` (standalone processes, scale-out).
import { pino } from 'pino';
import type { Config } from '../config/config.js';
import { openPlatform, type Platform } from '../platform.js';
import { jobHandlers } from './handlers.js';
import { Worker, type WorkerOptions } from './worker.js';

/** How long a stopping worker waits for handlers to stop before handing their jobs back anyway. */
export const DEFAULT_GRACE_MS = 20_000;

export function startPlatformWorker(platform: Platform, opts: WorkerOptions = {}): Worker {
  const worker = new Worker(platform.jobs, jobHandlers(platform), {
    retentionDays: platform.config.jobRetentionDays,
    ...opts,
  });
  worker.start();
  return worker;
}

export interface WorkerProcessOptions {
  concurrency?: number;
  leaseMs?: number;
  graceMs?: number;
  kinds?: string[];
  print: (line: string) => void;
  /** With `--json`: the start-up line as one JSON object instead of `print`'s text. */
  json?: boolean;
  /** Stops the worker when aborted; by default SIGTERM or SIGINT do. */
  stop?: AbortSignal;
}

/**
 * `ichigen worker`: opens the platform, runs one worker with JSON logs on stdout until SIGTERM/SIGINT, then hands
 * running jobs back (within the grace period) and closes. Resolves when it has shut down.
 */
export async function runWorkerProcess(config: Config, opts: WorkerProcessOptions): Promise<void> {
  const platform = await openPlatform(config);
  let worker: Worker;
  const log = pino({ level: config.logLevel, base: { component: 'worker' } });
  try {
    worker = startPlatformWorker(platform, {
      log,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
      ...(opts.kinds?.length ? { kinds: opts.kinds } : {}),
    });
  } catch (e) {
    await platform.close();
    throw e;
  }
  const db = config.databaseUrl.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL';
  opts.print(
    opts.json
      ? JSON.stringify({ event: 'ready', worker: worker.id, kinds: worker.kinds, database: db })
      : `Ichigen worker ${worker.id} is running (kinds: ${worker.kinds.join(', ')}; database: ${db})`,
  );
  const reason = await new Promise<string>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => resolve(sig);
    if (opts.stop) {
      if (opts.stop.aborted) resolve('stop requested');
      opts.stop.addEventListener('abort', () => resolve('stop requested'), { once: true });
      return;
    }
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  log.info({ worker: worker.id, reason }, 'shutting down: handing running jobs back');
  try {
    await worker.stop(opts.graceMs ?? DEFAULT_GRACE_MS);
  } finally {
    await platform.close();
  }
}
