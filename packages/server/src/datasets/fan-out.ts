// Feeds one byte stream to several consumers at once, with backpressure, so a push hashes/stores the upload and
// parses it in a single read. If any consumer fails, every branch is torn down and the first error wins.
import { once } from 'node:events';
import { PassThrough } from 'node:stream';

export async function fanOut<T extends unknown[]>(
  source: AsyncIterable<Uint8Array>,
  consumers: { [K in keyof T]: (branch: AsyncIterable<Uint8Array>) => Promise<T[K]> },
): Promise<T> {
  const branches = consumers.map(() => {
    // 1 MiB per branch: enough to keep the hash/write branch and the parse lanes busy (they queue up to 8 MiB
    // each on their own), without holding 4 MiB twice per push.
    const b = new PassThrough({ highWaterMark: 1024 * 1024 });
    // The error that tears a branch down is already reported through `firstError`; a consumer that stopped
    // reading must not turn it into an uncaught 'error' event.
    b.on('error', () => undefined);
    return b;
  });
  let firstError: unknown;
  const fail = (e: unknown) => {
    if (firstError === undefined) firstError = e;
    for (const b of branches) if (!b.destroyed) b.destroy(e instanceof Error ? e : new Error(String(e)));
  };
  const running = consumers.map((c, i) =>
    c(branches[i]!).catch((e: unknown) => {
      fail(e);
      throw e;
    }),
  );
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        if (firstError !== undefined) return;
        const waits: Promise<unknown>[] = [];
        for (const b of branches) if (!b.write(chunk)) waits.push(once(b, 'drain'));
        if (waits.length) await Promise.all(waits);
      }
      for (const b of branches) b.end();
    } catch (e) {
      fail(e);
      throw e;
    }
  })();
  const results = await Promise.allSettled([feeding, ...running]);
  if (firstError !== undefined) throw firstError;
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
  return results.slice(1).map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}
