// Worker-thread body of a single-pass ingest (see ingest-thread.ts): receives the file's chunks in order and
// parses them (TabularIngest), answers `end` with the profile, then streams the Arrow copy back under credits.
import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { TabularIngest } from './ingest.js';
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
  | { type: 'ack'; bytes: number }
  | { type: 'profile'; profile: TabularProfile; hasArrow: boolean }
  | { type: 'arrow'; bytes: Uint8Array }
  | { type: 'arrow-end' }
  | { type: 'error'; error: IngestError };

function main(): void {
  const port = parentPort;
  if (port === null) return;
  const job = workerData as IngestJob;
  const ingest = new TabularIngest(job.opts, job.spillDir);
  let failed = false;
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
        port.postMessage({ type: 'ack', bytes: m.length } satisfies FromIngest);
      } else if (m.type === 'chunk') {
        ingest.write(m.bytes);
        port.postMessage({ type: 'ack', bytes: m.bytes.byteLength } satisfies FromIngest);
      } else if (m.type === 'end') {
        const profile = ingest.end();
        port.postMessage({ type: 'profile', profile, hasArrow: ingest.hasArrow } satisfies FromIngest);
      } else {
        credit += m.bytes;
        if (arrowDone) return;
        arrow ??= ingest.arrow();
        while (credit > 0) {
          const next = arrow.next();
          if (next.done === true) {
            arrowDone = true;
            ingest.close();
            port.postMessage({ type: 'arrow-end' } satisfies FromIngest);
            return;
          }
          const bytes = next.value;
          credit -= bytes.byteLength;
          port.postMessage({ type: 'arrow', bytes } satisfies FromIngest, [bytes.buffer as ArrayBuffer]);
        }
      }
    } catch (e) {
      fail(e);
    }
  });
  port.postMessage({ type: 'ack', bytes: 0 } satisfies FromIngest);
}

main();
