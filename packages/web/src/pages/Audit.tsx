// Audit: a filterable, paged list of events (newest first) and the chain verification status.
import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ApiError, ok } from '../api/client';
import { Async, StatusBadge, useLoad } from '../components/common';
import { useFormat } from '../i18n/format';

const PAGE = 50;
const FILTERS = ['project', 'actor', 'action', 'since', 'until'] as const;

function Verify() {
  const { t } = useTranslation();
  const state = useLoad(() => ok(api.GET('/api/v1/audit/verify')), 'verify');
  if (state.error instanceof ApiError && (state.error.status === 403 || state.error.status === 404))
    return <p className="muted">{t('audit.chainUnknown')}</p>;
  return (
    <Async state={state}>
      {(v) =>
        v.ok ? (
          <p className="okbox" role="status" data-testid="chain-status">
            {t('audit.chainOk', { count: v.events })}
          </p>
        ) : (
          <p className="error" role="alert" data-testid="chain-status">
            {t('audit.chainBroken', { seq: v.firstBroken?.seq, reason: v.firstBroken?.reason })}
          </p>
        )
      }
    </Async>
  );
}

/** An event's details: short ones inline, long ones folded behind their first characters. */
function Details({ value }: { value: Record<string, unknown> | null | undefined }) {
  if (!value || Object.keys(value).length === 0) return null;
  const text = JSON.stringify(value);
  if (text.length <= 80) return <>{text}</>;
  return (
    <details>
      <summary>{text.slice(0, 60)}…</summary>
      <pre>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

/**
 * The date pickers give a calendar day in the user's time zone. `since` starts at that day's local midnight; `until`
 * includes the whole day (the API's bound is exclusive), so it ends at the next local midnight. Sent as instants.
 */
export function localDayBound(day: string, bound: 'since' | 'until'): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (bound === 'until' ? 1 : 0)).toISOString();
}

export function AuditPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const [params, setParams] = useSearchParams();
  const [draft, setDraft] = useState<Record<string, string>>(() =>
    Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ''])),
  );
  const before = params.get('before');
  const query: Record<string, string | number> = { limit: PAGE };
  for (const k of FILTERS) {
    const v = params.get(k);
    if (v) query[k] = k === 'since' || k === 'until' ? localDayBound(v, k) : v;
  }
  if (before) query.before = Number(before);
  const state = useLoad(
    () => ok(api.GET('/api/v1/audit', { params: { query: query as { limit: number } } })),
    params.toString(),
  );

  function apply(e: FormEvent) {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const k of FILTERS) if (draft[k]) next.set(k, draft[k]!.trim());
    setParams(next);
  }
  function page(nextBefore: number | null) {
    const next = new URLSearchParams(params);
    if (nextBefore === null) next.delete('before');
    else next.set('before', String(nextBefore));
    setParams(next);
  }

  return (
    <>
      <h1>{t('audit.title')}</h1>
      <Verify />
      <form className="card row" onSubmit={apply} aria-label={t('audit.filters')}>
        {FILTERS.map((k) => (
          <label key={k}>
            {t(`audit.${k}`)}
            <input
              name={k}
              type={k === 'since' || k === 'until' ? 'date' : 'text'}
              value={draft[k] ?? ''}
              onChange={(e) => setDraft({ ...draft, [k]: e.target.value })}
            />
          </label>
        ))}
        <button type="submit">{t('audit.apply')}</button>
      </form>
      <Async state={state}>
        {({ events, nextBefore }) => (
          <div className="card">
            {events.length === 0 ? (
              <p className="muted">{t('audit.empty')}</p>
            ) : (
              <div className="table-wrap">
                <table data-testid="audit-table">
                  <thead>
                    <tr>
                      <th className="num">{t('audit.seq')}</th>
                      <th>{t('audit.at')}</th>
                      <th>{t('audit.actor')}</th>
                      <th>{t('audit.action')}</th>
                      <th>{t('audit.target')}</th>
                      <th>{t('audit.project')}</th>
                      <th>{t('audit.outcome')}</th>
                      <th>{t('audit.details')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {events.map((e) => (
                      <tr key={e.seq}>
                        <td className="num">{e.seq}</td>
                        <td className="nowrap">{f.date(e.at)}</td>
                        <td>{e.actor}</td>
                        <td>
                          <code>{e.action}</code>
                        </td>
                        <td className="mono wrap-any">{e.target}</td>
                        <td>{e.project ?? '–'}</td>
                        <td>
                          <StatusBadge status={e.outcome} />
                        </td>
                        <td className="mono details">
                          <Details value={e.details} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <div className="row" style={{ marginTop: '0.75rem' }}>
              {before && (
                <button type="button" className="secondary" onClick={() => page(null)}>
                  {t('audit.newest')}
                </button>
              )}
              {nextBefore !== null && (
                <button type="button" className="secondary" onClick={() => page(nextBefore)}>
                  {t('audit.more')}
                </button>
              )}
            </div>
          </div>
        )}
      </Async>
    </>
  );
}
