// HTTP routes for projects and their members.
import { z } from 'zod';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { membersSchema, projectSchema, projectWithRolesSchema } from '../http/schemas.js';
import { activitySchema, projectActivity } from '../console/activity.js';
import type { Platform } from '../platform.js';

const slugParam = z.object({ project: z.string().max(300) });

export function registerProjectRoutes(app: TypedApp, platform: Platform): void {
  const { projects } = platform;

  app.post(
    `${API}/projects`,
    {
      schema: {
        tags: ['projects'],
        body: z.object({
          slug: z.string().max(300),
          name: z.string().max(200),
          description: z.string().max(5000).optional(),
        }),
        response: { 201: projectSchema },
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const r = await projects.create(p, req.body.slug, req.body.name, req.body.description ?? '', req.ip);
      return reply.status(201).send(r);
    },
  );

  app.get(
    `${API}/projects`,
    {
      schema: {
        tags: ['projects'],
        response: { 200: z.object({ projects: z.array(projectWithRolesSchema) }) },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      return { projects: await projects.list(p) };
    },
  );

  app.get(
    `${API}/projects/:project`,
    { schema: { tags: ['projects'], params: slugParam, response: { 200: projectWithRolesSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'project.read');
      return { ...a.project, roles: a.roles };
    },
  );

  app.get(
    `${API}/projects/:project/members`,
    { schema: { tags: ['projects'], params: slugParam, response: { 200: membersSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'members.read');
      return { members: await projects.members(a) };
    },
  );

  app.get(
    `${API}/projects/:project/activity`,
    {
      schema: {
        tags: ['projects'],
        description:
          "The project's recent activity, newest first: dataset versions, studies, model versions and stage changes, deployment versions — each kind only if your roles may see it.",
        params: slugParam,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
        response: { 200: activitySchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'project.read');
      return projectActivity(platform.store, a, req.query.limit);
    },
  );

  app.get(
    `${API}/projects/:project/users`,
    {
      schema: {
        tags: ['projects'],
        description:
          "Active user names an owner may add to the project (the console's member picker); needs members.manage.",
        params: slugParam,
        response: { 200: z.object({ users: z.array(z.object({ name: z.string() })) }) },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      await projects.access(p, req.params.project, 'members.manage');
      const users = await platform.auth.listUsers();
      return { users: users.filter((u) => !u.disabled).map((u) => ({ name: u.name })) };
    },
  );

  app.post(
    `${API}/projects/:project/members`,
    {
      schema: {
        tags: ['projects'],
        params: slugParam,
        body: z.object({ user: z.string().max(200), role: z.string().max(50) }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'members.manage');
      await projects.addMember(p, a, req.body.user, req.body.role, req.ip);
      return reply.status(201).send({ user: req.body.user, role: req.body.role });
    },
  );

  app.delete(
    `${API}/projects/:project/members/:user`,
    {
      schema: {
        tags: ['projects'],
        params: slugParam.extend({ user: z.string().max(200) }),
        querystring: z.object({ role: z.string().max(50).optional() }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'members.manage');
      await projects.removeMember(p, a, req.params.user, req.query.role, req.ip);
      return reply.status(204).send();
    },
  );
}
