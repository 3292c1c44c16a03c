// Worker-thread body of one ingest lane (see lanes.ts): receives the file's chunks in order, runs pass 1 or
// pass 2 over the columns it owns, and posts acks, Arrow batch buffers and its result (or its error) back.
import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import type { LaneBatch } from './arrow.js';
import type { TabularOptions, TabularProfile } from './types.js';

export type LaneJob =
  | { kind: 'profile'; opts: TabularOptions; lane: number; lanes: number }
  | { kind: 'arrow'; profile: TabularProfile; lane: number; lanes: number };

export type ToLane = { type: 'chunk'; bytes: Uint8Array } | { type: 'end' };

export interface LaneError {
  code?: string;
  status?: number;
  message: string;
  details?: Record<string, unknown>;
  stack?: string;
}

export type FromLane =
  | { type: 'ack'; bytes: number }
  | { type: 'batch'; batch: LaneBatch }
  | { type: 'done'; result: unknown }
  | { type: 'error'; error: LaneError };

export function serializeError(e: unknown): LaneError {
  if (e instanceof AppError) return { code: e.code, status: e.status, message: e.message, details: e.details };
  return e instanceof Error ? { message: e.message, stack: e.stack } : { message: String(e) };
}

function transferables(batch: LaneBatch): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const c of batch.columns) {
    for (const a of [c.values, c.validity, c.offsets]) if (a !== undefined) set.add(a.buffer as ArrayBuffer);
  }
  return [...set];
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const job = workerData as LaneJob;
  let task: { write(chunk: Uint8Array): void; end(): unknown };
  if (job.kind === 'profile') {
    const { ProfileLane } = await import('./profile.js');
    task = new ProfileLane(job.opts, job.lane, job.lanes);
  } else {
    const { ArrowLane } = await import('./arrow.js');
    const lane = new ArrowLane(
      job.profile,
      (batch) => port.postMessage({ type: 'batch', batch } satisfies FromLane, transferables(batch)),
      job.lane,
      job.lanes,
    );
    task = { write: (c) => lane.write(c), end: () => lane.end() };
  }
  let failed = false;
  port.on('message', (m: ToLane) => {
    if (failed) return;
    try {
      if (m.type === 'chunk') {
        task.write(m.bytes);
        port.postMessage({ type: 'ack', bytes: m.bytes.byteLength } satisfies FromLane);
      } else {
        port.postMessage({ type: 'done', result: task.end() } satisfies FromLane);
      }
    } catch (e) {
      failed = true;
      port.postMessage({ type: 'error', error: serializeError(e) } satisfies FromLane);
    }
  });
  port.postMessage({ type: 'ack', bytes: 0 } satisfies FromLane);
}

main().catch((e: unknown) => parentPort?.postMessage({ type: 'error', error: serializeError(e) } satisfies FromLane));
