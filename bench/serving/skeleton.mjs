// The least a durably audited predict call can do, as a bare node:http server — used by bound.mjs to ask whether
// the REST target (≥ 50 % of a hello-world's throughput) is reachable by ANY design that records each prediction
// before answering. Per request: read and JSON.parse the body, build an audit event (canonical JSON, SHA-256
// chained to the previous event), queue it; once per event-loop turn, INSERT the queued events in one SQLite
// transaction (WAL, synchronous=FULL: the COMMIT is fsync'd, as Ichigen's is) and only then answer the requests
// whose events it holds. No routing, auth, model, prediction log row, schema validation or access log.
//   node bench/serving/skeleton.mjs DIR [--commit main|worker|none] [--cds JWK_JSON]
// `--commit worker` runs the SQLite transaction in a worker thread (the fsync no longer blocks the event loop);
// `--commit none` skips the database (hashing and queueing only). `--cds JWK` makes each call the least a CDS Hooks
// patient-view call can do: verify the bearer ES256 JWT (node:crypto with the key imported once; alg, aud, exp,
// an in-memory jti set), JSON.parse the body with its prefetch, and record THREE events (one per applicable
// deployment) — still no FHIRPath, model, explanation or card rendering. Prints its URL on stdout.
import { createHash, createPublicKey, verify } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

function openDb(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, ' +
      'action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)',
  );
  const insert = db.prepare(
    'INSERT INTO audit (seq, at, actor, action, target, details, prev, hash) VALUES (?,?,?,?,?,?,?,?)',
  );
  const commit = db.transaction((rows) => {
    for (const r of rows) insert.run(r);
  });
  return commit;
}

if (!isMainThread) {
  const commit = openDb(workerData.file);
  parentPort.on('message', (rows) => {
    commit(rows);
    parentPort.postMessage(rows.length);
  });
} else {
  const dir = process.argv[2];
  const mode = process.argv.includes('--commit') ? process.argv[process.argv.indexOf('--commit') + 1] : 'main';
  const file = path.join(dir, 'skeleton.sqlite');
  let prev = '0'.repeat(64);
  let seq = 0;
  let queue = [];
  let waiting = [];
  let scheduled = false;
  let inFlight = false;
  let worker = null;
  let commitMain = null;
  if (mode === 'worker') worker = new Worker(new URL(import.meta.url), { workerData: { file } });
  else if (mode === 'main') commitMain = openDb(file);

  const answer = (list) => {
    for (const res of list) {
      const body = '{"predictions":[{"probability":0.5}]}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    }
  };
  const flush = () => {
    scheduled = false;
    if (inFlight || queue.length === 0) return;
    const rows = queue;
    const list = waiting;
    queue = [];
    waiting = [];
    if (mode === 'main') {
      commitMain(rows);
      answer(list);
      if (queue.length > 0) schedule();
    } else if (mode === 'worker') {
      inFlight = true;
      worker.once('message', () => {
        inFlight = false;
        answer(list);
        if (queue.length > 0) schedule();
      });
      worker.postMessage(rows);
    } else answer(list);
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const cdsAt = process.argv.indexOf('--cds');
  const cdsKey = cdsAt > 0 ? createPublicKey({ key: JSON.parse(process.argv[cdsAt + 1]), format: 'jwk' }) : null;
  const seen = new Set();
  const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  /** Verifies a compact ES256 JWT; returns its claims or null. */
  const checkJwt = (auth, aud) => {
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
    const [h, p, sig] = token.split('.');
    if (sig === undefined || b64json(h).alg !== 'ES256') return null;
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      { key: cdsKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(sig, 'base64url'),
    );
    const claims = ok ? b64json(p) : null;
    if (claims === null || claims.aud !== aud || claims.exp * 1000 < Date.now()) return null;
    return claims;
  };
  const record = (action, details) => {
    const at = new Date().toISOString();
    const canonical = `${seq + 1}|${at}|u1|${action}|model/1|${details}|${prev}`;
    const hash = createHash('sha256').update(canonical).digest('hex');
    queue.push([++seq, at, 'u1', action, 'model/1', details, prev, hash]);
    prev = hash;
  };
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const input = JSON.parse(Buffer.concat(parts).toString('utf8'));
      if (cdsKey) {
        const claims = checkJwt(req.headers.authorization, 'http://bench/cds-services/patient-view');
        if (claims === null || seen.has(claims.jti)) {
          res.writeHead(401).end();
          return;
        }
        seen.add(claims.jti);
        const resources = Object.values(input.prefetch).reduce((n, b) => n + (b?.entry?.length ?? 1), 0);
        for (const d of ['dm-a', 'dm-b', 'dm-c'])
          record('cds.card', JSON.stringify({ deployment: d, hookInstance: input.hookInstance, resources }));
      } else record('predict', JSON.stringify({ rows: input.rows.length, probability: 0.5 }));
      waiting.push(res);
      schedule();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
