// The `ichigen` command line: serve and administer a platform directly, or talk to a running server over HTTP.
// Every command prints human output by default and exactly one JSON document with --json.
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { migrate, openMetadataStore } from '../db/database.js';
import { AppError } from '../errors.js';
import { openApiDocument } from '../http/openapi.js';
import { DEFAULT_GRACE_MS, runWorkerProcess } from '../jobs/run.js';
import { openPlatform } from '../platform.js';
import { startServer, type ServeReady } from '../server/serve.js';
import { ApiClient, CliError } from './client.js';
import { clearCredentials, readCredentials, writeCredentials } from './credentials.js';
import { bytes, progressBar, table } from './output.js';
import { readNewSecret, readSecret } from './prompt.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  env: process.env,
};

interface DatasetRef {
  project: string;
  dataset: string;
  version?: number | 'latest';
}

export function parseDatasetRef(ref: string, needVersion = false): DatasetRef {
  const m = /^([^/@]+)\/([^/@]+)(?:@(\d+|latest))?$/.exec(ref);
  if (!m)
    throw new CliError(
      'BAD_REFERENCE',
      `"${ref}" is not <project>/<dataset>${needVersion ? '@<version>' : '[@<version>]'}`,
    );
  const v = m[3];
  if (needVersion && v === undefined)
    throw new CliError('BAD_REFERENCE', `"${ref}" needs a version: <project>/<dataset>@<version> (or @latest)`);
  return {
    project: m[1]!,
    dataset: m[2]!,
    ...(v === undefined ? {} : { version: v === 'latest' ? 'latest' : Number(v) }),
  };
}

