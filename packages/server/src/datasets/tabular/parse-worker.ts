// Worker-thread body that parses chunks of whole records for a split ingest (split.ts, ingest-worker.ts): each job
// comes in on a MessagePort, its result (and the chunk's bytes) go back on it in order, and a shared counter is
// bumped so that the ingest thread, which waits synchronously, wakes up.
import { type MessagePort, workerData } from 'node:worker_threads';
import { TextCounter } from './distinct.js';
import { forTransfer, parseChunk, transferablesOf, type ChunkJob } from './split.js';

export interface ParseWorkerData {
  port: MessagePort;
  /** Int32 counter of results posted. */
  signal: SharedArrayBuffer;
}

const { port, signal } = workerData as ParseWorkerData;
const posted = new Int32Array(signal);
/** Per column, the ingest's frozen text counter (sent once, with the first job that needs it). */
const frozen: (TextCounter | undefined)[] = [];

port.on('message', (job: ChunkJob) => {
  try {
    job.frozen?.forEach((f, j) => {
      if (f !== undefined) frozen[j] = TextCounter.fromFrozen(f);
    });
    const result = forTransfer(parseChunk(job, frozen));
    port.postMessage({ result, bytes: job.bytes }, [job.bytes.buffer as ArrayBuffer, ...transferablesOf(result)]);
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
  Atomics.add(posted, 0, 1);
  Atomics.notify(posted, 0);
});
