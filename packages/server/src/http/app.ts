// The HTTP edge: Fastify with zod schemas, OpenAPI at /openapi.json, bearer-token auth, and one error handler that
// turns every failure into { "error": { "code", "message", "details" } } without leaking stack traces.
import fastifySwagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
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
import { registerDatasetRoutes } from '../datasets/routes.js';
import { AppError, unauthorized } from '../errors.js';
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

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type App = FastifyInstance;
export const API = '/api/v1';

export interface AppOptions {
  logger?: boolean | { level: string };
}

export async function buildApp(platform: Platform, opts: AppOptions = {}): Promise<App> {
  const app = Fastify({
    logger: opts.logger ?? false,
    genReqId: () => newId(),
    requestIdHeader: false,
    trustProxy: false,
    bodyLimit: 16 * 1024 * 1024,
    routerOptions: { maxParamLength: 1000 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Raw uploads (CSV, files) reach the route as a stream; the object store enforces the size limit.
  app.addContentTypeParser(['text/csv', 'application/octet-stream', 'text/plain'], (_req, payload, done) =>
    done(null, payload),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Ichigen API', version: '1', description: 'On-premises ML platform for hospitals' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
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
    if (e.status === 429 && typeof e.details?.retryAfter === 'number')
      reply.header('retry-after', String(e.details.retryAfter));
    void reply
      .status(e.status)
      .send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
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
  return app;
}

export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** Resolves the caller from `Authorization: Bearer <token>`; every API route except login requires it. */
export async function requirePrincipal(platform: Platform, req: FastifyRequest): Promise<Principal> {
  if (req.principal) return req.principal;
  const h = req.headers.authorization;
  if (!h || !/^Bearer\s+/i.test(h))
    throw unauthorized('AUTH_REQUIRED', 'log in first: send Authorization: Bearer <token>');
  req.principal = await platform.auth.authenticate(h.replace(/^Bearer\s+/i, '').trim(), req.ip);
  return req.principal;
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
  return new AppError('INTERNAL_ERROR', 500, 'internal error; the server log has the details', undefined, err);
}
