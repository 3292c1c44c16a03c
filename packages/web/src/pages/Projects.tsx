// Projects: the list of the user's projects; per project the members and roles (owners manage them) and recent
// activity from the audit trail.
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ApiError, ok } from '../api/client';
import type { Member } from '../api/types';
import { Async, ErrorBox, ListTable, RoleList, RoleName, Section, useLoad } from '../components/common';
import { useFormat } from '../i18n/format';
import { can } from '../permissions';
import { ROLES } from '../../../server/src/auth/roles.ts';

export function useProject(slug: string) {
  return useLoad(() => ok(api.GET('/api/v1/projects/{project}', { params: { path: { project: slug } } })), slug);
}

export function ProjectsPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const state = useLoad(() => ok(api.GET('/api/v1/projects')), 'projects');
  return (
    <>
      <h1>{t('projects.title')}</h1>
      <Async state={state}>
        {({ projects }) => (
          <ListTable
            items={projects}
            empty={t('projects.empty')}
            head={
              <>
                <th>{t('projects.slug')}</th>
                <th>{t('projects.name')}</th>
                <th>{t('projects.yourRoles')}</th>
                <th>{t('projects.created')}</th>
              </>
            }
            row={(p) => (
              <tr key={p.id}>
                <td>
                  <Link to={`/p/${encodeURIComponent(p.slug)}`}>{p.slug}</Link>
                </td>
                <td>{p.name}</td>
                <td>
                  <RoleList roles={p.roles} />
                </td>
                <td className="nowrap">{f.date(p.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </Async>
    </>
  );
}

function Members({ project, roles }: { project: string; roles: string[] }) {
  const { t } = useTranslation();
  const f = useFormat();
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/members', { params: { path: { project } } })),
    project,
  );
  const manage = can(roles, 'members.manage');
  // Owners pick from the platform's active accounts.
  const accounts = useLoad(
    () =>
      manage
        ? ok(api.GET('/api/v1/projects/{project}/users', { params: { path: { project } } }))
        : Promise.resolve({ users: [] as { name: string }[] }),
    `${project}:users:${manage}`,
  );
  const [user, setUser] = useState('');
  const [role, setRole] = useState<string>('scientist');
  const [error, setError] = useState<unknown>(null);
  const [change, setChange] = useState<Record<string, string>>({});

  async function run(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
      state.reload();
    } catch (e) {
      setError(e);
    }
  }
  const add = (u: string, r: string) =>
    ok(api.POST('/api/v1/projects/{project}/members', { params: { path: { project } }, body: { user: u, role: r } }));
  const remove = (u: string, r: string) =>
    ok(
      api.DELETE('/api/v1/projects/{project}/members/{user}', {
        params: { path: { project, user: u }, query: { role: r } },
      }),
    );

  if (!can(roles, 'members.read')) return <p className="muted">{t('projects.membersHidden')}</p>;
  return (
    <Async state={state}>
      {({ members }) => {
        const byUser = new Map<string, Member[]>();
        for (const m of members) byUser.set(m.user, [...(byUser.get(m.user) ?? []), m]);
        return (
          <>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>{t('projects.user')}</th>
                    <th>{t('projects.role')}</th>
                    <th>{t('projects.addedAt')}</th>
                    {manage && <th>{t('projects.changeRole')}</th>}
                  </tr>
                </thead>
                <tbody>
                  {[...byUser.entries()].map(([u, ms]) => (
                    <tr key={u}>
                      <td className="wrap-any">{u}</td>
                      <td>
                        {ms.map((m) => (
                          <span key={m.role} className="role-chip">
                            <RoleName role={m.role} />
                            {manage && (
                              <button
                                type="button"
                                aria-label={t('projects.removeRole', { role: t(`roles.${m.role}`), user: u })}
                                title={t('projects.removeRole', { role: t(`roles.${m.role}`), user: u })}
                                onClick={() => void run(() => remove(u, m.role))}
                              >
                                ×
                              </button>
                            )}
                          </span>
                        ))}
                      </td>
                      <td className="nowrap" title={t('projects.addedBy') + ': ' + ms[0]!.addedBy}>
                        {f.date(ms[0]!.addedAt)}
                      </td>
                      {manage && (
                        <td>
                          <div className="row compact">
                            <select
                              aria-label={t('projects.changeTo', { user: u })}
                              value={change[u] || ms[0]!.role}
                              onChange={(e) => setChange({ ...change, [u]: e.target.value })}
                            >
                              {ROLES.map((r) => (
                                <option key={r} value={r}>
                                  {t(`roles.${r}`)}
                                </option>
                              ))}
                            </select>
                            <button
                              type="button"
                              className="secondary"
                              disabled={!change[u] || (ms.length === 1 && ms[0]!.role === change[u])}
                              onClick={() =>
                                void run(async () => {
                                  const next = change[u]!;
                                  if (!ms.some((m) => m.role === next)) await add(u, next);
                                  // A change replaces the user's roles with the chosen one.
                                  for (const m of ms) if (m.role !== next) await remove(u, m.role);
                                  setChange({ ...change, [u]: '' });
                                })
                              }
                            >
                              {t('projects.apply')}
                            </button>
                          </div>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {manage && (
              <form
                className="row"
                style={{ marginTop: '0.75rem' }}
                onSubmit={(e: FormEvent) => {
                  e.preventDefault();
                  void run(async () => {
                    await add(user.trim(), role);
                    setUser('');
                  });
                }}
              >
                <label>
                  {t('projects.addUser')}
                  <input
                    value={user}
                    required
                    onChange={(e) => setUser(e.target.value)}
                    name="member-user"
                    list="member-user-options"
                    autoComplete="off"
                  />
                  <datalist id="member-user-options">
                    {(accounts.data?.users ?? []).map((u) => (
                      <option key={u.name} value={u.name} />
                    ))}
                  </datalist>
                </label>
                <label>
                  {t('projects.addRole')}
                  <select value={role} onChange={(e) => setRole(e.target.value)} name="member-role">
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {t(`roles.${r}`)}
                      </option>
                    ))}
                  </select>
                </label>
                <button type="submit">{t('projects.add')}</button>
              </form>
            )}
            {error !== null && <ErrorBox error={error} />}
          </>
        );
      }}
    </Async>
  );
}

function ActivityList({ project, limit = 10 }: { project: string; limit?: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  const state = useLoad(
    () => ok(api.GET('/api/v1/audit', { params: { query: { project, limit } } })),
    `${project}:${limit}`,
  );
  if (state.error instanceof ApiError && state.error.status === 403)
    return <p className="muted">{t('projects.activityHidden')}</p>;
  return (
    <Async state={state}>
      {({ events }) =>
        events.length === 0 ? (
          <p className="muted">{t('projects.noActivity')}</p>
        ) : (
          <ul className="activity">
            {events.map((e) => (
              <li key={e.seq}>
                <span className="muted">{f.date(e.at)}</span> — <strong>{e.actor}</strong> <code>{e.action}</code>{' '}
                {e.target}
              </li>
            ))}
          </ul>
        )
      }
    </Async>
  );
}

/** For members who may not read the audit trail: the project's own activity feed (only what their roles may see). */
function ProjectActivity({ project }: { project: string }) {
  const { t } = useTranslation();
  const f = useFormat();
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/activity', { params: { path: { project }, query: { limit: 10 } } })),
    `${project}:activity`,
  );
  return (
    <Async state={state}>
      {({ events }) =>
        events.length === 0 ? (
          <p className="muted">{t('projects.noActivity')}</p>
        ) : (
          <ul className="activity">
            {events.map((e, i) => (
              <li key={i}>
                <span className="muted">{f.date(e.at)}</span> — <strong>{e.actor}</strong>{' '}
                <code>{t(`projects.kind.${e.kind.replace('.', '_')}`, { defaultValue: e.kind })}</code> {e.subject}
              </li>
            ))}
          </ul>
        )
      }
    </Async>
  );
}

export function ProjectOverview() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '' } = useParams();
  const state = useProject(project);
  return (
    <Async state={state}>
      {(p) => (
        <>
          <h1>{p.name}</h1>
          {p.description && <p className="muted">{p.description}</p>}
          <p>
            {t('projects.yourRoles')}: <RoleList roles={p.roles} /> · {t('projects.created')} {f.date(p.createdAt)}
          </p>
          <div className={can(p.roles, 'members.manage') ? undefined : 'grid2'}>
            <Section title={t('projects.members')} id="members-title">
              <Members project={project} roles={p.roles} />
            </Section>
            <Section title={t('projects.activity')} id="activity-title">
              {can(p.roles, 'audit.read') ? <ActivityList project={project} /> : <ProjectActivity project={project} />}
            </Section>
          </div>
        </>
      )}
    </Async>
  );
}
