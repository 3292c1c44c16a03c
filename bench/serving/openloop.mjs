// Open-loop load: requests start at evenly spaced times (a fixed arrival rate), whatever the server's latency, over a
// pool of keep-alive connections, the way an EHR's many users trigger hooks. autocannon's `overallRate` releases
// each second's requests in a burst, which measures the burst's queue rather than the service; this does not.
import http from 'node:http';

/**
 * Sends `rate` requests per second for `durationS` seconds over at most `connections` sockets. `next()` returns
 * { path, headers, body } for each request. Resolves with latency percentiles (ms, from the planned start time, so
 * a late start counts against the server like a queue would), counts of non-2xx answers and errors.
 */
export async function openLoop({ url, rate, durationS, connections, next }) {
  const u = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.round(rate * durationS);
  const interval = 1000 / rate;
  const lat = [];
  let non2xx = 0;
  let errors = 0;
  const t0 = performance.now() + 50;
  const one = (planned) =>
    new Promise((resolve) => {
      const { path, headers, body } = next();
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          path,
          method: 'POST',
          agent,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            lat.push(performance.now() - planned);
            if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.end(body);
    });
  const pending = [];
  for (let i = 0; i < total; i++) {
    const planned = t0 + i * interval;
    const wait = planned - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(planned));
  }
  await Promise.all(pending);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) : null);
  return {
    requests: total,
    rps: +(lat.length / ((performance.now() - t0) / 1000)).toFixed(1),
    p50ms: q(0.5),
    p90ms: q(0.9),
    p99ms: q(0.99),
    maxMs: lat.length ? +lat[lat.length - 1].toFixed(1) : null,
    non2xx,
    errors,
  };
}
