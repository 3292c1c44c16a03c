// Runs a single-pass ingest (ingest.ts) in ONE worker thread, so that on a 2-core host the request's thread
// receives, hashes and writes the upload while the other core parses it — the work is split by stage, not by
// column (column lanes re-tokenized every byte per lane and lost on this machine; see lanes.ts).
//
// Compiled JavaScript uses the worker; from TypeScript sources (tests) the same ingest runs in the calling thread.
import { Worker } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { TabularIngest } from './ingest.js';
import type { FromIngest, IngestError, IngestJob, ToIngest } from './ingest-worker.js';
import type { TabularOptions, TabularProfile } from './types.js';

export interface IngestSession {
  /** Feeds the next chunk (resolves when the parser has room for more). */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the input; resolves to the profile, or rejects with the AppError of malformed input. */
  end(): Promise<TabularProfile>;
  /** After `end`: whether `arrow()` has the columnar copy (else pass 2 must write it). */
  readonly hasArrow: boolean;
  /** The Arrow IPC stream (only when `hasArrow`). */
  arrow(): AsyncGenerator<Uint8Array, void, undefined>;
  /** Frees the worker and the spill; safe to call more than once, at any time. */
  close(): void;
}

/**
 * Bytes handed to the worker and not yet acknowledged, at most (bounds memory when parsing falls behind). The
 * worker acknowledges every 4 MiB it parsed (ACK_BYTES in ingest-worker.ts), so at most half of this waits.
 */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;
/**
 * Shared memory the chunks are copied into for the worker. Transferring a fresh copy per chunk instead left the
 * worker holding ~64 MB of dead chunks (it allocates so few objects that V8 rarely collects their buffers).
 */
const RING_BYTES = 8 * 1024 * 1024;
/** Larger chunks are transferred as copies. */
const MAX_RING_CHUNK = RING_BYTES / 4;
/** Ring bytes gathered before they are posted to the worker. */
const POST_BYTES = 1024 * 1024;
/** Arrow bytes the worker may send ahead of what the object store has consumed. */
const ARROW_CREDIT = 8 * 1024 * 1024;
/**
 * Consumed Arrow bytes are returned to the worker as credit in lumps of at least this much (a message per record
 * batch woke the worker each time). Less than ARROW_CREDIT: while the worker waits for credit, more than
 * ARROW_CREDIT - ARROW_CREDIT_LUMP bytes are queued here, so consuming them always returns a lump.
 */
const ARROW_CREDIT_LUMP = 4 * 1024 * 1024;
/** The parser allocates little per cell; a small nursery keeps the worker's memory near its live data. */
const YOUNG_GENERATION_MB = 8;

const workerUrl = new URL('./ingest-worker.js', import.meta.url);
const threadsAvailable = import.meta.url.endsWith('.js');

