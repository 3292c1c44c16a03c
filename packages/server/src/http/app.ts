// The HTTP edge: Fastify with zod schemas, OpenAPI at /openapi.json, bearer-token auth, and one error handler that
// turns every failure into { "error": { "code", "message", "details" } } without leaking stack traces.
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { registerAuditRoutes } from '../audit/routes.js';
import { registerAuthRoutes } from '../auth/routes.js';
import type { Principal } from '../auth/service.js';
import { CSRF_HEADER, SESSION_COOKIE, csrfMatches } from '../auth/sessions.js';
import { registerDatasetRoutes } from '../datasets/routes.js';
import { AppError, forbidden, unauthorized } from '../errors.js';
import type { Platform } from '../platform.js';
import { registerProjectRoutes } from '../projects/routes.js';
import { registerModelRoutes } from '../models/routes.js';
import { registerTrainingRoutes } from '../training/routes.js';
import { registerRecipeRoutes } from '../recipes/routes.js';
import { registerServingRoutes } from '../serving/routes.js';
import { registerDeploymentRoutes } from '../deployments/routes.js';
import { registerIssuerRoutes } from '../cds/issuer-routes.js';
import { cdsRoutes } from '../cds/routes.js';
import { newId } from '../util.js';
import { defaultWebRoot, registerConsole, type Console } from './console.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The presented session cookie was refused: the error answer also clears it. */
    sessionRefused?: boolean;
  }
}

/** The access log: one line when a request completes (method, path without query, status, milliseconds). */
class AccessLog extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = { method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request');
  }
}

export type App = FastifyInstance;
export const API = '/api/v1';

export interface AppOptions {
  logger?: boolean | { level: string };
  /** Serve HTTPS directly with this key and certificate (otherwise TLS is a reverse proxy's job). */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** Serve the web console at `/` (default true; `ichigen openapi` builds the app without it). */
  console?: boolean;
  /**
   * Start-up state shared with `ichigen serve`: `/healthz` answers 503 `starting` until `ready` is true (the server
   * listens before its first administrator, worker and signal handlers are in place). Without it: always ready.
   */
  readiness?: { ready: boolean };
}

export async function buildApp(platform: Platform, opts: AppOptions = {}): Promise<App> {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    logger: opts.logger ?? false,
    genReqId: () => newId(),
    // One access-log line per request instead of Fastify's two, or none (setting accessLog).
    logController:
      platform.config.accessLog === false ? new LogController({ disableRequestLogging: true }) : new AccessLog(),
    requestIdHeader: false,
    // Behind a TLS-terminating reverse proxy, `trustProxy` makes req.protocol/req.ip follow X-Forwarded-*.
    trustProxy: platform.config.trustProxy ?? false,
    bodyLimit: 16 * 1024 * 1024,
    routerOptions: { maxParamLength: 1000 },
  });
  await app.register(fastifyCookie);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Raw uploads (CSV, files) reach the route as a stream; the object store enforces the size limit.
  app.addContentTypeParser(['text/csv', 'application/octet-stream', 'text/plain'], (_req, payload, done) =>
    done(null, payload),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Ichigen API', version: '1', description: 'On-premises ML platform for hospitals' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'web console session (POST /api/v1/auth/session); unsafe methods also need X-Ichigen-CSRF',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toAppError(err);
    if (e.status >= 500) req.log.error({ err, code: e.code }, e.message);
    else req.log.info({ code: e.code }, e.message);
    // A download that fails before its first byte (e.g. a corrupted object) already carries the file's headers.
    for (const h of ['content-length', 'content-disposition', 'x-ichigen-digest']) reply.removeHeader(h);
    reply.header('content-type', 'application/json; charset=utf-8');
    if (req.sessionRefused) clearSessionCookie(req, reply);
    if (e.status === 429 && typeof e.details?.retryAfter === 'number')
      reply.header('retry-after', String(e.details.retryAfter));
    void reply
      .status(e.status)
      .send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });
  let webConsole: Console | undefined;
  app.setNotFoundHandler((req, reply) => {
    if (webConsole?.fallback(req, reply)) return;
    void reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  const readiness = opts.readiness;
  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) =>
    readiness && !readiness.ready ? reply.status(503).send({ status: 'starting' }) : { status: 'ok' },
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const typed = app.withTypeProvider<ZodTypeProvider>();
  registerAuthRoutes(typed, platform);
  registerProjectRoutes(typed, platform);
  registerDatasetRoutes(typed, platform);
  registerAuditRoutes(typed, platform);
  registerTrainingRoutes(typed, platform);
  registerModelRoutes(typed, platform);
  registerRecipeRoutes(typed, platform);
  registerServingRoutes(typed, platform);
  registerDeploymentRoutes(typed, platform);
  registerIssuerRoutes(typed, platform);
  // CDS Hooks answers in its own dialect (OperationOutcome errors, JWT auth, CORS): an encapsulated plugin.
  await app.register(cdsRoutes(platform));
  // Last: the console's static wildcard is the least specific route; API 404s stay JSON.
  if (opts.console !== false) webConsole = await registerConsole(app, platform.config.webRoot ?? defaultWebRoot());
  return app;
}

