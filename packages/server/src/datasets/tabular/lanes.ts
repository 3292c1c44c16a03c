// Both ingest passes on several threads. A lane owns every `lanes`-th column: every lane reads every byte and
// checks every row, so errors, row counts and batch boundaries agree, and per-column results are exactly those
// of one thread (no merging of samples or distinct counts). Tokenizing is repeated per lane (~20 % of the
// work); the per-cell typing, statistics and Arrow building (~80 %) are split.
//
// Compiled JavaScript runs 2+ lanes in worker threads; from TypeScript sources (tests) the same lanes run in the
// calling thread, so the column split and the batch assembly are still exercised.
import { Worker } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { ArrowAssembler, ArrowLane, type LaneBatch } from './arrow.js';
import type { FromLane, LaneError, LaneJob, ToLane } from './lane-worker.js';
import { ProfileLane, mergeProfileLanes, type ProfileLaneResult } from './profile.js';
import type { TabularOptions, TabularProfile } from './types.js';

/**
 * Lanes per pass used by the push. 1 = the calling thread, no workers. Measured on the shared 2-core machine
 * (load ~13, 64 MB extract, push emulated end to end): 2 lanes pushed 3.6–4.1 MB/s against 4.5–7.4 MB/s for
 * 1 lane, and peaked at 216–233 MB RSS against 128–132 MB — on a saturated machine a second thread gains no
 * CPU share and the repeated tokenizing, messaging and worker start-up are pure cost. Not measured on an idle
 * 2-core host, where 2 lanes may win. The push no longer uses lanes: it parses once, in one worker thread
 * (`ingest-thread.ts`); this module stays, with its tests, as the measured alternative (docs/benchmarks.md).
 */
export const INGEST_LANES = 1;
/** Bytes sent to a lane and not yet parsed by it, at most (bounds memory when a lane falls behind). */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

/** Measured on a 64 MB extract: 4 MB cut peak RSS from 222 to 194 MB at the same speed. */
const LANE_YOUNG_GENERATION_MB = 4;

const workerUrl = new URL('./lane-worker.js', import.meta.url);
const threadsAvailable = import.meta.url.endsWith('.js');

function revive(e: LaneError): Error {
  if (e.code !== undefined) return new AppError(e.code, e.status ?? 500, e.message, e.details);
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

interface Lane {
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<unknown>;
  close(): void;
}

class ThreadLane implements Lane {
  private readonly worker: Worker;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private readonly done: Promise<unknown>;
  private failure: unknown;

  constructor(job: LaneJob, onBatch: (batch: LaneBatch) => void) {
    // Small young generations: a lane allocates little per cell, and four isolates with default nurseries
    // (2 lanes × 2 passes, plus the server's own) pushed peak memory past the 300 MB budget.
    this.worker = new Worker(workerUrl, {
      workerData: job,
      resourceLimits: { maxYoungGenerationSizeMb: LANE_YOUNG_GENERATION_MB },
    });
    this.done = new Promise<unknown>((resolve, reject) => {
      const fail = (e: unknown): void => {
        this.failure ??= e;
        reject(e);
        this.wake?.();
      };
      this.worker.on('message', (m: FromLane) => {
        if (m.type === 'ack') {
          this.inFlight -= m.bytes;
          this.wake?.();
        } else if (m.type === 'batch') {
          try {
            onBatch(m.batch);
          } catch (e) {
            fail(e);
          }
        } else if (m.type === 'done') {
          resolve(m.result);
        } else {
          fail(revive(m.error));
        }
      });
      this.worker.on('error', fail);
      this.worker.on('exit', (code) => fail(new Error(`ingest lane exited with code ${code}`)));
    });
    this.done.catch(() => undefined);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const copy = new Uint8Array(chunk); // the same chunk goes to other lanes and to the object store
    this.inFlight += copy.byteLength;
    this.worker.postMessage({ type: 'chunk', bytes: copy } satisfies ToLane, [copy.buffer]);
    while (this.inFlight > MAX_IN_FLIGHT && this.failure === undefined) {
      await new Promise<void>((r) => (this.wake = r));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  end(): Promise<unknown> {
    this.worker.postMessage({ type: 'end' } satisfies ToLane);
    return this.done;
  }

  close(): void {
    void this.worker.terminate();
  }
}

class InlineLane implements Lane {
  constructor(private readonly task: { write(chunk: Uint8Array): void; end(): unknown }) {}
  write(chunk: Uint8Array): Promise<void> {
    this.task.write(chunk);
    return Promise.resolve();
  }
  end(): Promise<unknown> {
    return Promise.resolve(this.task.end());
  }
  close(): void {}
}

function startLanes(job: (lane: number) => LaneJob, lanes: number, onBatch: (lane: number) => (b: LaneBatch) => void) {
  return Array.from({ length: lanes }, (_, i): Lane => {
    const j = job(i);
    if (threadsAvailable && lanes > 1) return new ThreadLane(j, onBatch(i));
    if (j.kind === 'profile') return new InlineLane(new ProfileLane(j.opts, j.lane, j.lanes));
    const lane = new ArrowLane(j.profile, onBatch(i), j.lane, j.lanes);
    return new InlineLane({ write: (c) => lane.write(c), end: () => lane.end() });
  });
}

/** Pass 1 (`profileTabular`) on `lanes` threads; the profile is identical to the single-threaded one. */
export async function profileTabularInLanes(
  source: AsyncIterable<Uint8Array>,
  opts: TabularOptions = {},
  lanes = INGEST_LANES,
): Promise<TabularProfile> {
  const running = startLanes(
    (lane) => ({ kind: 'profile', opts, lane, lanes }),
    lanes,
    () => () => undefined,
  );
  try {
    for await (const chunk of source) await Promise.all(running.map((l) => l.write(chunk)));
    const results = (await Promise.all(running.map((l) => l.end()))) as ProfileLaneResult[];
    return mergeProfileLanes(results);
  } finally {
    for (const l of running) l.close();
  }
}

/** Pass 2 (`tabularToArrow`) on `lanes` threads; the Arrow stream is identical to the single-threaded one. */
export async function* tabularToArrowInLanes(
  source: AsyncIterable<Uint8Array>,
  profile: TabularProfile,
  lanes = INGEST_LANES,
): AsyncGenerator<Uint8Array, void, undefined> {
  const assembler = new ArrowAssembler(profile, lanes);
  const running = startLanes(
    (lane) => ({ kind: 'arrow', profile, lane, lanes }),
    lanes,
    (lane) => (batch) => assembler.add(lane, batch),
  );
  try {
    for await (const chunk of source) {
      await Promise.all(running.map((l) => l.write(chunk)));
      for (const out of assembler.takeReady()) yield out;
    }
    await Promise.all(running.map((l) => l.end()));
    for (const out of assembler.finish()) yield out;
  } finally {
    for (const l of running) l.close();
  }
}
