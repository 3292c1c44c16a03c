// `ichigen serve`: opens the platform, creates the first administrator on an empty database (printing its
// one-time password once), listens, and shuts down gracefully on SIGTERM/SIGINT.
import type { Config } from '../config/config.js';
import { buildApp, type App } from '../http/app.js';
import { openPlatform, type Platform } from '../platform.js';

export interface RunningServer {
  app: App;
  platform: Platform;
  url: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Where start-up messages go (the one-time admin password among them). */
  print?: (line: string) => void;
  logger?: boolean;
  handleSignals?: boolean;
}

export async function startServer(config: Config, opts: ServeOptions = {}): Promise<RunningServer> {
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const platform = await openPlatform(config);
  let app: App | undefined;
  try {
    const swept = await platform.objects.sweepTemporary();
    if (swept > 0) print(`removed ${swept} incomplete upload(s) left by an earlier crash`);
    if ((await platform.auth.countUsers()) === 0) {
      const { password } = await platform.auth.createUser('admin', { admin: true, actor: 'system' });
      print('');
      print('  First start: created the administrator "admin".');
      print(`  One-time password: ${password}`);
      print('  It is shown only now. Log in with `ichigen login --user admin` and choose a new password.');
      print('');
    }
    app = await buildApp(platform, { logger: opts.logger === false ? false : { level: config.logLevel } });
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await app?.close();
    await platform.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
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
  print(
    `Ichigen is listening on ${url} (data: ${config.dataDir}, database: ${config.databaseUrl.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL'}, objects: ${config.objectStore.kind})`,
  );
  return { app, platform, url, close };
}