export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Resolves the caller from `Authorization: Bearer <token>` or, failing that, the web console's session cookie;
 * every API route except login requires it. A cookie-authenticated unsafe request must also carry the session's
 * CSRF token in `X-Ichigen-CSRF` (403 CSRF_REQUIRED otherwise); bearer-token requests need no CSRF token, since a
 * browser never adds an Authorization header on its own.
 */
export async function requirePrincipal(platform: Platform, req: FastifyRequest): Promise<Principal> {
  if (req.principal) return req.principal;
  const h = req.headers.authorization;
  if (h && /^Bearer\s+/i.test(h)) {
    req.principal = await platform.auth.authenticate(h.replace(/^Bearer\s+/i, '').trim(), req.ip);
    return req.principal;
  }
  const cookie = req.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const s = await resolveSession(platform, req, cookie);
    if (UNSAFE_METHODS.has(req.method) && !csrfMatches(req.headers[CSRF_HEADER], s.csrfToken))
      throw forbidden(
        'CSRF_REQUIRED',
        "this request changes something: send the session's CSRF token (GET /api/v1/auth/session) in X-Ichigen-CSRF",
      );
    req.principal = s.principal;
    return req.principal;
  }
  throw unauthorized('AUTH_REQUIRED', 'log in first: send Authorization: Bearer <token>, or log in to the console');
}

/** The session behind a cookie value; a refused cookie is cleared by the error answer. */
export async function resolveSession(platform: Platform, req: FastifyRequest, cookie: string) {
  try {
    return await platform.auth.sessions.resolve(cookie, req.ip);
  } catch (e) {
    req.sessionRefused = true;
    throw e;
  }
}

/** Cookie attributes of the session: HttpOnly, SameSite=Strict, Path=/, and Secure when the request came over TLS. */
export function sessionCookieOptions(req: FastifyRequest, maxAgeSeconds?: number) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: req.protocol === 'https',
    ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}),
  };
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, sessionCookieOptions(req));
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e.validation || e.code === 'FST_ERR_VALIDATION') {
    return new AppError('VALIDATION_ERROR', 400, e.message ?? 'the request is not valid');
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new AppError('UPLOAD_TOO_LARGE', 413, 'the request body is too large');
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      415,
      'unsupported Content-Type: send JSON, text/csv or application/octet-stream',
    );
  }
  if (
    e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' ||
    (e.statusCode === 400 && e.code?.startsWith('FST_'))
  ) {
    return new AppError('BAD_REQUEST', 400, e.message ?? 'bad request');
  }
  if (e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.message === 'aborted') {
    return new AppError('UPLOAD_INTERRUPTED', 400, 'the upload was cut off before it was complete; nothing was stored');
  }
  // Client errors raised by HTTP plumbing (e.g. the static file server: a malformed path, a directory).
  const status = e.statusCode ?? (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: unknown }).expose === true) {
    const code = status === 404 ? 'NOT_FOUND' : status === 403 ? 'FORBIDDEN' : 'BAD_REQUEST';
    return new AppError(code, status, e.message ?? 'bad request');
  }
  return new AppError('INTERNAL_ERROR', 500, 'internal error; the server log has the details', undefined, err);
}
