// Administration of trusted CDS clients (EHR JWT issuers): add or replace one, list them. Administrators only.
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import type { Platform } from '../platform.js';
import { issuerInputSchema } from './issuers.js';
import { badRequest } from '../errors.js';

export function registerIssuerRoutes(app: TypedApp, platform: Platform): void {
  app.put(
    `${API}/cds/issuers`,
    { schema: { tags: ['cds'], description: 'trust an EHR JWT issuer (JWKS or JWKS URL, jku allow-list, projects)' } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const r = issuerInputSchema.safeParse(req.body);
      if (!r.success) {
        const i = r.error.issues[0]!;
        throw badRequest('ISSUER_INVALID', `the issuer is not valid at ${i.path.join('.') || '(body)'}: ${i.message}`);
      }
      return platform.cds.issuers.put(p, r.data, req.ip);
    },
  );
  app.get(`${API}/cds/issuers`, { schema: { tags: ['cds'] } }, async (req) => {
    const p = await requirePrincipal(platform, req);
    return { issuers: await platform.cds.issuers.list(p) };
  });
}
