// Platform configuration: one zod schema, filled from defaults < config file < environment < command-line flags.
// Parsed once in main() and passed down; nothing reads process.env at import time.
import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.js';

const objectStoreSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fs'), root: z.string().min(1) }),
  z.object({
    kind: z.literal('s3'),
    url: z
      .string()
      .regex(
        /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?(\?.*)?$/,
        'must look like s3://bucket?endpoint=…&region=…',
      ),
  }),
]);

export const configSchema = z
  .object({
    host: z.string().min(1),
    port: z.coerce.number().int().min(0).max(65535),
    dataDir: z.string().min(1),
    /** `sqlite:<file>` or `postgres://…`. */
    databaseUrl: z.string().regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:<file> or postgres://…'),
    objectStore: objectStoreSchema,
    maxUploadBytes: z.coerce.number().int().positive(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /** Lifetime of tokens handed out by `login`. */
    sessionHours: z.coerce
      .number()
      .positive()
      .max(24 * 30),
    /** Default lifetime of API tokens created explicitly. */
    tokenDays: z.coerce.number().positive().max(3650),
    /** Where the audit MAC key and chain checkpoints live: outside the database on purpose. */
    secretsDir: z.string().min(1),
    /** Failed logins allowed per user and client address within `loginWindowSeconds`. */
    loginMaxFailures: z.coerce.number().int().positive(),
    loginWindowSeconds: z.coerce.number().int().positive(),
    /** A browser session ends after this long without a request (its absolute lifetime is `sessionHours`). */
    sessionIdleMinutes: z.coerce
      .number()
      .positive()
      .max(24 * 60 * 30),
    /**
     * The most trials a training policy may run at once (`parallelTrials`): each is a worker thread, so this bounds
     * what one study can take of a shared server. Default: the machine's cores, at least 2.
     */
    maxParallelTrials: z.coerce.number().int().min(1).max(64),
    /** Finished jobs (and their payload and progress) are deleted this many days after they end; 0 keeps them. */
    jobRetentionDays: z.coerce.number().int().min(0).max(36_500),
    /** Trust X-Forwarded-* from a reverse proxy: false (default), true, or its addresses/CIDRs (comma-separated). */
    trustProxy: z.preprocess(
      (v) => (v === 'true' ? true : v === 'false' || v === '' ? false : v),
      z.union([
        z.boolean(),
        z.string().regex(/^[0-9A-Za-z.:/, ]+$/, 'must be true, false, or proxy addresses (loopback, 10.0.0.0/8, …)'),
      ]),
    ),
    /** One info line per HTTP request (method, path, status, time); false turns it off (errors are still logged). */
    accessLog: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()),
    /** Directory of the built web console; default: the web package next to the installed server package. */
    webRoot: z.string().min(1).optional(),
    /**
     * The URL EHRs and browsers reach this server at (scheme://host[:port], no path). CDS Hooks JWTs must name it in
     * `aud` when their issuer has no base URL of its own; without either, the request's Host header is used.
     */
    publicUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://ichigen.hospital.local' })
      .refine((u) => URL.canParse(u) && new URL(u).pathname === '/' && !u.endsWith('/') && !/[?#]/.test(u), {
        message: 'must be scheme://host[:port] with no path, query or trailing slash',
      })
      .optional(),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** Environment variables and the setting each one fills. */
export const ENV_SETTINGS: Record<string, keyof Config> = {
  ICHIGEN_HOST: 'host',
  ICHIGEN_PORT: 'port',
  ICHIGEN_DATA: 'dataDir',
  ICHIGEN_DATABASE_URL: 'databaseUrl',
  ICHIGEN_OBJECT_STORE: 'objectStore',
  ICHIGEN_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  ICHIGEN_LOG_LEVEL: 'logLevel',
  ICHIGEN_SESSION_HOURS: 'sessionHours',
  ICHIGEN_TOKEN_DAYS: 'tokenDays',
  ICHIGEN_SECRETS_DIR: 'secretsDir',
  ICHIGEN_LOGIN_MAX_FAILURES: 'loginMaxFailures',
  ICHIGEN_LOGIN_WINDOW_SECONDS: 'loginWindowSeconds',
  ICHIGEN_SESSION_IDLE_MINUTES: 'sessionIdleMinutes',
  ICHIGEN_JOB_RETENTION_DAYS: 'jobRetentionDays',
  ICHIGEN_MAX_PARALLEL_TRIALS: 'maxParallelTrials',
  ICHIGEN_TRUST_PROXY: 'trustProxy',
  ICHIGEN_ACCESS_LOG: 'accessLog',
  ICHIGEN_WEB_ROOT: 'webRoot',
  ICHIGEN_PUBLIC_URL: 'publicUrl',
};

export interface ConfigSources {
  env?: Record<string, string | undefined>;
  /** Path of a JSON config file; `ICHIGEN_CONFIG` or `./ichigen.config.json` when not given. */
  file?: string;
  /** Values from command-line flags (highest precedence). */
  flags?: Partial<Record<keyof Config, unknown>>;
  cwd?: string;
}

/** Builds and validates the configuration; a bad value throws CONFIG_INVALID naming the setting. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  const cwd = sources.cwd ?? process.cwd();
  const raw: Record<string, unknown> = {};

  const filePath =
    sources.file ??
    env.ICHIGEN_CONFIG ??
    (existsSync(path.join(cwd, 'ichigen.config.json')) ? 'ichigen.config.json' : undefined);
  if (filePath) {
    const abs = path.resolve(cwd, filePath);
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch {
      throw new AppError('CONFIG_INVALID', 500, `config file ${filePath} cannot be read`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new AppError('CONFIG_INVALID', 500, `config file ${filePath} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AppError('CONFIG_INVALID', 500, `config file ${filePath} must hold a JSON object`);
    }
    Object.assign(raw, parsed);
  }
  for (const [name, key] of Object.entries(ENV_SETTINGS)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  for (const [k, v] of Object.entries(sources.flags ?? {})) if (v !== undefined) raw[k] = v;

  const dataDir = path.resolve(cwd, typeof raw.dataDir === 'string' ? raw.dataDir : './ichigen-data');
  raw.dataDir = dataDir;
  raw.host ??= '127.0.0.1';
  raw.port ??= 8080;
  raw.databaseUrl ??= `sqlite:${path.join(dataDir, 'ichigen.sqlite')}`;
  if (typeof raw.objectStore === 'string') {
    const s = raw.objectStore;
    raw.objectStore = s.startsWith('s3://')
      ? { kind: 's3', url: s }
      : { kind: 'fs', root: path.resolve(cwd, s.replace(/^file:\/\//, '')) };
  }
  raw.objectStore ??= { kind: 'fs', root: path.join(dataDir, 'objects') };
  raw.maxUploadBytes ??= 20 * 1024 ** 3;
  raw.logLevel ??= 'info';
  raw.sessionHours ??= 12;
  raw.tokenDays ??= 90;
  raw.secretsDir ??= path.join(dataDir, 'secrets');
  raw.loginMaxFailures ??= 5;
  raw.loginWindowSeconds ??= 300;
  raw.sessionIdleMinutes ??= 60;
  raw.jobRetentionDays ??= 30;
  raw.maxParallelTrials ??= Math.max(2, availableParallelism());
  raw.trustProxy ??= false;
  raw.accessLog ??= true;
  if (typeof raw.webRoot === 'string' && raw.webRoot !== '') raw.webRoot = path.resolve(cwd, raw.webRoot);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.map(String).join('.') || '(config)';
    const envName = Object.entries(ENV_SETTINGS).find(([, k]) => k === issue.path[0])?.[0];
    throw new AppError(
      'CONFIG_INVALID',
      500,
      `invalid setting ${key}${envName ? ` (${envName})` : ''}: ${issue.message}`,
    );
  }
  return result.data;
}
