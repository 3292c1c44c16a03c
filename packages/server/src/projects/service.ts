// Projects (one per disease or study) and their members' roles; the access check every project route uses.
// A project the caller is not a member of answers 404, exactly like one that does not exist.
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { Action, Role } from '../auth/roles.js';
import { allows, ROLES } from '../auth/roles.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { Precompiled } from '../db/precompiled.js';
import { AppError, badRequest, conflict, forbidden, notFound } from '../errors.js';
import { nameSchema, newId, nowIso } from '../util.js';

export interface Project {
  id: string;
  slug: string;
  name: string;
  description: string;
  createdAt: string;
  createdBy: string;
}

export interface Access {
  project: Project;
  roles: Role[];
}

/** Global administrators may manage membership of every project (to recover a project without owners), nothing more. */
const ADMIN_ACTIONS: readonly Action[] = ['project.read', 'members.read', 'members.manage'];

export class ProjectService {
  /**
   * The access check runs on every project route: the project and the caller's roles in it in one statement
   * (one row per role, or one row with a null role for a non-member), compiled once; nothing is cached.
   */
  private readonly projectAndRoles = new Precompiled((p: Record<'slug' | 'user', string>) =>
    this.db
      .selectFrom('projects')
      .leftJoin('members', (j) => j.onRef('members.project_id', '=', 'projects.id').on('members.user_id', '=', p.user))
      .selectAll('projects')
      .select('members.role')
      .where('projects.slug', '=', p.slug),
  );

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
  ) {}

  private get db() {
    return this.store.db;
  }

  async create(p: Principal, slug: string, name: string, description: string, client: string): Promise<Project> {
    if (!p.isAdmin) throw forbidden('ADMIN_REQUIRED', 'only an administrator can create projects');
    validateName('project', slug);
    if (!name.trim() || name.length > 200)
      throw badRequest('INVALID_PROJECT_NAME', 'a project title must have 1 to 200 characters');
    const row = { id: newId(), slug, name, description, created_at: nowIso(), created_by: p.name };
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx.insertInto('projects').values(row).execute();
        await tx
          .insertInto('members')
          .values({
            project_id: row.id,
            user_id: p.userId,
            role: 'owner',
            created_at: row.created_at,
            created_by: p.name,
          })
          .execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('PROJECT_EXISTS', `a project named "${slug}" already exists`);
      throw e;
    }
    await this.audit.append({
      actor: p.name,
      action: 'project.create',
      target: `project:${slug}`,
      project: slug,
      outcome: 'success',
      client,
    });
    await this.audit.append({
      actor: p.name,
      action: 'member.add',
      target: `user:${p.name}`,
      project: slug,
      outcome: 'success',
      client,
      details: { role: 'owner' },
    });
    return toProject(row);
  }

  /** Projects the caller is a member of (administrators see every project). */
  async list(p: Principal): Promise<(Project & { roles: Role[] })[]> {
    const projects = await this.db.selectFrom('projects').selectAll().orderBy('slug').execute();
    const mine = await this.db
      .selectFrom('members')
      .select(['project_id', 'role'])
      .where('user_id', '=', p.userId)
      .execute();
    const roles = new Map<string, Role[]>();
    for (const m of mine) roles.set(m.project_id, [...(roles.get(m.project_id) ?? []), m.role as Role]);
    return projects
      .filter((r) => p.isAdmin || roles.has(r.id))
      .map((r) => ({ ...toProject(r), roles: roles.get(r.id) ?? [] }));
  }

  /**
   * Resolves a project for an action. Unknown project and non-member both answer PROJECT_NOT_FOUND (404);
   * a member whose roles do not allow the action gets FORBIDDEN (403).
   */
  async access(p: Principal, slug: string, action: Action): Promise<Access> {
    // Built only when thrown: an Error captures a stack trace, too costly for every call on the hot path.
    const nf = () => notFound('PROJECT_NOT_FOUND', `no project "${printable(slug)}"`);
    if (!nameSchema.safeParse(slug).success) throw nf();
    const rows = await this.projectAndRoles.rows(this.db, { slug, user: p.userId });
    const row = rows[0];
    if (!row) throw nf();
    const roles = rows.flatMap((r) => (r.role === null ? [] : [r.role as Role]));
    if (roles.length === 0 && !(p.isAdmin && ADMIN_ACTIONS.includes(action))) throw nf();
    if (!allows(roles, action) && !(p.isAdmin && ADMIN_ACTIONS.includes(action))) {
      throw forbidden('FORBIDDEN', `your roles in ${slug} (${roles.join(', ')}) do not allow ${action}`);
    }
    return { project: toProject(row), roles };
  }

  async members(a: Access) {
    const rows = await this.db
      .selectFrom('members')
      .innerJoin('users', 'users.id', 'members.user_id')
      .select(['users.name', 'members.role', 'members.created_at', 'members.created_by'])
      .where('members.project_id', '=', a.project.id)
      .orderBy('users.name')
      .orderBy('members.role')
      .execute();
    return rows.map((r) => ({ user: r.name, role: r.role, addedAt: r.created_at, addedBy: r.created_by }));
  }

  async addMember(p: Principal, a: Access, userName: string, role: string, client: string): Promise<void> {
    const r = parseRole(role);
    const user = await this.db
      .selectFrom('users')
      .select(['id', 'name'])
      .where('name', '=', userName)
      .executeTakeFirst();
    if (!user) throw notFound('USER_NOT_FOUND', `no user "${printable(userName)}"`);
    try {
      await this.db
        .insertInto('members')
        .values({ project_id: a.project.id, user_id: user.id, role: r, created_at: nowIso(), created_by: p.name })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e))
        throw conflict('MEMBER_EXISTS', `${userName} already has the role ${r} in ${a.project.slug}`);
      throw e;
    }
    await this.audit.append({
      actor: p.name,
      action: 'member.add',
      target: `user:${userName}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { role: r },
    });
  }

  async removeMember(
    p: Principal,
    a: Access,
    userName: string,
    role: string | undefined,
    client: string,
  ): Promise<number> {
    const user = await this.db.selectFrom('users').select(['id']).where('name', '=', userName).executeTakeFirst();
    if (!user) throw notFound('USER_NOT_FOUND', `no user "${printable(userName)}"`);
    let q = this.db.deleteFrom('members').where('project_id', '=', a.project.id).where('user_id', '=', user.id);
    if (role !== undefined) q = q.where('role', '=', parseRole(role));
    const res = await q.executeTakeFirst();
    const n = Number(res.numDeletedRows);
    if (n === 0)
      throw notFound('MEMBER_NOT_FOUND', `${userName} has no ${role ? `role ${role}` : 'role'} in ${a.project.slug}`);
    await this.audit.append({
      actor: p.name,
      action: 'member.remove',
      target: `user:${userName}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { role: role ?? 'all' },
    });
    return n;
  }
}

export function parseRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw badRequest('INVALID_ROLE', `unknown role "${printable(role)}"; roles are ${ROLES.join(', ')}`);
  }
  return role as Role;
}

export function validateName(what: string, name: string): void {
  const r = nameSchema.safeParse(name);
  if (!r.success)
    throw new AppError('INVALID_NAME', 400, `${what} name "${printable(name)}" ${r.error.issues[0]!.message}`);
}

function toProject(r: {
  id: string;
  slug: string;
  name: string;
  description: string;
  created_at: string;
  created_by: string;
}): Project {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    description: r.description,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}
