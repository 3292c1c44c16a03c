// HTTP edge of the CDS Hooks 2.0 service: discovery, hook calls and feedback under /cds-services, every one behind
// the EHR's signed JWT, with CORS for browser-based clients (the public sandbox) and errors as FHIR OperationOutcome.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Platform } from '../platform.js';
import { jtiClaim, type CdsCaller } from './issuers.js';

declare module 'fastify' {
  interface FastifyRequest {
    cdsCaller?: CdsCaller;
  }
}

const ISSUE_CODE: Record<number, string> = {
  400: 'invalid',
  401: 'security',
  403: 'forbidden',
  404: 'not-found',
  412: 'incomplete',
  413: 'too-costly',
  415: 'not-supported',
  422: 'processing',
};

/** The spec's error form: a FHIR OperationOutcome with our stable code as a coding. */
export function operationOutcome(e: AppError) {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: ISSUE_CODE[e.status] ?? 'exception',
        details: { coding: [{ system: 'https://ichigen.dev/errors', code: e.code }], text: e.message },
        diagnostics: e.message,
      },
    ],
  };
}

function toCdsError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && /JSON/i.test(e.message ?? '')))
    return new AppError('CDS_BODY_INVALID_JSON', 400, `the request body is not valid JSON: ${e.message ?? ''}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new AppError('CDS_BODY_TOO_LARGE', 413, 'the request body is too large');
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.statusCode === 415)
    return new AppError('CDS_UNSUPPORTED_MEDIA_TYPE', 415, 'send the hook request as application/json');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return new AppError('CDS_BAD_REQUEST', e.statusCode, e.message ?? 'bad request');
  return new AppError('INTERNAL_ERROR', 500, 'internal error; the server log has the details', undefined, err);
}

const cors = (reply: FastifyReply) =>
  reply
    .header('access-control-allow-origin', '*')
    .header('access-control-allow-headers', 'authorization, content-type')
    .header('access-control-allow-methods', 'GET, POST, OPTIONS')
    .header('access-control-max-age', '600');

/**
 * The base URL of this service for `aud` and card links when the issuer has no base URL of its own: the configured
 * `publicUrl`, else the scheme://host the caller used (which a forged Host header controls — docs/cds-hooks.md).
 */
const requestBase = (publicUrl: string | undefined, req: FastifyRequest) =>
  publicUrl ?? `${req.protocol}://${req.host}`;

export function cdsRoutes(platform: Platform) {
  return async function cdsPlugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler((err, req, reply) => {
      const e = toCdsError(err);
      if (e.status >= 500) req.log.error({ err, code: e.code }, e.message);
      else req.log.info({ code: e.code }, e.message);
      cors(reply);
      if (e.status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
      void reply
        .status(e.status)
        .header('content-type', 'application/fhir+json; charset=utf-8')
        .send(operationOutcome(e));
    });

    // Preflight requests carry no Authorization header by design; they reveal nothing.
    app.options('/cds-services', { schema: { hide: true } }, async (_req, reply) => cors(reply).status(204).send());
    app.options('/cds-services/*', { schema: { hide: true } }, async (_req, reply) => cors(reply).status(204).send());

    app.addHook('onRequest', async (req, reply) => {
      if (req.method === 'OPTIONS') return;
      cors(reply);
      const path = req.url.split('?')[0]!;
      // A hook call claims its jti in the same group commit as its predictions and audit event (one durable write).
      const hookCall = req.method === 'POST' && /^\/cds-services\/[^/]+$/.test(path);
      req.cdsCaller = await platform.cds.issuers.verify(
        req.headers.authorization,
        path,
        requestBase(platform.config.publicUrl, req),
        req.ip,
        {
          deferJti: hookCall,
        },
      );
    });

    const idParams = z.object({ id: z.string().min(1).max(200) });
    const caller = (req: FastifyRequest) => req.cdsCaller!;

    app.get(
      '/cds-services',
      { schema: { tags: ['cds'], description: 'CDS Hooks discovery (signed JWT required)' } },
      async (req) => platform.cds.service.discovery(caller(req)),
    );

    app.post('/cds-services/:id', { schema: { tags: ['cds'], description: 'CDS Hooks service call' } }, async (req) => {
      const { id } = idParams.parse(req.params);
      try {
        return await platform.cds.service.call(
          caller(req),
          id,
          req.body,
          caller(req).baseUrl ?? requestBase(platform.config.publicUrl, req),
          req.ip,
        );
      } catch (e) {
        // The deferred jti claim failed: a replay. Nothing of the call was written; the refusal is audited.
        if (e instanceof AppError && e.code === 'CDS_JWT_REPLAYED')
          await platform.cds.issuers.auditRefusal(caller(req).issuer, req.url.split('?')[0]!, req.ip, e);
        // A call refused for another reason still uses up its token: record the jti (a replay is refused alike).
        else await platform.audit.commit({ claim: jtiClaim(caller(req)) }).catch(() => undefined);
        throw e;
      }
    });

    app.post(
      '/cds-services/:id/feedback',
      { schema: { tags: ['cds'], description: 'CDS Hooks feedback' } },
      async (req) => {
        const { id } = idParams.parse(req.params);
        await platform.cds.service.feedback(caller(req), id, req.body, req.ip);
        return {};
      },
    );
  };
}
