// `ichigen serve`: opens the platform, creates the first administrator on an empty database (printing its
// one-time password once), listens, and shuts down gracefully on SIGTERM/SIGINT.
import type { Config } from '../config/config.js';
import { AppError } from '../errors.js';
import { buildApp, type App } from '../http/app.js';
import { DEFAULT_GRACE_MS, startPlatformWorker } from '../jobs/run.js';
import type { Worker, WorkerOptions } from '../jobs/worker.js';
import { openPlatform, type Platform } from '../platform.js';

export interface RunningServer {
  app: App;
  platform: Platform;
  url: string;
  /** The embedded job worker, unless disabled. */
  worker: Worker | undefined;
  close(): Promise<void>;
}

/** What `serve --json` prints, as one JSON line, once the server listens. */
export interface ServeReady {
  event: 'ready';
  url: string;
  dataDir: string;
  database: 'SQLite' | 'PostgreSQL';
  objects: string;
  /** Incomplete uploads of an earlier crash removed at start. */
  sweptUploads: number;
  /** Only on the first start: the administrator created, with its one-time password (shown only here). */
  admin?: { user: string; password: string };
}

export interface ServeOptions {
  /** Where start-up messages go (the one-time admin password among them). */
  print?: (line: string) => void;
  /** Instead of `print`'s human lines: called once, when listening, with everything they would have said. */
  ready?: (info: ServeReady) => void;
  logger?: boolean;
  handleSignals?: boolean;
  /** Run one embedded job worker (default true; `serve --no-worker` turns it off for scale-out). */
  worker?: boolean | WorkerOptions;
  /** How long shutdown waits for running jobs to stop before handing them back. */
  workerGraceMs?: number;
}

export async function startServer(config: Config, opts: ServeOptions = {}): Promise<RunningServer> {
  const ready = opts.ready;
  const print = ready ? () => undefined : (opts.print ?? ((l: string) => process.stdout.write(l + '\n')));
  let admin: ServeReady['admin'];
  let swept = 0;
  // /healthz says 503 "starting" until the administrator, the worker and the signal handlers are in place.
  const readiness = { ready: false };
  const platform = await openPlatform(config);
  let app: App | undefined;
  let worker: Worker | undefined;
  try {
    swept = await platform.objects.sweepTemporary();
    if (swept > 0) print(`removed ${swept} incomplete upload(s) left by an earlier crash`);
    app = await buildApp(platform, {
      logger: opts.logger === false ? false : { level: config.logLevel },
      readiness,
    });
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      throw new AppError(
        'PORT_IN_USE',
        500,
        `port ${config.port} on ${config.host} is already in use (another server?): choose another with --port or ICHIGEN_PORT`,
        undefined,
        e,
      );
    }
    // Only once the server listens: a start that fails must not spend the password it would show.
    if ((await platform.auth.countUsers()) === 0) {
      const { password } = await platform.auth.createUser('admin', { admin: true, actor: 'system' });
      admin = { user: 'admin', password };
      print('');
      print('  First start: created the administrator "admin".');
      print(`  One-time password: ${password}`);
      print(
        `  It is shown only now. Log in with \`ichigen login --url ${serverUrl(config, app)} --user admin\` and choose a new password.`,
      );
      print('');
    }
    if (opts.worker !== false) {
      const wopts = typeof opts.worker === 'object' ? opts.worker : {};
      worker = startPlatformWorker(platform, { log: app.log.child({ component: 'worker' }), ...wopts });
    }
  } catch (e) {
    await app?.close();
    await platform.close();
    throw e;
  }
  const url = serverUrl(config, app);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Running jobs go back to the queue first (another worker resumes them), then requests drain.
      await worker?.stop(opts.workerGraceMs ?? DEFAULT_GRACE_MS);
      await app.close();
      await platform.close();
    })());
  if (opts.handleSignals) {
    const onSignal = (sig: string) => {
      app.log.info(`${sig} received: finishing requests and shutting down`);
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }
  readiness.ready = true;
  const database = config.databaseUrl.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL';
  print(
    `Ichigen is listening on ${url} (data: ${config.dataDir}, database: ${database}, objects: ${config.objectStore.kind})`,
  );
  ready?.({
    event: 'ready',
    url,
    dataDir: config.dataDir,
    database,
    objects: config.objectStore.kind,
    sweptUploads: swept,
    ...(admin ? { admin } : {}),
  });
  return { app, platform, url, worker, close };
}

/** The URL the server listens at (the bound port when `port` is 0). */
function serverUrl(config: Config, app: App): string {
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
}