function revive(e: IngestError): Error {
  if (e.code !== undefined) return new AppError(e.code, e.status ?? 500, e.message, e.details);
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

class InlineSession implements IngestSession {
  private readonly ingest: TabularIngest;
  constructor(opts: TabularOptions, spillDir?: string) {
    this.ingest = new TabularIngest(opts, spillDir);
  }
  write(chunk: Uint8Array): Promise<void> {
    this.ingest.write(chunk);
    return Promise.resolve();
  }
  end(): Promise<TabularProfile> {
    return Promise.resolve(this.ingest.end());
  }
  get hasArrow(): boolean {
    return this.ingest.hasArrow;
  }
  async *arrow(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* this.ingest.arrow();
  }
  close(): void {
    this.ingest.close();
  }
}

class ThreadSession implements IngestSession {
  private readonly worker: Worker;
  private inFlight = 0;
  private readonly ring = new SharedArrayBuffer(RING_BYTES);
  private readonly ringBytes = new Uint8Array(this.ring);
  /** Regions of the ring not yet acknowledged, oldest first (acks arrive in order). */
  private readonly regions: { offset: number; length: number; ring: boolean }[] = [];
  /** The newest ring region, still being filled (not yet posted). */
  private pending: { offset: number; length: number; ring: boolean } | undefined;
  private failure: unknown;
  private closed = false;
  /** Wakes whoever waits for the worker (room for chunks, the profile, Arrow bytes). */
  private wake: (() => void) | undefined;
  private profile: TabularProfile | undefined;
  private arrowReady = false;
  private readonly arrowQueue: Uint8Array[] = [];
  private arrowDone = false;
  hasArrow = false;

  constructor(opts: TabularOptions, spillDir?: string) {
    const job: IngestJob = { opts, ring: this.ring, ...(spillDir !== undefined ? { spillDir } : {}) };
    this.worker = new Worker(workerUrl, {
      workerData: job,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    const fail = (e: unknown): void => {
      this.failure ??= e;
      this.notify();
    };
    this.worker.on('message', (m: FromIngest) => {
      if (m.type === 'ack') {
        this.inFlight -= m.bytes;
        this.regions.splice(0, m.regions);
      } else if (m.type === 'profile') {
        this.profile = m.profile;
        this.hasArrow = m.hasArrow;
      } else if (m.type === 'arrow') this.arrowQueue.push(...m.parts);
      else if (m.type === 'arrow-end') this.arrowDone = true;
      else fail(revive(m.error));
      this.notify();
    });
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`ingest worker exited with code ${code}`));
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Waits until `ready()` holds or the worker failed (then throws its error). */
  private async until(ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (ready()) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Where a chunk of `length` bytes fits in the ring without touching an unacknowledged region, or -1. */
  private place(length: number): number {
    // Called for every upload chunk: find the first and last ring regions without building an array.
    let oldest: (typeof this.regions)[number] | undefined;
    let newest: (typeof this.regions)[number] | undefined;
    for (const r of this.regions) {
      if (!r.ring) continue;
      oldest ??= r;
      newest = r;
    }
    if (oldest === undefined || newest === undefined) return 0;
    const head = newest.offset + newest.length;
    if (newest.offset >= oldest.offset) {
      // Occupied: [oldest, head). Append, or wrap to the start.
      if (head + length <= RING_BYTES) return head;
      return length <= oldest.offset ? 0 : -1;
    }
    // Wrapped, occupied: [oldest, end) and [0, head).
    return head + length <= oldest.offset ? head : -1;
  }

  /** Posts the region being filled, if any. */
  private postPending(): void {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    this.worker.postMessage({ type: 'ring', offset: p.offset, length: p.length } satisfies ToIngest);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const length = chunk.byteLength;
    if (length === 0) return;
    // The same chunk goes to the object store, so the worker gets a copy: in the ring when it fits, coalesced
    // into messages of ~1 MiB (an upload arrives in 16–64 KB pieces; a message each cost both threads dearly).
    if (length <= MAX_RING_CHUNK) {
      let at = this.place(length);
      const p = this.pending;
      if (p !== undefined && at === p.offset + p.length) {
        p.length += length;
      } else {
        this.postPending();
        if (at < 0) {
          await this.until(() => this.place(length) >= 0);
          at = this.place(length);
        }
        this.pending = { offset: at, length, ring: true };
        this.regions.push(this.pending);
      }
      this.ringBytes.set(chunk, at);
      this.inFlight += length;
      if ((this.pending as { length: number }).length >= POST_BYTES) this.postPending();
    } else {
      this.postPending();
      const copy = new Uint8Array(chunk);
      this.regions.push({ offset: 0, length, ring: false });
      this.inFlight += length;
      this.worker.postMessage({ type: 'chunk', bytes: copy } satisfies ToIngest, [copy.buffer]);
    }
    if (this.inFlight > MAX_IN_FLIGHT) {
      this.postPending();
      await this.until(() => this.inFlight <= MAX_IN_FLIGHT);
    }
  }

  async end(): Promise<TabularProfile> {
    this.postPending();
    this.worker.postMessage({ type: 'end' } satisfies ToIngest);
    await this.until(() => this.profile !== undefined);
    return this.profile as TabularProfile;
  }

  async *arrow(): AsyncGenerator<Uint8Array, void, undefined> {
    if (!this.arrowReady) {
      this.arrowReady = true;
      this.worker.postMessage({ type: 'arrow', bytes: ARROW_CREDIT } satisfies ToIngest);
    }
    let consumed = 0;
    for (;;) {
      await this.until(() => this.arrowQueue.length > 0 || this.arrowDone);
      const next = this.arrowQueue.shift();
      if (next === undefined) return;
      consumed += next.byteLength;
      if (consumed >= ARROW_CREDIT_LUMP) {
        this.worker.postMessage({ type: 'arrow', bytes: consumed } satisfies ToIngest);
        consumed = 0;
      }
      yield next;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Not terminate(): the worker must close the spill file's descriptor itself (it outlives the thread).
    this.worker.postMessage({ type: 'close' } satisfies ToIngest);
    this.worker.unref();
  }
}

/** A single-pass ingest session: in a worker thread when running compiled, else in this thread. */
export function openIngest(opts: TabularOptions, spillDir?: string): IngestSession {
  return threadsAvailable ? new ThreadSession(opts, spillDir) : new InlineSession(opts, spillDir);
}
