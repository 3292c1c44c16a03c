// HTTP routes for login, the caller's own tokens and password, and user administration.
import { z } from 'zod';
import { forbidden, unauthorized } from '../errors.js';
import {
  API,
  clearSessionCookie,
  requirePrincipal,
  resolveSession,
  sessionCookieOptions,
  type TypedApp,
} from '../http/app.js';
import { CSRF_HEADER, SESSION_COOKIE, csrfMatches } from './sessions.js';
import type { Platform } from '../platform.js';

const sessionInfo = z.object({
  user: z.string(),
  isAdmin: z.boolean(),
  /** Send it back in X-Ichigen-CSRF with every POST, PUT, PATCH and DELETE. */
  csrfToken: z.string(),
});

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
    if (p.sessionId) {
      await auth.sessions.revoke(p, req.ip);
      clearSessionCookie(req, reply);
    } else await auth.revokeToken(p, p.tokenId, req.ip);
    return reply.status(204).send();
  });

  // ---- browser sessions (web console): an HttpOnly cookie plus a CSRF token for unsafe methods ----
  app.post(
    `${API}/auth/session`,
    {
      schema: {
        tags: ['auth'],
        security: [],
        description:
          'Log in to the web console: sets the HttpOnly session cookie and answers the CSRF token. Same throttling and audit as /auth/login; a one-time password needs newPassword.',
        body: z.object({
          user: z.string().min(1).max(128),
          password: z.string().min(1).max(1024),
          newPassword: z.string().max(1024).optional(),
        }),
        response: { 200: sessionInfo },
      },
    },
    async (req, reply) => {
      const ua = req.headers['user-agent'];
      const s = await auth.loginSession(
        req.body.user,
        req.body.password,
        req.ip,
        typeof ua === 'string' ? ua : null,
        req.body.newPassword,
      );
      const maxAge = Math.floor((new Date(s.expiresAt).getTime() - Date.now()) / 1000);
      void reply.setCookie(SESSION_COOKIE, s.secret, sessionCookieOptions(req, maxAge));
      return { user: s.user.name, isAdmin: s.user.isAdmin, csrfToken: s.csrfToken };
    },
  );

  app.get(
    `${API}/auth/session`,
    {
      schema: {
        tags: ['auth'],
        security: [{ session: [] }],
        description: "The console's current session (401 when logged out or expired).",
        response: { 200: sessionInfo },
      },
    },
    async (req) => {
      const cookie = req.cookies[SESSION_COOKIE];
      if (!cookie) throw unauthorized('AUTH_REQUIRED', 'not logged in to the console');
      const s = await resolveSession(platform, req, cookie);
      return { user: s.principal.name, isAdmin: s.principal.isAdmin, csrfToken: s.csrfToken };
    },
  );

  app.delete(
    `${API}/auth/session`,
    {
      schema: {
        tags: ['auth'],
        security: [{ session: [] }],
        description:
          'Log out of the console: ends the session on the server and clears the cookie (needs X-Ichigen-CSRF).',
      },
    },
    async (req, reply) => {
      const cookie = req.cookies[SESSION_COOKIE];
      let s;
      try {
        s = cookie ? await resolveSession(platform, req, cookie) : undefined;
      } catch {
        s = undefined; // already ended or unknown: logging out again just clears the cookie
      }
      if (s) {
        if (!csrfMatches(req.headers[CSRF_HEADER], s.csrfToken))
          throw forbidden('CSRF_REQUIRED', "logging out needs the session's CSRF token in X-Ichigen-CSRF");
        await auth.sessions.revoke(s.principal, req.ip);
      }
      clearSessionCookie(req, reply);
      return reply.status(204).send();
    },
  );

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
