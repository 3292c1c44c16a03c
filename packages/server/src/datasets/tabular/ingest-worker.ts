// Worker-thread body of a single-pass ingest (see ingest-thread.ts): receives the file's chunks in order and
// parses them (TabularIngest), answers `end` with the profile, then streams the Arrow copy back under credits.
import {
  MessageChannel,
  type MessagePort,
  Worker,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { TabularIngest } from './ingest.js';
import type { TextCounter } from './distinct.js';
import type { ParseWorkerData } from './parse-worker.js';
import { reviveChunk, type ChunkJob, type ChunkPort, type ChunkResult } from './split.js';
import type { TabularOptions, TabularProfile } from './types.js';

export interface IngestError {
  code?: string;
  status?: number;
  message: string;
  details?: Record<string, unknown>;
  stack?: string;
}

function serializeError(e: unknown): IngestError {
  if (e instanceof AppError) return { code: e.code, status: e.status, message: e.message, details: e.details };
  return e instanceof Error ? { message: e.message, stack: e.stack } : { message: String(e) };
}

export interface IngestJob {
  opts: TabularOptions;
  spillDir?: string;
  /** Chunks arrive in this ring (shared memory) as `ring` messages; a region is reused once acknowledged. */
  ring: SharedArrayBuffer;
}

export type ToIngest =
  | { type: 'chunk'; bytes: Uint8Array }
  | { type: 'ring'; offset: number; length: number }
  | { type: 'end' }
  /** Free the spill and stop (the spill's descriptor belongs to the process, not to this thread). */
  | { type: 'close' }
  /** Send Arrow bytes until `bytes` more have been sent (credit). */
  | { type: 'arrow'; bytes: number };

export type FromIngest =
  /** The oldest `regions` chunk messages (`bytes` in all) are parsed: their ring space is free again. */
  | { type: 'ack'; bytes: number; regions: number }
  | { type: 'profile'; profile: TabularProfile; hasArrow: boolean }
  | { type: 'arrow'; parts: Uint8Array[] }
  | { type: 'arrow-end' }
  | { type: 'error'; error: IngestError };

/**
 * Whether the parse is split over row ranges with a second parser thread (split.ts). Off: measured on the shared
 * 2-core machine (load 8–10, docs/benchmarks.md "Session 3"), the split parse gave the same profile and Arrow
 * bytes but took ~40 % more CPU in all (merging, messages, a second isolate's collector), and the ingest thread
 * kept about its CPU (its merges cost about what the chunks parsed elsewhere saved), so pushes got slower.
 * `ICHIGEN_INGEST_SPLIT=1` turns it on, to measure it elsewhere (more cores, an idle host).
 */
const SPLIT = process.env.ICHIGEN_INGEST_SPLIT === '1';
/** Bytes read in this thread before the split starts (column types settle on the first rows). */
const SPLIT_AFTER = 4 * 1024 * 1024;
/** Bytes per chunk of records. */
const CHUNK_BYTES = 1024 * 1024;
/** Chunks the parse worker holds at most (the rest are parsed here). */
const PARSE_WORKER_JOBS = 8;
/**
 * Parsed bytes acknowledged at once (half the ring, see ingest-thread.ts). An ack per ~1 MiB message cost this
 * thread ~1.5 ms of CPU each (measured with /proc/thread-self/schedstat: ~100 ms per 64 MB, the wake-up of the
 * request thread), ~5 % of the parse.
 */
const ACK_BYTES = 4 * 1024 * 1024;
/** Arrow bytes gathered per message to the request thread (while credit lasts; see ARROW_CREDIT). */
const ARROW_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The second parser: a worker thread started on the first chunk. This thread waits for its results synchronously
 * (`receiveMessageOnPort` after `Atomics.wait` on a shared counter), so the ingest itself stays synchronous.
 */
class ParseWorkerPort implements ChunkPort {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly signal = new SharedArrayBuffer(4);
  private readonly posted = new Int32Array(this.signal);
  private outstanding = 0;

  private start(): MessagePort {
    const channel = new MessageChannel();
    const data: ParseWorkerData = { port: channel.port2, signal: this.signal };
    this.worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
      workerData: data,
      transferList: [channel.port2],
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    this.worker.unref();
    this.port = channel.port1;
    return channel.port1;
  }

  post(job: ChunkJob): boolean {
    if (this.outstanding >= PARSE_WORKER_JOBS) return false;
    (this.port ?? this.start()).postMessage(job, [job.bytes.buffer as ArrayBuffer]);
    this.outstanding++;
    return true;
  }

  take(
    block: boolean,
    frozen: readonly (TextCounter | undefined)[],
  ): { result: ChunkResult; bytes: Buffer } | undefined {
    const port = this.port;
    if (port === undefined || this.outstanding === 0) throw new Error('parse worker: no chunk pending');
    for (;;) {
      const seen = Atomics.load(this.posted, 0);
      const m = receiveMessageOnPort(port) as
        { message: { result: ChunkResult; bytes: Uint8Array } | { error: string } } | undefined;
      if (m !== undefined) {
        this.outstanding--;
        if ('error' in m.message) throw new Error(`parse worker: ${m.message.error}`);
        const { result, bytes } = m.message;
        return {
          result: reviveChunk(result, frozen),
          bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        };
      }
      if (!block) return undefined;
      Atomics.wait(this.posted, 0, seen, 60_000);
    }
  }

  close(): void {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = undefined;
    this.port = undefined;
  }
}

function main(): void {
  const port = parentPort;
  if (port === null) return;
  const job = workerData as IngestJob;
  const ingest = new TabularIngest(
    job.opts,
    job.spillDir,
    SPLIT ? { after: SPLIT_AFTER, chunkBytes: CHUNK_BYTES, port: new ParseWorkerPort() } : undefined,
  );
  let failed = false;
  let unacked = { bytes: 0, regions: 0 };
  const ack = (): void => {
    if (unacked.regions === 0) return;
    port.postMessage({ type: 'ack', ...unacked } satisfies FromIngest);
    unacked = { bytes: 0, regions: 0 };
  };
  const parsed = (bytes: number): void => {
    unacked.bytes += bytes;
    unacked.regions++;
    if (unacked.bytes >= ACK_BYTES) ack();
  };
  let arrow: Generator<Uint8Array, void, undefined> | undefined;
  let credit = 0;
  let arrowDone = false;
  const fail = (e: unknown): void => {
    failed = true;
    ingest.close();
    port.postMessage({ type: 'error', error: serializeError(e) } satisfies FromIngest);
  };
  port.on('message', (m: ToIngest) => {
    if (m.type === 'close') {
      ingest.close();
      port.close();
      return;
    }
    if (failed) return;
    try {
      if (m.type === 'ring') {
        // Nothing keeps a reference to the chunk after `write` returns (keys, spill and carry are copies).
        ingest.write(new Uint8Array(job.ring, m.offset, m.length));
        parsed(m.length);
      } else if (m.type === 'chunk') {
        ingest.write(m.bytes);
        parsed(m.bytes.byteLength);
      } else if (m.type === 'end') {
        ack();
        const profile = ingest.end();
        port.postMessage({ type: 'profile', profile, hasArrow: ingest.hasArrow } satisfies FromIngest);
      } else {
        credit += m.bytes;
        if (arrowDone) return;
        arrow ??= ingest.arrow();
        // Record batches (~1–3 MB each) go out in messages of at least ARROW_MESSAGE_BYTES while credit lasts: a
        // message each cost both threads a wake-up (~1 ms of CPU here).
        let parts: Uint8Array[] = [];
        let gathered = 0;
        const post = (): void => {
          if (parts.length === 0) return;
          port.postMessage(
            { type: 'arrow', parts } satisfies FromIngest,
            parts.map((p) => p.buffer as ArrayBuffer),
          );
          parts = [];
          gathered = 0;
        };
        while (credit > 0) {
          const next = arrow.next();
          if (next.done === true) {
            arrowDone = true;
            post();
            ingest.close();
            port.postMessage({ type: 'arrow-end' } satisfies FromIngest);
            return;
          }
          const bytes = next.value;
          credit -= bytes.byteLength;
          parts.push(bytes);
          gathered += bytes.byteLength;
          if (gathered >= ARROW_MESSAGE_BYTES) post();
        }
        post();
      }
    } catch (e) {
      fail(e);
    }
  });
  port.postMessage({ type: 'ack', bytes: 0, regions: 0 } satisfies FromIngest);
}

main();
