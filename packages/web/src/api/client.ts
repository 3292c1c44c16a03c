// The typed API client: openapi-fetch over the generated schema, with the session cookie (same origin) and the
// CSRF header the server requires on unsafe cookie-authenticated requests. Every failure becomes one ApiError
// carrying the server's {error:{code,message}}.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

export const CSRF_HEADER = 'X-Ichigen-CSRF';

/** A failed API call: the server's error code and message (or NETWORK_ERROR when it could not be reached). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;

/** Set by the session module after login or session restore; sent on every unsafe request. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (!SAFE.has(request.method.toUpperCase()) && csrfToken) request.headers.set(CSRF_HEADER, csrfToken);
    return request;
  },
};

/** Turns a parsed error body into an ApiError, whatever shape it has. */
export function toApiError(status: number, body: unknown, fallback?: string): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (e && typeof e.code === 'string') {
    return new ApiError(status, e.code, typeof e.message === 'string' ? e.message : e.code, e.details);
  }
  return new ApiError(status, `HTTP_${status}`, fallback ?? `the server answered ${status}`);
}

function origin(): string {
  return typeof window !== 'undefined' && window.location ? window.location.origin : 'http://localhost';
}

export function createApi(baseUrl: string = origin(), fetchImpl?: typeof fetch) {
  const client = createClient<paths>({
    baseUrl,
    credentials: 'same-origin',
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  client.use(csrfMiddleware);
  return client;
}

export const api = createApi();

interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** Awaits an openapi-fetch call and returns its typed body, or throws ApiError. */
export async function ok<R extends FetchResult>(call: Promise<R>): Promise<NonNullable<R['data']>> {
  let r: FetchResult;
  try {
    r = await call;
  } catch (e) {
    throw new ApiError(0, 'NETWORK_ERROR', e instanceof Error ? e.message : String(e));
  }
  if (!r.response.ok || r.error !== undefined) throw toApiError(r.response.status, r.error, r.response.statusText);
  return r.data as NonNullable<R['data']>;
}

/** `ok` for a route whose answer the OpenAPI document does not describe: `T` names the fields the caller reads. */
export function okAs<T>(call: Promise<FetchResult>): Promise<T> {
  return ok(call) as Promise<T>;
}

/** Path of an API route with its segments encoded. */
export function apiPath(...segments: (string | number)[]): string {
  return '/api/v1/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}
