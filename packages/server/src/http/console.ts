// The web console's static files: packages/web/dist served at `/` with strict security headers, an SPA fallback to
// index.html for GET paths outside the API, and a small explanatory page when the console has not been built.
// The directory comes from configuration (`webRoot`) or sits next to the installed server package — never from a
// request.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** packages/web/dist, found from this file: <server package>/{src,dist}/http → <packages>/web/dist. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../../web/dist', import.meta.url));
}

/** Paths that belong to the API and never fall back to the console. */
const API_PREFIXES = ['/api', '/cds-services', '/openapi.json', '/healthz'];

export function isApiPath(url: string): boolean {
  const p = url.split('?')[0]!;
  return API_PREFIXES.some((x) => p === x || p.startsWith(`${x}/`));
}

/** Content-Security-Policy of the console's pages: only our own origin, never framed. */
export const CONSOLE_CSP =
  "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";

const HTML_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-cache',
};

function setStaticHeaders(res: { setHeader(name: string, value: string): unknown }, file: string): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  if (file.endsWith('.html')) for (const [k, v] of Object.entries(HTML_HEADERS)) res.setHeader(k, v);
  // Vite puts content-hashed bundles under assets/: they never change under the same name.
  else if (file.split(path.sep).includes('assets'))
    res.setHeader('cache-control', 'public, max-age=31536000, immutable');
}

const NOT_BUILT = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Ichigen — console not built</title></head>
<body>
<h1>The Ichigen web console is not built</h1>
<p>The API is running (see <a href="/openapi.json">/openapi.json</a>), but the console's files were not found.</p>
<p>Build it from the repository root with <code>npm run build</code> (or <code>npm install</code> on a fresh
clone), then restart <code>ichigen serve</code>. To serve a console built elsewhere, set <code>webRoot</code>
(<code>ICHIGEN_WEB_ROOT</code>) to its directory.</p>
</body>
</html>
`;

export interface Console {
  root: string;
  /** Answers a GET that matched no route with the console's index.html (or the not-built page); false if not ours. */
  fallback(req: FastifyRequest, reply: FastifyReply): boolean;
}

/** Registers the console's routes. Call after the API routes: the static wildcard is the least specific route. */
export async function registerConsole(app: FastifyInstance, root: string): Promise<Console> {
  const index = path.join(root, 'index.html');
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: true,
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    cacheControl: false, // set by setStaticHeaders
    setHeaders: setStaticHeaders,
    // API paths are never looked up on disk (they fall through to the JSON 404), nor are directories (no listing:
    // a path ending in / is a deep link of the app or nothing).
    allowedPath: (pathName) => !isApiPath(pathName) && !pathName.endsWith('/'),
  });

  const sendIndex = (reply: FastifyReply) => {
    // Checked per request, so a console built while the server runs is picked up without a restart.
    if (!existsSync(index))
      return reply.status(503).headers(HTML_HEADERS).type('text/html; charset=utf-8').send(NOT_BUILT);
    return reply.headers(HTML_HEADERS).sendFile('index.html', root);
  };

  app.get('/', { schema: { hide: true } }, (_req, reply) => sendIndex(reply));

  return {
    root,
    fallback(req, reply) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const p = req.url.split('?')[0]!;
      if (isApiPath(p)) return false;
      // A missing file (an old asset, favicon.ico) is a plain 404, not the app's page.
      if (path.posix.basename(p).includes('.')) return false;
      void sendIndex(reply);
      return true;
    },
  };
}