const enc = encodeURIComponent;

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let json = false;
  let exitCode = 0;
  const print = (value: unknown, human: () => string) => io.out(json ? JSON.stringify(value, null, 2) : human());

  const client = (): ApiClient => {
    const c = readCredentials(io.env);
    if (!c.url)
      throw new CliError(
        'NOT_LOGGED_IN',
        'no server configured: run `ichigen login --url <url> --user <name>` or set ICHIGEN_URL and ICHIGEN_TOKEN',
      );
    if (!c.token) throw new CliError('NOT_LOGGED_IN', 'not logged in: run `ichigen login` or set ICHIGEN_TOKEN');
    return new ApiClient(c.url, c.token);
  };
  const configFrom = (opts: { data?: string; config?: string; port?: string; host?: string }): Config =>
    loadConfig({
      env: io.env,
      ...(opts.config ? { file: opts.config } : {}),
      flags: { dataDir: opts.data, port: opts.port, host: opts.host },
    });
  const resolveVersion = async (api: ApiClient, r: DatasetRef): Promise<number> => {
    if (typeof r.version === 'number') return r.version;
    const log = await api.request<{ versions: { version: number }[] }>(
      'GET',
      `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/versions`,
      { query: { limit: 1 } },
    );
    if (!log.versions[0]) throw new CliError('VERSION_NOT_FOUND', `${r.project}/${r.dataset} has no versions yet`);
    return log.versions[0].version;
  };

  const program = new Command('ichigen')
    .description("Ichigen: one place for a hospital's clinical datasets, models and their outputs")
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .hook('preAction', (cmd) => {
      json = !!cmd.optsWithGlobals().json;
    });

  // ---------- running a platform ----------
  program
    .command('serve')
    .description('run the API server (embedded SQLite + local object store unless configured otherwise)')
    .option('--port <port>', 'port to listen on (default 8080)')
    .option('--host <host>', 'address to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)')
    .option('--data <dir>', 'data directory (default ./ichigen-data)')
    .option('--config <file>', 'JSON config file')
    .option('--no-worker', 'run no job worker in this process (run `ichigen worker` processes instead)')
    .action(async (opts) => {
      const config = configFrom(opts);
      await startServer(config, {
        handleSignals: true,
        print: io.out,
        // --json: one JSON line when ready (the JSON logs that follow are lines too).
        ...(json ? { ready: (info: ServeReady) => io.out(JSON.stringify(info)) } : {}),
        worker: opts.worker !== false,
      });
      await new Promise(() => undefined); // until a signal ends the process
    });

  program
    .command('worker')
    .description('run a job worker (training, recipe runs, scoring); several may share one PostgreSQL database')
    .option('--concurrency <n>', 'jobs run at the same time', '1')
    .option('--lease <seconds>', 'lease length: a worker that stops heart-beating loses its job this long after', '30')
    .option(
      '--grace <seconds>',
      'on SIGTERM, how long running jobs get to stop before being handed back',
      `${DEFAULT_GRACE_MS / 1000}`,
    )
    .option('--kinds <list>', 'comma-separated job kinds to run (default: all)')
    .option('--data <dir>', 'data directory')
    .option('--config <file>', 'JSON config file')
    .action(
      async (opts: {
        concurrency: string;
        lease: string;
        grace: string;
        kinds?: string;
        data?: string;
        config?: string;
      }) => {
        const num = (flag: string, v: string, min: number, max: number) => {
          const n = Number(v);
          if (!Number.isFinite(n) || n < min || n > max)
            throw new CliError('BAD_OPTION', `--${flag} must be a number from ${min} to ${max}, not "${v}"`);
          return n;
        };
        const concurrency = num('concurrency', opts.concurrency, 1, 256);
        if (!Number.isInteger(concurrency)) throw new CliError('BAD_OPTION', '--concurrency must be a whole number');
        await runWorkerProcess(configFrom(opts), {
          concurrency,
          leaseMs: num('lease', opts.lease, 0.2, 3600) * 1000,
          graceMs: num('grace', opts.grace, 0, 3600) * 1000,
          ...(opts.kinds
            ? {
                kinds: opts.kinds
                  .split(',')
                  .map((k) => k.trim())
                  .filter(Boolean),
              }
            : {}),
          print: io.out,
          json,
        });
      },
    );

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .option('--data <dir>', 'data directory')
    .option('--config <file>', 'JSON config file')
    .action(async (opts) => {
      const config = configFrom(opts);
      const store = openMetadataStore(config.databaseUrl);
      try {
        const applied = await migrate(store);
        print({ applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date'));
      } finally {
        await store.close();
      }
    });

  program
    .command('openapi')
    .description('print the OpenAPI document of the HTTP API (no server or database needed)')
    .option('--out <file>', 'write it to this file instead of standard output')
    .action(async (opts: { out?: string }) => {
      const doc = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
      if (opts.out) {
        await writeFile(opts.out, doc);
        if (json) io.out(JSON.stringify({ written: opts.out, bytes: Buffer.byteLength(doc) }));
        else io.err(`wrote the OpenAPI document to ${opts.out}`);
      } else io.out(doc.trimEnd());
    });

  const admin = program
    .command('admin')
    .description('administer a data directory or database directly (no server needed)');
  admin
    .command('create-user <name>')
    .description('create a user with a one-time password and an API token')
    .option('--admin', 'make the user a platform administrator')
    .option('--data <dir>', 'data directory')
    .option('--config <file>', 'JSON config file')
    .action(async (name: string, opts) => {
      const config = configFrom(opts);
      const platform = await openPlatform(config);
      try {
        const { user, password } = await platform.auth.createUser(name, { admin: !!opts.admin, actor: 'cli-admin' });
        const token = await platform.auth.issueToken(
          user.id,
          'created by admin create-user',
          'api',
          config.tokenDays * 86400_000,
        );
        print({ user: user.name, password, token: token.token }, () =>
          [
            `created ${user.isAdmin ? 'administrator' : 'user'} ${user.name}`,
            `one-time password: ${password}`,
            `API token (shown once): ${token.token}`,
          ].join('\n'),
        );
      } finally {
        await platform.close();
      }
    });

  // ---------- session ----------
  program
    .command('login')
    .description(
      'log in to a server and remember the token (asks for the password; reads it from stdin when not a terminal)',
    )
    .option('--url <url>', 'server URL', io.env.ICHIGEN_URL)
    .requiredOption('--user <name>', 'user name')
    .action(async (opts: { url?: string; user: string }) => {
      const url = opts.url ?? readCredentials(io.env).url;
      if (!url) throw new CliError('NO_URL', 'give the server with --url http://host:8080');
      const api = new ApiClient(url);
      const password = io.env.ICHIGEN_PASSWORD ?? (await readSecret('Password: '));
      type LoginReply = { token: string; expiresAt: string; user: { name: string } };
      let r: LoginReply;
      try {
        r = await api.request<LoginReply>('POST', '/auth/login', { json: { user: opts.user, password } });
      } catch (e) {
        if (!(e instanceof CliError) || e.code !== 'PASSWORD_CHANGE_REQUIRED') throw e;
        io.err('This is a one-time password: choose a new one (at least 12 characters).');
        const newPassword = io.env.ICHIGEN_NEW_PASSWORD ?? (await readNewSecret());
        r = await api.request<LoginReply>('POST', '/auth/login', { json: { user: opts.user, password, newPassword } });
      }
      const file = writeCredentials({ url, token: r.token, user: r.user.name }, io.env);
      print(
        { user: r.user.name, url, expiresAt: r.expiresAt },
        () => `logged in to ${url} as ${r.user.name} (until ${r.expiresAt}; token kept in ${file})`,
      );
    });

  program
    .command('logout')
    .description('revoke the current session token and forget it')
    .action(async () => {
      await client()
        .request('POST', '/auth/logout')
        .catch(() => undefined);
      clearCredentials(io.env);
      print({ ok: true }, () => 'logged out');
    });

  program
    .command('whoami')
    .description('show who the current token belongs to')
    .action(async () => {
      const me = await client().request<{ name: string; isAdmin: boolean }>('GET', '/me');
      print(me, () => `${me.name}${me.isAdmin ? ' (administrator)' : ''}`);
    });

  const token = program.command('token').description('personal API tokens for scripts and Jupyter');
  token
    .command('create <name>')
    .option('--days <n>', 'lifetime in days')
    .action(async (name: string, opts: { days?: string }) => {
      const t = await client().request<{ id: string; token: string; expiresAt: string }>('POST', '/tokens', {
        json: { name, ...(opts.days ? { days: Number(opts.days) } : {}) },
      });
      print(t, () => `token ${t.id} (expires ${t.expiresAt}) — shown once:\n${t.token}`);
    });
  token.command('list').action(async () => {
    const r = await client().request<{
      tokens: {
        id: string;
        name: string;
        kind: string;
        expiresAt: string;
        revokedAt: string | null;
        lastUsedAt: string | null;
      }[];
    }>('GET', '/tokens');
    print(r, () =>
      table(
        r.tokens.map((t) => [t.id, t.name, t.kind, t.expiresAt, t.revokedAt ? 'revoked' : 'active', t.lastUsedAt]),
        ['ID', 'NAME', 'KIND', 'EXPIRES', 'STATE', 'LAST USED'],
      ),
    );
  });
  token.command('revoke <id>').action(async (id: string) => {
    await client().request('DELETE', `/tokens/${enc(id)}`);
    print({ revoked: id }, () => `revoked ${id}`);
  });

  // ---------- users and projects ----------
  const user = program.command('user').description('platform users (administrators)');
  user
    .command('create <name>')
    .option('--admin', 'make the user a platform administrator')
    .action(async (name: string, opts: { admin?: boolean }) => {
      const r = await client().request<{ user: { name: string }; password: string }>('POST', '/users', {
        json: { name, admin: !!opts.admin },
      });
      print(
        { user: r.user.name, password: r.password },
        () => `created ${r.user.name}\none-time password (give it to them; shown once): ${r.password}`,
      );
    });
  user.command('list').action(async () => {
    const r = await client().request<{ users: { name: string; isAdmin: boolean; createdAt: string }[] }>(
      'GET',
      '/users',
    );
    print(r, () =>
      table(
        r.users.map((u) => [u.name, u.isAdmin ? 'admin' : '', u.createdAt]),
        ['NAME', 'ROLE', 'CREATED'],
      ),
    );
  });

  const project = program.command('project').description('projects (one per disease or study) and their members');
  project
    .command('create <slug>')
    .requiredOption('--name <title>', 'human title')
    .option('--description <text>', 'what the project is for', '')
    .action(async (slug: string, opts: { name: string; description: string }) => {
      const r = await client().request<{ slug: string; name: string }>('POST', '/projects', {
        json: { slug, name: opts.name, description: opts.description },
      });
      print(r, () => `created project ${r.slug} (${r.name}); you are its owner`);
    });
  project.command('list').action(async () => {
    const r = await client().request<{ projects: { slug: string; name: string; roles: string[] }[] }>(
      'GET',
      '/projects',
    );
    print(r, () =>
      table(
        r.projects.map((p) => [p.slug, p.name, p.roles.join(',')]),
        ['PROJECT', 'NAME', 'YOUR ROLES'],
      ),
    );
  });
  project.command('show <slug>').action(async (slug: string) => {
    const r = await client().request<{
      slug: string;
      name: string;
      description: string;
      roles: string[];
      createdAt: string;
      createdBy: string;
    }>('GET', `/projects/${enc(slug)}`);
    print(
      r,
      () =>
        `${r.slug}: ${r.name}\n${r.description ? r.description + '\n' : ''}created ${r.createdAt} by ${r.createdBy}; your roles: ${r.roles.join(', ') || '-'}`,
    );
  });
  project.command('members <slug>').action(async (slug: string) => {
    const r = await client().request<{ members: { user: string; role: string; addedAt: string; addedBy: string }[] }>(
      'GET',
      `/projects/${enc(slug)}/members`,
    );
    print(r, () =>
      table(
        r.members.map((m) => [m.user, m.role, m.addedAt, m.addedBy]),
        ['USER', 'ROLE', 'ADDED', 'BY'],
      ),
    );
  });
  project
    .command('add-member <slug> <user>')
    .addOption(
      new Option('--role <role>', 'role in the project')
        .choices(['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'])
        .makeOptionMandatory(),
    )
    .action(async (slug: string, name: string, opts: { role: string }) => {
      await client().request('POST', `/projects/${enc(slug)}/members`, { json: { user: name, role: opts.role } });
      print({ project: slug, user: name, role: opts.role }, () => `${name} is now ${opts.role} in ${slug}`);
    });
  project
    .command('remove-member <slug> <user>')
    .option('--role <role>', 'remove only this role (default: all roles)')
    .action(async (slug: string, name: string, opts: { role?: string }) => {
      await client().request('DELETE', `/projects/${enc(slug)}/members/${enc(name)}`, { query: { role: opts.role } });
      print(
        { project: slug, user: name, removed: opts.role ?? 'all' },
        () => `removed ${opts.role ?? 'all roles'} of ${name} from ${slug}`,
      );
    });

  // ---------- datasets ----------
  const dataset = program.command('dataset').description('datasets and their immutable versions');
  dataset.command('list <project>').action(async (slug: string) => {
    const r = await client().request<{
      datasets: { name: string; kind: string; latestVersion: number | null; createdAt: string }[];
    }>('GET', `/projects/${enc(slug)}/datasets`);
    print(r, () =>
      table(
        r.datasets.map((d) => [d.name, d.kind, d.latestVersion, d.createdAt]),
        ['DATASET', 'KIND', 'LATEST', 'CREATED'],
      ),
    );
  });

  dataset
    .command('push <ref> <path>')
    .description('push a CSV file (tabular) or a directory of files as a new version of <project>/<dataset>')
    .addOption(
      new Option('--encoding <enc>', 'CSV encoding (shift_jis, sjis, windows-31j and ms932 mean cp932)')
        .choices(['auto', 'utf-8', 'utf8', 'cp932', 'shift_jis', 'shift-jis', 'sjis', 'windows-31j', 'ms932'])
        .default('auto'),
    )
    .option('--delimiter <d>', 'CSV delimiter: auto, comma, tab, semicolon, pipe', 'auto')
    .option('--files', 'store a single file as a files dataset instead of parsing it as CSV')
    .option('-m, --message <text>', 'what this version is', '')
    .action(
      async (
        ref: string,
        p: string,
        opts: { encoding: string; delimiter: string; files?: boolean; message: string },
      ) => {
        const r = parseDatasetRef(ref);
        if (r.version !== undefined)
          throw new CliError('BAD_REFERENCE', 'push creates the next version itself: leave out @version');
        const api = client();
        const st = await stat(p).catch(() => null);
        if (!st) throw new CliError('FILE_NOT_FOUND', `no file or directory ${p}`);
        const base = `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/versions`;
        type Push = {
          created: boolean;
          version: {
            version: number;
            rowCount: number | null;
            fileCount: number;
            contentDigest: string;
            sizeBytes: number;
          };
        };
        let res: Push;
        if (st.isDirectory() || opts.files) {
          const files = st.isDirectory() ? await walk(p) : [{ abs: p, rel: path.basename(p), size: st.size }];
          const total = files.reduce((s, f) => s + f.size, 0);
          const bar = progressBar(`push ${r.project}/${r.dataset}`, !json);
          let done = 0;
          const listed: { path: string; digest: string }[] = [];
          try {
            for (const f of files) {
              const before = done;
              const b = await api.upload<{ digest: string }>(
                `/projects/${enc(r.project)}/blobs`,
                createReadStream(f.abs, { highWaterMark: 1 << 20 }),
                {
                  size: f.size,
                  contentType: 'application/octet-stream',
                  onProgress: (n) => bar.update(before + n, total),
                },
              );
              done += f.size;
              listed.push({ path: f.rel, digest: b.digest });
            }
          } finally {
            bar.stop();
          }
          res = await api.request<Push>('POST', base, {
            json: { kind: 'files', files: listed, message: opts.message },
          });
        } else {
          const bar = progressBar(`push ${r.project}/${r.dataset}`, !json);
          try {
            res = await api.upload<Push>(base, createReadStream(p, { highWaterMark: 1 << 20 }), {
              size: st.size,
              contentType: 'text/csv',
              query: { encoding: opts.encoding, delimiter: opts.delimiter, message: opts.message },
              onProgress: bar.update,
            });
          } finally {
            bar.stop();
          }
        }
        const v = res.version;
        print(res, () =>
          res.created
            ? `${r.project}/${r.dataset}@${v.version}: ${v.rowCount !== null ? `${v.rowCount} rows, ` : ''}${v.fileCount} file(s), ${bytes(v.sizeBytes)}, ${v.contentDigest}`
            : `identical content is already ${r.project}/${r.dataset}@${v.version}; nothing new stored`,
        );
      },
    );

  dataset
    .command('log <ref>')
    .description('list the versions of <project>/<dataset>, newest first')
    .option('--limit <n>', 'versions per page', '100')
    .option('--before <version>', 'show versions older than this')
    .action(async (ref: string, opts: { limit: string; before?: string }) => {
      const r = parseDatasetRef(ref);
      const res = await client().request<{
        versions: {
          version: number;
          createdBy: string;
          createdAt: string;
          rowCount: number | null;
          fileCount: number;
          contentDigest: string;
          message: string;
        }[];
        nextBefore: number | null;
      }>('GET', `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/versions`, {
        query: { limit: opts.limit, before: opts.before },
      });
      print(
        res,
        () =>
          table(
            res.versions.map((v) => [
              `@${v.version}`,
              v.createdBy,
              v.createdAt,
              v.rowCount ?? `${v.fileCount} files`,
              v.contentDigest.slice(0, 19),
              v.message,
            ]),
            ['VERSION', 'BY', 'WHEN', 'ROWS', 'DIGEST', 'MESSAGE'],
          ) + (res.nextBefore ? `\n(more: --before ${res.nextBefore})` : ''),
      );
    });

  dataset
    .command('show <ref>')
    .description('schema and column statistics of <project>/<dataset>@<version>')
    .action(async (ref: string) => {
      const r = parseDatasetRef(ref);
      const api = client();
      const v = await resolveVersion(api, r);
      type Col = {
        name: string;
        type: string;
        missing: number;
        count: number;
        min?: number | string;
        max?: number | string;
        mean?: number;
        top?: { value: string; count: number }[];
      };
      const res = await api.request<{
        version: number;
        rowCount: number | null;
        contentDigest: string;
        createdBy: string;
        createdAt: string;
        message: string;
        schema: { encoding: string; delimiter: string; columns: Col[] } | null;
        files?: { path: string; size: number }[];
      }>('GET', `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/versions/${v}`);
      print(res, () => {
        const head = `${r.project}/${r.dataset}@${res.version}  ${res.contentDigest}\nby ${res.createdBy} at ${res.createdAt}${res.message ? ` — ${res.message}` : ''}`;
        if (!res.schema)
          return `${head}\n${table(
            (res.files ?? []).map((f) => [f.path, bytes(f.size)]),
            ['FILE', 'SIZE'],
          )}`;
        const fmt = (x: unknown) =>
          typeof x === 'number'
            ? Number.isInteger(x)
              ? String(x)
              : x.toPrecision(4)
            : x === undefined
              ? ''
              : String(x);
        return (
          `${head}\n${res.rowCount} rows, encoding ${res.schema.encoding}, delimiter ${JSON.stringify(res.schema.delimiter)}\n` +
          table(
            res.schema.columns.map((c) => [
              c.name,
              c.type,
              c.missing,
              fmt(c.min),
              fmt(c.max),
              fmt(c.mean),
              (c.top ?? [])
                .slice(0, 3)
                .map((t) => `${t.value}(${t.count})`)
                .join(' '),
            ]),
            ['COLUMN', 'TYPE', 'MISSING', 'MIN', 'MAX', 'MEAN', 'TOP'],
          )
        );
      });
    });

  dataset
    .command('pull <ref> <out>')
    .description(
      'download <project>/<dataset>@<version> (a CSV file, or a directory for files datasets); the digest is verified',
    )
    .option('--force', 'replace a file that already exists at <out> (by default an existing file is never touched)')
    .action(async (ref: string, out: string, o: { force?: boolean }) => {
      const r = parseDatasetRef(ref, true);
      const api = client();
      const v = await resolveVersion(api, r);
      const base = `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/versions/${v}`;
      const info = await api.request<{
        kind: string;
        sizeBytes: number;
        contentDigest: string;
        files?: { path: string; digest: string; size: number }[];
      }>('GET', base);
      // Checked before the first byte: a pull never replaces a user's file unless asked to.
      const targets =
        info.kind === 'tabular' ? [out] : (info.files ?? []).map((f) => path.resolve(path.resolve(out), f.path));
      const existing = o.force ? undefined : targets.find((t) => existsSync(t));
      if (existing !== undefined)
        throw new CliError(
          'FILE_EXISTS',
          `${existing} already exists; pull to another path, or pass --force to replace it`,
        );
      const bar = progressBar(`pull ${r.project}/${r.dataset}@${v}`, !json);
      try {
        if (info.kind === 'tabular') {
          // The version's recorded digest, not only the one the download response carries: a proxy or cache that
          // alters both the bytes and their header is still caught.
          const d = await api.download(`${base}/content`, out, bar.update, info.contentDigest);
          bar.stop();
          print({ file: out, ...d }, () => `saved ${out} (${bytes(d.size)}, ${d.digest} verified)`);
        } else {
          let done = 0;
          const outRoot = path.resolve(out);
          for (const f of info.files ?? []) {
            const target = path.resolve(outRoot, f.path);
            if (!target.startsWith(outRoot + path.sep))
              throw new CliError('INVALID_PATH', `refusing to write ${f.path} outside ${out}`);
            const before = done;
            await api.download(
              `${base}/files/${f.digest}`,
              target,
              (n) => bar.update(before + n, info.sizeBytes),
              f.digest,
            );
            done += f.size;
          }
          bar.stop();
          print(
            { directory: out, files: info.files?.length ?? 0 },
            () => `saved ${info.files?.length ?? 0} file(s) under ${out} (each verified)`,
          );
        }
      } finally {
        bar.stop();
      }
    });

  // ---------- training ----------
  const policy = program
    .command('policy')
    .description('training policies: what to predict from a dataset, and when to train');
  policy
    .command('set <ref>')
    .description('set the training policy of <project>/<dataset> (replaces the previous one)')
    .requiredOption('--target <column>', 'outcome column')
    .option('--positive <value>', 'value of the outcome that counts as positive', '1')
    .option('--group <column>', 'patient key: rows of one patient never straddle training and evaluation')
    .option('--include <columns>', 'comma-separated feature columns (default: all)')
    .option('--exclude <columns>', 'comma-separated columns to leave out', '')
    .option(
      '--subgroups <columns>',
      'comma-separated columns to report subgroup metrics for (sex and age are automatic)',
      '',
    )
    .option('--algorithms <list>', 'gbdt, logreg or both', 'gbdt,logreg')
    .option('--trials <n>', 'hyperparameter trials', '30')
    .option('--minutes <n>', 'time budget in minutes')
    .option('--metric <name>', 'search metric', 'auc')
    .option('--folds <n>', 'cross-validation folds (default 5, or 3 above 20,000 training rows)')
    .option('--search-rows <n>', 'trials search on a patient-grouped sample of this many rows (default 30,000)')
    .option(
      '--parallel-trials <n>',
      'trials at once, each in a worker thread (default 2; part of what a seed reproduces)',
    )
    .option('--holdout <fraction>', 'holdout fraction', '0.2')
    .option('--seed <n>', 'random seed', '42')
    .option('--model <name>', 'model name (default: the dataset name)')
    .option('--description <text>', 'intended use, shown in the model card', '')
    .option('--missing-target <what>', 'drop or fail', 'drop')
    .option('--sensitivity <target>', 'choose the threshold reaching this sensitivity (default: Youden J)')
    .option('--on-new-version', 'start a study whenever a new version of the dataset is pushed')
    .action(async (ref: string, o: Record<string, string | boolean | undefined>) => {
      const r = parseDatasetRef(ref);
      const list = (s: unknown) =>
        typeof s === 'string' && s
          ? s
              .split(',')
              .map((x) => x.trim())
              .filter(Boolean)
          : [];
      const spec = {
        target: o.target,
        positive: o.positive,
        ...(o.group ? { group: o.group } : {}),
        ...(o.include ? { include: list(o.include) } : {}),
        exclude: list(o.exclude),
        subgroups: list(o.subgroups),
        algorithms: list(o.algorithms),
        trials: Number(o.trials),
        ...(o.minutes ? { timeoutMinutes: Number(o.minutes) } : {}),
        metric: o.metric,
        ...(o.folds ? { folds: Number(o.folds) } : {}),
        ...(o.searchRows ? { searchRows: Number(o.searchRows) } : {}),
        ...(o.parallelTrials ? { parallelTrials: Number(o.parallelTrials) } : {}),
        holdoutFraction: Number(o.holdout),
        seed: Number(o.seed),
        ...(o.model ? { model: o.model } : {}),
        description: o.description,
        missingTarget: o.missingTarget,
        threshold: o.sensitivity ? { method: 'sensitivity', target: Number(o.sensitivity) } : { method: 'youden' },
        onNewVersion: !!o.onNewVersion,
      };
      const res = await client().request<{ revision: number; spec: { onNewVersion: boolean; trials: number } }>(
        'PUT',
        `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/policy`,
        { json: spec },
      );
      print(
        res,
        () =>
          `policy for ${r.project}/${r.dataset} is now revision ${res.revision} (${res.spec.trials} trials${res.spec.onNewVersion ? '; trains on every new version' : ''})`,
      );
    });
  policy.command('show <ref>').action(async (ref: string) => {
    const r = parseDatasetRef(ref);
    const res = await client().request<{ revision: number; updatedBy: string; spec: unknown }>(
      'GET',
      `/projects/${enc(r.project)}/datasets/${enc(r.dataset)}/policy`,
    );
    print(res, () => `revision ${res.revision} by ${res.updatedBy}\n${JSON.stringify(res.spec, null, 2)}`);
  });

  type StudyJson = {
    id: string;
    dataset: string;
    datasetVersion: number;
    status: string;
    trials: number;
    trialsDone: number;
    bestValue: number | null;
    metric: string;
    error: string | null;
    modelVersion: { model: string; version: number } | null;
    createdAt: string;
  };
  const fmtStudy = (s: StudyJson) =>
    `${s.id}  ${s.dataset}@${s.datasetVersion}  ${s.status}  trials ${s.trialsDone}/${s.trials}  best ${s.metric.toUpperCase()} ${s.bestValue === null ? '–' : s.bestValue.toFixed(4)}${s.modelVersion ? `  → ${s.modelVersion.model}@${s.modelVersion.version}` : ''}${s.error ? `\n  error: ${s.error}` : ''}`;
  const parseStudyRef = (ref: string) => {
    const m = /^([^/]+)\/([A-Za-z0-9]+)$/.exec(ref);
    if (!m) throw new CliError('BAD_REFERENCE', `"${ref}" is not <project>/<study-id>`);
    return { project: m[1]!, id: m[2]! };
  };
  const study = program.command('study').description('hyperparameter studies');
  study
    .command('start <ref>')
    .description('start a study of <project>/<dataset>@<version> under its policy')
    .action(async (ref: string) => {
      const r = parseDatasetRef(ref, true);
      const api = client();
      const v = await resolveVersion(api, r);
      const s = await api.request<StudyJson>('POST', `/projects/${enc(r.project)}/studies`, {
        json: { dataset: r.dataset, version: v },
      });
      print(s, () => `started study ${r.project}/${s.id}; follow it with \`ichigen study watch ${r.project}/${s.id}\``);
    });
  study
    .command('list <project>')
    .option('--status <status>', 'queued, running, succeeded, failed or cancelled')
    .action(async (slug: string, o: { status?: string }) => {
      const res = await client().request<{ studies: StudyJson[] }>('GET', `/projects/${enc(slug)}/studies`, {
        query: { status: o.status },
      });
      print(res, () => res.studies.map(fmtStudy).join('\n') || 'no studies');
    });
  study.command('show <ref>').action(async (ref: string) => {
    const r = parseStudyRef(ref);
    const s = await client().request<
      StudyJson & {
        trialsList: { number: number; algorithm: string; state: string; value: number | null; durationMs: number }[];
      }
    >('GET', `/projects/${enc(r.project)}/studies/${enc(r.id)}`);
    print(
      s,
      () =>
        `${fmtStudy(s)}\n` +
        table(
          s.trialsList.map((t) => [
            t.number,
            t.algorithm,
            t.state,
            t.value === null ? null : t.value.toFixed(4),
            `${(t.durationMs / 1000).toFixed(1)} s`,
          ]),
          ['TRIAL', 'ALGORITHM', 'STATE', 'CV', 'TIME'],
        ),
    );
  });
  study
    .command('watch <ref>')
    .description('follow a study until it ends; exits 1 if it failed or was cancelled')
    .option('--interval <seconds>', 'poll interval', '2')
    .action(async (ref: string, o: { interval: string }) => {
      const r = parseStudyRef(ref);
      const api = client();
      let last = '';
      for (;;) {
        const s = await api.request<StudyJson>('GET', `/projects/${enc(r.project)}/studies/${enc(r.id)}`);
        const line = `${s.status}: ${s.trialsDone}/${s.trials} trials, best ${s.metric.toUpperCase()} ${s.bestValue === null ? '–' : s.bestValue.toFixed(4)}`;
        if (!json && line !== last) io.err(line);
        last = line;
        if (['succeeded', 'failed', 'cancelled'].includes(s.status)) {
          print(s, () => fmtStudy(s));
          if (s.status !== 'succeeded') exitCode = 1;
          return;
        }
        await new Promise((res) => setTimeout(res, Math.max(0.2, Number(o.interval)) * 1000));
      }
    });
  study.command('cancel <ref>').action(async (ref: string) => {
    const r = parseStudyRef(ref);
    const s = await client().request<StudyJson>('POST', `/projects/${enc(r.project)}/studies/${enc(r.id)}/cancel`);
    print(s, () => `cancel requested: ${fmtStudy(s)}`);
  });

  // ---------- models ----------
  type VersionJson = {
    model: string;
    version: number;
    stage: string;
    algorithm: string;
    dataset: string;
    datasetVersion: number;
    auc: number;
    aucCi: { lower: number; upper: number };
    trainedBy: string;
    createdAt: string;
  };
  const parseModelRef = (ref: string) => {
    const m = /^([^/@]+)\/([^/@]+)@(\d+)$/.exec(ref);
    if (!m) throw new CliError('BAD_REFERENCE', `"${ref}" is not <project>/<model>@<version>`);
    return { project: m[1]!, model: m[2]!, version: Number(m[3]) };
  };
  const model = program.command('model').description('the model registry: versions, cards, approval');
  model
    .command('list <project>')
    .option('--model <name>', 'only this model')
    .action(async (slug: string, o: { model?: string }) => {
      const res = await client().request<{ versions: VersionJson[] }>('GET', `/projects/${enc(slug)}/models`, {
        query: { model: o.model },
      });
      print(res, () =>
        table(
          res.versions.map((v) => [
            `${v.model}@${v.version}`,
            v.stage,
            v.algorithm,
            `${v.dataset}@${v.datasetVersion}`,
            `${v.auc.toFixed(3)} [${v.aucCi.lower.toFixed(3)}, ${v.aucCi.upper.toFixed(3)}]`,
            v.trainedBy,
            v.createdAt,
          ]),
          ['MODEL', 'STAGE', 'ALGORITHM', 'DATASET', 'AUC [95% CI]', 'TRAINED BY', 'CREATED'],
        ),
      );
    });
  model
    .command('show <ref>')
    .description('metrics, subgroups, lineage and the model card of <project>/<model>@<version>')
    .action(async (ref: string) => {
      const r = parseModelRef(ref);
      const res = await client().request<
        VersionJson & {
          cardMarkdown: string;
          stageHistory: { from: string; to: string; by: string; reason: string; at: string }[];
        }
      >('GET', `/projects/${enc(r.project)}/models/${enc(r.model)}/versions/${r.version}`);
      print(
        res,
        () =>
          `${res.cardMarkdown}\n## Stage: ${res.stage}\n${res.stageHistory.map((h) => `- ${h.at} ${h.from} → ${h.to} by ${h.by}: ${h.reason}`).join('\n')}`,
      );
    });
  model
    .command('approve <ref>')
    .requiredOption('--reason <text>', 'why this version may reach patients')
    .option('--retire-previous', 'retire the currently approved version(s) of this model')
    .action(async (ref: string, o: { reason: string; retirePrevious?: boolean }) => {
      const r = parseModelRef(ref);
      const res = await client().request<{ retired: number[] }>(
        'POST',
        `/projects/${enc(r.project)}/models/${enc(r.model)}/versions/${r.version}/approve`,
        { json: { reason: o.reason, retirePrevious: !!o.retirePrevious } },
      );
      print(
        res,
        () =>
          `approved ${r.model}@${r.version}${res.retired.length ? `; retired ${res.retired.map((v) => `@${v}`).join(', ')}` : ''}`,
      );
    });
  model
    .command('retire <ref>')
    .requiredOption('--reason <text>', 'why')
    .action(async (ref: string, o: { reason: string }) => {
      const r = parseModelRef(ref);
      const res = await client().request(
        'POST',
        `/projects/${enc(r.project)}/models/${enc(r.model)}/versions/${r.version}/retire`,
        { json: { reason: o.reason } },
      );
      print(res, () => `retired ${r.model}@${r.version}`);
    });

  model
    .command('import <ref> <file>')
    .description(
      "register an ONNX model trained elsewhere as <project>/<model>; Ichigen evaluates it on the dataset version's holdout (pickles are never accepted)",
    )
    .requiredOption('--dataset <dataset@version>', 'the dataset version it was trained on')
    .requiredOption('--columns <list>', 'its input columns, comma-separated, in order')
    .option('--target <column>', "outcome column (default: from the dataset's policy)")
    .option('--positive <value>', 'positive outcome value')
    .option('--group <column>', 'patient key for the holdout')
    .option('--framework <name>', 'e.g. scikit-learn 1.2, PyTorch 2.1')
    .option('--description <text>', 'intended use')
    .action(async (ref: string, file: string, o: Record<string, string | undefined>) => {
      const m = /^([^/@]+)\/([^/@]+)$/.exec(ref);
      if (!m) throw new CliError('BAD_REFERENCE', `"${ref}" is not <project>/<model>`);
      const d = /^([^/@]+)@(\d+)$/.exec(o.dataset ?? '');
      if (!d) throw new CliError('BAD_REFERENCE', `--dataset must be <dataset>@<version>`);
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) throw new CliError('FILE_NOT_FOUND', `no file ${file}`);
      const res = await client().upload<{
        model: string;
        version: number;
        auc: number;
        aucCi: { lower: number; upper: number };
      }>(`/projects/${enc(m[1]!)}/models/${enc(m[2]!)}/versions`, createReadStream(file), {
        size: st.size,
        contentType: 'application/octet-stream',
        query: {
          dataset: d[1]!,
          version: d[2]!,
          columns: o.columns,
          target: o.target,
          positive: o.positive,
          group: o.group,
          framework: o.framework,
          description: o.description,
        },
      });
      print(
        res,
        () =>
          `registered ${res.model}@${res.version} (candidate): holdout AUC ${res.auc.toFixed(3)} [${res.aucCi.lower.toFixed(3)}, ${res.aucCi.upper.toFixed(3)}]`,
      );
    });

  program
    .command('predict <ref> <rows>')
    .description('score a CSV of rows with <project>/<model>@<version>: one prediction per row, in input order')
    .action(async (ref: string, file: string) => {
      const r = parseModelRef(ref);
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) throw new CliError('FILE_NOT_FOUND', `no file ${file}`);
      const res = await client().upload<{
        predictions: {
          id: string;
          probability: number;
          label: number;
          contributions: { feature: string; value: unknown; contribution: number }[] | null;
        }[];
      }>(`/projects/${enc(r.project)}/models/${enc(r.model)}/versions/${r.version}/predict`, createReadStream(file), {
        size: st.size,
        contentType: 'text/csv',
      });
      print(res, () =>
        table(
          res.predictions.map((p, i) => [
            i + 1,
            p.probability.toFixed(4),
            p.label,
            (p.contributions ?? [])
              .slice(0, 3)
              .map(
                (c) => `${c.feature}=${c.value ?? '∅'} (${c.contribution >= 0 ? '+' : ''}${c.contribution.toFixed(2)})`,
              )
              .join(', '),
          ]),
          ['ROW', 'PROBABILITY', 'LABEL', 'TOP CONTRIBUTIONS (log-odds)'],
        ),
      );
    });

  program
    .command('score <ref>')
    .description(
      'batch-score a dataset version with <project>/<model>@<version>; the scores become a new dataset version (waits for the job)',
    )
    .requiredOption('--input <dataset@version>', 'the tabular dataset version to score')
    .requiredOption('--output <dataset>', 'dataset that receives the scores')
    .option('--keep <columns>', 'input columns to copy next to the scores (e.g. patient_id)', '')
    .action(async (ref: string, o: { input: string; output: string; keep: string }) => {
      const r = parseModelRef(ref);
      const d = /^([^/@]+)@(\d+)$/.exec(o.input);
      if (!d) throw new CliError('BAD_REFERENCE', '--input must be <dataset>@<version>');
      const api = client();
      const keep = o.keep
        ? o.keep
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : [];
      const { job } = await api.request<{ job: { id: string } }>(
        'POST',
        `/projects/${enc(r.project)}/models/${enc(r.model)}/versions/${r.version}/score`,
        { json: { dataset: d[1], datasetVersion: Number(d[2]), output: o.output, keep } },
      );
      let last = '';
      for (;;) {
        const j = await api.request<{
          state: string;
          progress: { rowsDone?: number; rows?: number } | null;
          result: { output: string; version: number; rows: number; positives: number } | null;
          lastError: string | null;
        }>('GET', `/projects/${enc(r.project)}/jobs/${enc(job.id)}`);
        const line = j.progress?.rows ? `scored ${j.progress.rowsDone}/${j.progress.rows} rows` : '';
        if (!json && line && line !== last) io.err(line);
        last = line;
        if (['succeeded', 'failed', 'cancelled'].includes(j.state)) {
          if (j.state !== 'succeeded')
            throw new CliError('JOB_FAILED', `batch scoring ${j.state}: ${j.lastError ?? ''}`);
          print(
            j.result,
            () =>
              `${j.result!.rows} rows scored (${j.result!.positives} above the threshold) → ${r.project}/${j.result!.output}@${j.result!.version}`,
          );
          return;
        }
        await new Promise((res) => setTimeout(res, 1000));
      }
    });

  program
    .command('lineage <ref>')
    .description(
      'what came from <project>/<dataset>@<version> (or, for <project>/<model>@<version> with --model, what it came from)',
    )
    .option('--model', 'the reference is a model version')
    .option('--direction <d>', 'downstream, upstream or both')
    .action(async (ref: string, o: { model?: boolean; direction?: string }) => {
      const r = o.model ? parseModelRef(ref) : parseDatasetRef(ref, true);
      const api = client();
      const query = o.model
        ? {
            model: (r as { model: string }).model,
            modelVersion: (r as { version: number }).version,
            direction: o.direction,
          }
        : {
            dataset: (r as DatasetRef).dataset,
            version: await resolveVersion(api, r as DatasetRef),
            direction: o.direction,
          };
      const g = await api.request<{
        nodes: { kind: string; id: string; label: string; detail?: Record<string, unknown> }[];
        edges: { from: { kind: string; id: string }; to: { kind: string; id: string }; relation: string }[];
      }>('GET', `/projects/${enc(r.project)}/lineage`, { query });
      print(g, () => {
        // Keyed by kind and id: a model version and its predictions node share the id.
        const k = (n: { kind: string; id: string }) => `${n.kind}:${n.id}`;
        // The kind names the node unless its label already says it ("study 0a65f2b9", "9 predictions").
        const named = (n: { kind: string; label: string }) => {
          const kind = n.kind.replace('_', ' ');
          return n.label.split(' ').includes(kind) ? n.label : `${kind} ${n.label}`;
        };
        const label = new Map(
          g.nodes.map((n) => [k(n), `${named(n)}${n.detail ? ` ${JSON.stringify(n.detail)}` : ''}`]),
        );
        return (
          g.edges.map((e) => `${label.get(k(e.from))}  --${e.relation}-->  ${label.get(k(e.to))}`).join('\n') ||
          `${(g.nodes[0] && label.get(k(g.nodes[0]))) ?? ref}: nothing linked yet`
        );
      });
    });

  // ---------- recipes ----------
  type RecipeRunJson = {
    id: string;
    project: string;
    recipe: string;
    recipeVersion: string;
    status: string;
    output: { dataset: string; version: number | null };
    error: string | null;
    progress: { stage?: string } | null;
    report: Record<string, unknown> | null;
    createdBy: string;
    createdAt: string;
  };
  const collect = (v: string, acc: string[]) => [...acc, v];
  const fmtRun = (r: RecipeRunJson) =>
    `${r.project}/${r.id}  ${r.recipe}@${r.recipeVersion}  ${r.status}  → ${r.output.dataset}@${r.output.version ?? '–'}  by ${r.createdBy} ${r.createdAt}${r.error ? `\n  error: ${r.error}` : ''}`;
  const recipe = program.command('recipe').description('versioned dataset transforms (labels, feature windows)');
  recipe
    .command('list')
    .description('built-in recipes, their input roles and parameters (defaults shown)')
    .action(async () => {
      type Prop = { default?: unknown; description?: string; properties?: Record<string, Prop> };
      const res = await client().request<{
        recipes: {
          name: string;
          version: string;
          description: string;
          inputs: { role: string; required: boolean; description: string }[];
          paramsSchema: { properties?: Record<string, Prop> };
        }[];
      }>('GET', '/recipes');
      const params = (props: Record<string, Prop> | undefined, prefix = ''): string[] =>
        Object.entries(props ?? {}).flatMap(([k, p]) =>
          p.properties
            ? params(p.properties, `${prefix}${k}.`)
            : [`    ${prefix}${k} = ${JSON.stringify(p.default)}${p.description ? `  — ${p.description}` : ''}`],
        );
      print(res, () =>
        res.recipes
          .map(
            (r) =>
              `${r.name}@${r.version}\n  ${r.description}\n  inputs:\n` +
              r.inputs.map((i) => `    ${i.role}${i.required ? '' : ' (optional)'}: ${i.description}`).join('\n') +
              `\n  parameters:\n${params(r.paramsSchema.properties).join('\n')}`,
          )
          .join('\n\n'),
      );
    });
  recipe
    .command('run <name>')
    .description(
      'run a recipe over dataset versions into a new version of --output; waits and prints the output version',
    )
    .requiredOption('--project <project>', 'project')
    .option(
      '--input <role=dataset@version>',
      'an input (repeat for each role); @latest for the newest version',
      collect,
      [],
    )
    .option(
      '--param <key=value>',
      'a parameter (repeat); values are JSON when they parse (7.5, true, ["a"]), else text; a.b=v sets a nested field',
      collect,
      [],
    )
    .requiredOption('--output <dataset>', 'the dataset the result is pushed to')
    .option('--no-wait', 'return once the run is queued')
    .option('--interval <seconds>', 'poll interval while waiting', '0.5')
    .action(
      async (
        name: string,
        o: { project: string; input: string[]; param: string[]; output: string; wait: boolean; interval: string },
      ) => {
        const api = client();
        const inputs: Record<string, { dataset: string; version: number }> = {};
        for (const spec of o.input) {
          const m = /^([^=]+)=([^@=]+)@(\d+|latest)$/.exec(spec);
          if (!m) throw new CliError('BAD_OPTION', `--input "${spec}" is not <role>=<dataset>@<version>`);
          const version = await resolveVersion(api, {
            project: o.project,
            dataset: m[2]!,
            version: m[3] === 'latest' ? 'latest' : Number(m[3]),
          });
          inputs[m[1]!] = { dataset: m[2]!, version };
        }
        const params: Record<string, unknown> = {};
        for (const spec of o.param) {
          const eq = spec.indexOf('=');
          if (eq <= 0) throw new CliError('BAD_OPTION', `--param "${spec}" is not <key>=<value>`);
          const keys = spec.slice(0, eq).split('.');
          const raw = spec.slice(eq + 1);
          let value: unknown = raw;
          try {
            value = JSON.parse(raw);
          } catch {
            // not JSON: the text itself
          }
          let target = params;
          for (const k of keys.slice(0, -1)) {
            const next = target[k];
            target = (target[k] = next && typeof next === 'object' ? next : {}) as Record<string, unknown>;
          }
          target[keys[keys.length - 1]!] = value;
        }
        const started = await api.request<{ run: RecipeRunJson; created: boolean }>(
          'POST',
          `/projects/${enc(o.project)}/recipes/${enc(name)}/runs`,
          { json: { inputs, params, output: o.output } },
        );
        let run = started.run;
        io.err(`${started.created ? 'started' : 'found existing'} recipe run ${o.project}/${run.id} (${run.status})`);
        let last = '';
        while (o.wait && !['succeeded', 'failed', 'cancelled'].includes(run.status)) {
          await new Promise((res) => setTimeout(res, Math.max(0.1, Number(o.interval) || 0.5) * 1000));
          run = await api.request<RecipeRunJson>('GET', `/projects/${enc(o.project)}/recipe-runs/${enc(run.id)}`);
          const line = `${run.status}${run.progress?.stage ? `: ${run.progress.stage}` : ''}`;
          if (line !== last) io.err(line);
          last = line;
        }
        if (run.status === 'failed' || run.status === 'cancelled') {
          exitCode = 1;
          if (!json) io.err(`recipe run ${run.status}: ${run.error ?? ''}`);
        }
        const rep = run.report as { eligible?: number; positives?: number; prevalence?: number | null } | null;
        if (!json && run.status === 'succeeded' && rep?.eligible !== undefined)
          io.err(
            `${rep.eligible} rows, ${rep.positives ?? '?'} positive (${((rep.prevalence ?? 0) * 100).toFixed(1)} %)`,
          );
        print(run, () =>
          run.status === 'succeeded' ? `${run.project}/${run.output.dataset}@${run.output.version}` : fmtRun(run),
        );
      },
    );
  recipe
    .command('runs <project>')
    .description('recent recipe runs of a project')
    .option('--recipe <name>', 'only runs of this recipe')
    .action(async (slug: string, o: { recipe?: string }) => {
      const res = await client().request<{ runs: RecipeRunJson[] }>('GET', `/projects/${enc(slug)}/recipe-runs`, {
        query: { recipe: o.recipe },
      });
      print(res, () => res.runs.map(fmtRun).join('\n') || 'no recipe runs');
    });
  recipe
    .command('show <ref>')
    .description('one run: <project>/<run-id>, with its parameters, inputs and report')
    .action(async (ref: string) => {
      const m = /^([^/]+)\/([A-Za-z0-9]+)$/.exec(ref);
      if (!m) throw new CliError('BAD_REFERENCE', `"${ref}" is not <project>/<run-id>`);
      const r = await client().request<RecipeRunJson & { params: unknown; inputs: unknown }>(
        'GET',
        `/projects/${enc(m[1]!)}/recipe-runs/${enc(m[2]!)}`,
      );
      print(
        r,
        () => `${fmtRun(r)}\n${JSON.stringify({ inputs: r.inputs, params: r.params, report: r.report }, null, 2)}`,
      );
    });

  // ---------- synthetic data ----------
  const synth = program.command('synth').description('synthetic data for demos and tests (no server needed)');
  synth
    .command('diabetes')
    .description('a synthetic diabetes EHR: DWH CSVs (UTF-8 and CP932), ground truth, FHIR R4 bundles')
    .option('--patients <n>', 'number of patients', '20000')
    .option('--seed <n>', 'random seed (same seed, same bytes)', '7')
    .requiredOption('--out <dir>', 'output directory')
    .option('--fhir-patients <n>', 'FHIR bundles for the first N patients ("all" for every patient)', '500')
    .option('--no-cp932', 'skip the CP932 (Shift_JIS) copies')
    .action(async (o: { patients: string; seed: string; out: string; fhirPatients: string; cp932: boolean }) => {
      const int = (flag: string, v: string, min: number, max: number) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < min || n > max)
          throw new CliError('BAD_OPTION', `--${flag} must be a whole number from ${min} to ${max}, not "${v}"`);
        return n;
      };
      const patients = int('patients', o.patients, 1, 1_000_000);
      const { writeDiabetesCohort } = await import('../synth/write.js');
      const s = await writeDiabetesCohort({
        patients,
        seed: int('seed', o.seed, 0, 2 ** 31 - 1),
        out: o.out,
        fhirPatients: o.fhirPatients === 'all' ? patients : int('fhir-patients', o.fhirPatients, 0, 1_000_000),
        cp932: o.cp932,
        onProgress: (done, total) => io.err(`generated ${done}/${total} patients`),
      });
      print(s, () =>
        [
          `wrote ${s.patients} patients to ${o.out} in ${(s.ms / 1000).toFixed(1)} s`,
          ...Object.entries(s.files).map(([f, x]) => `  ${f}: ${x.rows} rows, ${bytes(x.bytes)}`),
          `  fhir/: ${s.fhirBundles} bundles`,
        ].join('\n'),
      );
    });

  // ---------- deployments, rule models and the CDS Hooks channel ----------
  const readJsonFile = async (file: string): Promise<unknown> => {
    const text = await readFile(file, 'utf8').catch(() => {
      throw new CliError('FILE_NOT_FOUND', `no file ${file}`);
    });
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new CliError('BAD_JSON', `${file} is not valid JSON: ${(e as Error).message}`);
    }
  };
  const parseNameRef = (ref: string, what: string) => {
    const m = /^([^/@]+)\/([^/@]+)$/.exec(ref);
    if (!m) throw new CliError('BAD_REFERENCE', `"${ref}" is not <project>/<${what}>`);
    return { project: m[1]!, name: m[2]! };
  };
  type DeploymentJson = {
    name: string;
    version: number;
    status: string;
    statusReason: string;
    target: { kind: string; name: string; version: number };
    service: string;
    hooks: string[];
    predictions?: number;
    overrideRate?: number | null;
  };
  const deployment = program
    .command('deployment')
    .description('deployments: an approved model or rule version bound to applicability, FHIR mapping and a card');
  deployment
    .command('put <ref> <spec>')
    .description('create <project>/<name> from a JSON spec file, or add a new version of it (see docs/cds-hooks.md)')
    .action(async (ref: string, file: string) => {
      const r = parseNameRef(ref, 'deployment');
      const res = await client().request<{ version: number; created: boolean }>(
        'PUT',
        `/projects/${enc(r.project)}/deployments/${enc(r.name)}`,
        { json: await readJsonFile(file) },
      );
      print(res, () => (res.created ? `deployed ${r.name} v${res.version}` : `${r.name} v${res.version} unchanged`));
    });
  deployment.command('list <project>').action(async (slug: string) => {
    const res = await client().request<{ deployments: DeploymentJson[] }>('GET', `/projects/${enc(slug)}/deployments`);
    print(res, () =>
      table(
        res.deployments.map((d) => [
          `${d.name} v${d.version}`,
          d.status,
          `${d.target.kind} ${d.target.name}@${d.target.version}`,
          d.hooks.map((h) => `${d.service}-${h}`).join(', '),
          d.predictions ?? 0,
          d.overrideRate === null || d.overrideRate === undefined ? '–' : `${(100 * d.overrideRate).toFixed(0)} %`,
        ]),
        ['DEPLOYMENT', 'STATUS', 'TARGET', 'CDS SERVICES', 'PREDICTIONS', 'OVERRIDDEN'],
      ),
    );
  });
  deployment.command('show <ref>').action(async (ref: string) => {
    const r = parseNameRef(ref, 'deployment');
    const res = await client().request<
      DeploymentJson & { history: { version: number; target: string; createdBy: string; createdAt: string }[] }
    >('GET', `/projects/${enc(r.project)}/deployments/${enc(r.name)}`);
    print(res, () =>
      [
        `${res.name} v${res.version}: ${res.status}${res.statusReason ? ` (${res.statusReason})` : ''}`,
        `target: ${res.target.kind} ${res.target.name}@${res.target.version}; services: ${res.hooks.map((h) => `${res.service}-${h}`).join(', ')}`,
        ...res.history.map((h) => `- v${h.version} ${h.target} by ${h.createdBy} at ${h.createdAt}`),
      ].join('\n'),
    );
  });
  deployment
    .command('withdraw <ref>')
    .requiredOption('--reason <text>', 'why')
    .action(async (ref: string, o: { reason: string }) => {
      const r = parseNameRef(ref, 'deployment');
      const res = await client().request('POST', `/projects/${enc(r.project)}/deployments/${enc(r.name)}/withdraw`, {
        json: { reason: o.reason },
      });
      print(res, () => `withdrew ${r.name}`);
    });

  const rule = program
    .command('rule')
    .description('rule models: declarative JSON rules, versioned and approved like models');
  rule
    .command('register <ref> <file>')
    .description('register a new candidate version of <project>/<rule> from {"spec": …, "description": …}')
    .action(async (ref: string, file: string) => {
      const r = parseNameRef(ref, 'rule');
      const res = await client().request<{ version: number }>(
        'POST',
        `/projects/${enc(r.project)}/rules/${enc(r.name)}/versions`,
        {
          json: await readJsonFile(file),
        },
      );
      print(res, () => `registered ${r.name}@${res.version} (candidate)`);
    });
  rule.command('list <project>').action(async (slug: string) => {
    const res = await client().request<{
      versions: { rule: string; version: number; stage: string; createdBy: string; createdAt: string }[];
    }>('GET', `/projects/${enc(slug)}/rules`);
    print(res, () =>
      table(
        res.versions.map((v) => [`${v.rule}@${v.version}`, v.stage, v.createdBy, v.createdAt]),
        ['RULE', 'STAGE', 'BY', 'CREATED'],
      ),
    );
  });
  for (const verb of ['approve', 'retire'] as const)
    rule
      .command(`${verb} <ref>`)
      .description(
        `${verb} <project>/<rule>@<version>${verb === 'retire' ? ' (withdraws its deployments)' : ' (not by its author)'}`,
      )
      .requiredOption('--reason <text>', 'why')
      .action(async (ref: string, o: { reason: string }) => {
        const m = parseModelRef(ref);
        const res = await client().request(
          'POST',
          `/projects/${enc(m.project)}/rules/${enc(m.model)}/versions/${m.version}/${verb}`,
          {
            json: { reason: o.reason },
          },
        );
        print(res, () => `${verb === 'approve' ? 'approved' : 'retired'} ${m.model}@${m.version}`);
      });

  const cds = program.command('cds').description('the CDS Hooks channel: EHRs trusted to call it');
  cds
    .command('add-issuer <iss>')
    .description(
      "trust an EHR's JWT issuer; its service account gets the clinician role in --projects (administrators)",
    )
    .requiredOption('--jwks <file-or-url>', "the EHR's public keys: a JWKS file, or the https URL it publishes them at")
    .requiredOption('--projects <list>', 'comma-separated projects whose deployments it may call')
    .option('--jku-allow <url...>', 'https JWKS URLs the EHR may name in a token header (jku)')
    .option(
      '--base-url <url>',
      'the URL the EHR calls Ichigen at: the JWT aud must be exactly it followed by the called path (/cds-services…)',
    )
    .action(async (iss: string, o: { jwks: string; projects: string; jkuAllow?: string[]; baseUrl?: string }) => {
      const jwks = /^https?:\/\//.test(o.jwks) ? { jwksUrl: o.jwks } : { jwks: await readJsonFile(o.jwks) };
      const res = await client().request<{ serviceAccount: string; projects: string[] }>('PUT', '/cds/issuers', {
        json: {
          iss,
          ...jwks,
          projects: o.projects
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          ...(o.jkuAllow ? { jkuAllow: o.jkuAllow } : {}),
          ...(o.baseUrl ? { baseUrl: o.baseUrl } : {}),
        },
      });
      print(res, () => `trusted ${iss} as ${res.serviceAccount} (clinician in ${res.projects.join(', ')})`);
    });
  cds.command('issuers').action(async () => {
    const res = await client().request<{
      issuers: { iss: string; serviceAccount: string; jwks: string; projects: string[] }[];
    }>('GET', '/cds/issuers');
    print(res, () =>
      table(
        res.issuers.map((i) => [i.iss, i.serviceAccount, i.jwks, i.projects.join(',')]),
        ['ISSUER', 'ACCOUNT', 'JWKS', 'PROJECTS'],
      ),
    );
  });

  // ---------- demo ----------
  program
    .command('demo')
    .description(
      'the diabetes study end to end: synthetic EHR → recipe → study → approval → CDS Hooks cards (uses ICHIGEN_URL/ICHIGEN_TOKEN if set, else an embedded server)',
    )
    .option('--data <dir>', 'data directory of the embedded server', './ichigen-data')
    .option('--port <port>', 'port of the embedded server', '8080')
    .option('--project <slug>', 'project to create', 'diabetes')
    .option('--patients <n>', 'synthetic patients', '4000')
    .option('--trials <n>', 'hyperparameter trials', '20')
    .option('--exit', 'stop the embedded server once the curl is printed')
    .action(
      async (o: { data: string; port: string; project: string; patients: string; trials: string; exit?: boolean }) => {
        const { runDemo } = await import('./demo.js');
        const creds = { url: io.env.ICHIGEN_URL, token: io.env.ICHIGEN_TOKEN };
        let url: string;
        let token: string;
        let close: (() => Promise<void>) | undefined;
        let workDir: string;
        if (creds.url && creds.token) {
          url = creds.url.replace(/\/$/, '');
          token = creds.token;
          workDir = path.resolve('ichigen-demo');
        } else {
          const config = { ...configFrom({ data: o.data, port: o.port }), logLevel: 'warn' as const };
          const srv = await startServer(config, { print: (l) => io.err(l), handleSignals: !o.exit });
          close = srv.close;
          url = srv.url;
          const name = `demo-admin-${Date.now().toString(36)}`;
          const { user } = await srv.platform.auth.createUser(name, { admin: true, actor: 'demo' });
          token = (await srv.platform.auth.issueToken(user.id, 'ichigen demo', 'api', 86400_000)).token;
          workDir = path.join(config.dataDir, 'demo');
        }
        try {
          const r = await runDemo({
            url,
            adminToken: token,
            project: o.project,
            patients: Number(o.patients),
            trials: Number(o.trials),
            workDir,
            say: (l) => io.err(l),
          });
          print(r, () =>
            [
              '',
              `Model ${r.project}/${r.model.name}@${r.model.version} is approved and deployed: holdout AUC ${r.model.auc.toFixed(3)} [${r.model.aucCi.lower.toFixed(3)}, ${r.model.aucCi.upper.toFixed(3)}] (ground truth of the synthetic cohort: ${r.groundTruth})`,
              `Cards for sample patient ${r.patient}: ${r.cards.map((c) => `[${c.indicator}] ${c.summary}`).join(' | ')}`,
              '',
              'Ask the CDS Hooks service yourself within 5 minutes (the JWT is short-lived and single-use, as the CDS Hooks spec requires):',
              r.curl,
              '',
            ].join('\n'),
          );
          if (close && !o.exit) {
            io.err(`The server keeps running at ${url}; press Ctrl-C to stop it.`);
            await new Promise(() => undefined);
          }
        } finally {
          if (close && o.exit) await close();
        }
      },
    );

  // ---------- audit ----------
  const audit = program.command('audit').description('the tamper-evident audit trail');
  audit
    .command('verify')
    .description('check the hash chain end to end; exits 1 at the first broken link')
    .action(async () => {
      const r = await client().request<{ ok: boolean; events: number; firstBroken?: { seq: number; reason: string } }>(
        'GET',
        '/audit/verify',
      );
      print(r, () =>
        r.ok
          ? `audit chain intact: ${r.events} events verified`
          : `AUDIT CHAIN BROKEN at event ${r.firstBroken!.seq}: ${r.firstBroken!.reason}`,
      );
      if (!r.ok) exitCode = 1;
    });
  audit
    .command('list')
    .description('page through events, newest first')
    .option('--project <slug>', 'only this project (needs the auditor or owner role)')
    .option('--since <time>', 'ISO date or time')
    .option('--until <time>', 'ISO date or time')
    .option('--actor <user>')
    .option('--action <name>', 'e.g. dataset.download, auth.login')
    .option('--limit <n>', 'events per page', '50')
    .option('--before <seq>', 'events older than this sequence number')
    .action(async (opts: Record<string, string | undefined>) => {
      const r = await client().request<{
        events: {
          seq: number;
          at: string;
          actor: string | null;
          action: string;
          target: string | null;
          outcome: string;
          client: string | null;
        }[];
        nextBefore: number | null;
      }>('GET', '/audit', {
        query: {
          project: opts.project,
          since: opts.since,
          until: opts.until,
          actor: opts.actor,
          action: opts.action,
          limit: opts.limit,
          before: opts.before,
        },
      });
      print(
        r,
        () =>
          table(
            r.events.map((e) => [e.seq, e.at, e.actor, e.action, e.target, e.outcome, e.client]),
            ['SEQ', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'CLIENT'],
          ) + (r.nextBefore ? `\n(more: --before ${r.nextBefore})` : ''),
      );
    });

  // Known before parsing, so a usage error (set before any action's hook runs) is also answered in JSON.
  json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are answers, not errors; a usage error with --json is one JSON document on stdout too
      // (commander has written the usage text to stderr).
      const shown = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(e.code);
      if (json && !shown && e.exitCode !== 0) {
        io.out(JSON.stringify({ error: { code: 'USAGE', message: e.message.replace(/^error: /, '') } }, null, 2));
      }
      return e.exitCode;
    }
    const code = e instanceof CliError || e instanceof AppError ? e.code : 'ERROR';
    const message = e instanceof Error ? e.message : String(e);
    if (json) io.out(JSON.stringify({ error: { code, message } }, null, 2));
    else io.err(`ichigen: ${message}${code !== 'ERROR' ? ` (${code})` : ''}`);
    return e instanceof AppError && e.code === 'CONFIG_INVALID' ? 2 : 1;
  }
}

async function walk(dir: string): Promise<{ abs: string; rel: string; size: number }[]> {
  const out: { abs: string; rel: string; size: number }[] = [];
  const visit = async (d: string, prefix: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(abs, rel);
      else if (e.isFile()) out.push({ abs, rel, size: (await stat(abs)).size });
    }
  };
  await visit(dir, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}
