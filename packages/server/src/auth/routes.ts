// HTTP routes for login, the caller's own tokens and password, and user administration.
import { z } from 'zod';
import { forbidden } from '../errors.js';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import type { Platform } from '../platform.js';

const userInfo = z.object({
  id: z.string(),
  name: z.string(),
  isAdmin: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.string(),
});

export function registerAuthRoutes(app: TypedApp, platform: Platform): void {
  const { auth } = platform;

  app.post(
    `${API}/auth/login`,
    {
      schema: {
        tags: ['auth'],
        security: [],
        body: z.object({
          user: z.string().min(1).max(128),
          password: z.string().min(1).max(1024),
          newPassword: z.string().max(1024).optional(),
        }),
        response: { 200: z.object({ token: z.string(), tokenId: z.string(), expiresAt: z.string(), user: userInfo }) },
      },
    },
    async (req) => {
      const r = await auth.login(req.body.user, req.body.password, req.ip, req.body.newPassword);
      return { token: r.token, tokenId: r.id, expiresAt: r.expiresAt, user: r.user };
    },
  );

  app.post(`${API}/auth/logout`, { schema: { tags: ['auth'] } }, async (req, reply) => {
    const p = await requirePrincipal(platform, req);
    await auth.revokeToken(p, p.tokenId, req.ip);
    return reply.status(204).send();
  });

  app.get(
    `${API}/me`,
    { schema: { tags: ['auth'], response: { 200: z.object({ name: z.string(), isAdmin: z.boolean() }) } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      return { name: p.name, isAdmin: p.isAdmin };
    },
  );

  app.post(
    `${API}/me/password`,
    {
      schema: {
        tags: ['auth'],
        body: z.object({ oldPassword: z.string().max(1024), newPassword: z.string().max(1024) }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      await auth.changePassword(p, req.body.oldPassword, req.body.newPassword, req.ip);
      return reply.status(204).send();
    },
  );

  app.post(
    `${API}/tokens`,
    {
      schema: {
        tags: ['auth'],
        body: z.object({ name: z.string().min(1).max(200), days: z.number().positive().max(3650).optional() }),
        response: { 201: z.object({ id: z.string(), token: z.string(), expiresAt: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const t = await auth.createApiToken(p, req.body.name, req.body.days, req.ip);
      return reply.status(201).send(t);
    },
  );

  app.get(`${API}/tokens`, { schema: { tags: ['auth'] } }, async (req) => {
    const p = await requirePrincipal(platform, req);
    return { tokens: await auth.listTokens(p) };
  });

  app.delete(
    `${API}/tokens/:id`,
    { schema: { tags: ['auth'], params: z.object({ id: z.string().max(64) }) } },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      await auth.revokeToken(p, req.params.id, req.ip);
      return reply.status(204).send();
    },
  );

  app.post(
    `${API}/users`,
    {
      schema: {
        tags: ['users'],
        body: z.object({ name: z.string().max(200), admin: z.boolean().optional() }),
        response: { 201: z.object({ user: userInfo, password: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      if (!p.isAdmin) throw forbidden('ADMIN_REQUIRED', 'only an administrator can create users');
      const r = await auth.createUser(req.body.name, { admin: req.body.admin ?? false, actor: p.name, client: req.ip });
      return reply.status(201).send(r);
    },
  );

  app.get(
    `${API}/users`,
    { schema: { tags: ['users'], response: { 200: z.object({ users: z.array(userInfo) }) } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      if (!p.isAdmin) throw forbidden('ADMIN_REQUIRED', 'only an administrator can list users');
      return { users: await auth.listUsers() };
    },
  );
}
