// HTTP routes for auditors: page and filter the trail, and verify the hash chain end to end.
import { z } from 'zod';
import { forbidden } from '../errors.js';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { auditPageSchema, auditVerifySchema } from '../http/schemas.js';
import type { Platform } from '../platform.js';

export function registerAuditRoutes(app: TypedApp, platform: Platform): void {
  app.get(
    `${API}/audit`,
    {
      schema: {
        tags: ['audit'],
        response: { 200: auditPageSchema },
        querystring: z.object({
          project: z.string().max(300).optional(),
          actor: z.string().max(200).optional(),
          action: z.string().max(100).optional(),
          since: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
          until: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
          before: z.coerce.number().int().positive().optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const q = req.query;
      // Project auditors see their project's events; the whole trail needs an administrator.
      if (q.project) await platform.projects.access(p, q.project, 'audit.read');
      else if (!p.isAdmin)
        throw forbidden(
          'ADMIN_REQUIRED',
          'name a project (--project) you audit; the whole trail is for administrators',
        );
      const norm = (s?: string) => (s === undefined ? undefined : new Date(s).toISOString());
      const page = await platform.audit.list({ ...q, since: norm(q.since), until: norm(q.until) });
      await platform.audit.append({
        actor: p.name,
        action: 'audit.read',
        project: q.project ?? null,
        outcome: 'success',
        client: req.ip,
        details: { filter: q },
      });
      return page;
    },
  );

  app.get(`${API}/audit/verify`, { schema: { tags: ['audit'], response: { 200: auditVerifySchema } } }, async (req) => {
    const p = await requirePrincipal(platform, req);
    if (!p.isAdmin) {
      const mine = await platform.projects.list(p);
      if (!mine.some((x) => x.roles.includes('auditor')))
        throw forbidden('FORBIDDEN', 'verifying the audit chain needs an administrator or an auditor');
    }
    return platform.audit.verify();
  });
}
