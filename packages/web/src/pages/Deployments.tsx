// Deployments: applicability and FHIR mapping shown readably, override rates, and a "try it" panel that sends a
// FHIR bundle through the CDS service and renders the cards as an EHR would.
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../api/client';
import type { Deployment, TryResult } from '../api/types';
import { Async, ErrorBox, ListTable, Section, StatusBadge, useLoad } from '../components/common';
import { CdsCards } from '../components/CdsCards';
import { modelHref } from '../components/Lineage';
import { useFormat } from '../i18n/format';

function targetHref(project: string, d: Deployment): string | null {
  return d.target.kind === 'model' ? modelHref(project, d.target.name, d.target.version) : null;
}

export function DeploymentsPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '' } = useParams();
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/deployments', { params: { path: { project } } })),
    project,
  );
  return (
    <>
      <h1>{t('deployments.title')}</h1>
      <Async state={state}>
        {({ deployments }) => (
          <ListTable
            items={deployments}
            empty={t('deployments.empty')}
            head={
              <>
                <th>{t('deployments.name')}</th>
                <th>{t('deployments.target')}</th>
                <th>{t('deployments.hooks')}</th>
                <th>{t('deployments.status')}</th>
                <th className="num">{t('deployments.predictions')}</th>
                <th className="num">{t('deployments.overrideRate')}</th>
              </>
            }
            row={(d) => (
              <tr key={d.id}>
                <td>
                  <Link to={`/p/${encodeURIComponent(project)}/deployments/${encodeURIComponent(d.name)}`}>
                    {d.name}
                  </Link>
                </td>
                <td>
                  {d.target.kind} {d.target.name}@{d.target.version}
                </td>
                <td>{d.hooks.join(', ')}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td className="num">{f.num(d.predictions, 0)}</td>
                <td className="num">{f.pct(d.overrideRate)}</td>
              </tr>
            )}
          />
        )}
      </Async>
    </>
  );
}

function Applicability({ d }: { d: Deployment }) {
  const { t } = useTranslation();
  const a = d.spec.applicability ?? {};
  const parts: string[] = [];
  if (a.conditions?.length)
    parts.push(
      t('deployments.conditions', {
        codes: a.conditions.map((c) => (c.system ? `${c.code} (${c.system})` : c.code)).join(', '),
      }),
    );
  if (a.age) parts.push(t('deployments.age', { min: a.age.min ?? 0, max: a.age.max ?? '∞' }));
  if (a.sex?.length) parts.push(t('deployments.sex', { values: a.sex.join(', ') }));
  if (parts.length === 0) parts.push(t('deployments.everyone'));
  return (
    <ul data-testid="applicability">
      {parts.map((p) => (
        <li key={p}>{p}</li>
      ))}
    </ul>
  );
}

function TryPanel({ project, d }: { project: string; d: Deployment }) {
  const { t } = useTranslation();
  const [text, setText] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const [hook, setHook] = useState(d.hooks[0] ?? 'patient-view');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TryResult | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function loadSample() {
    setError(null);
    try {
      const s = await ok(
        api.GET('/api/v1/projects/{project}/deployments/{name}/sample', {
          params: { path: { project, name: d.name } },
        }),
      );
      setText(JSON.stringify(s.bundle, null, 2));
      setNote(
        s.applies
          ? t('deployments.sampleApplies', { patient: s.patientId })
          : t('deployments.sampleNotApplies', { patient: s.patientId, reasons: s.reasons.join('; ') }),
      );
    } catch (err) {
      setError(err);
    }
  }

  async function send(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setResult(null);
    let bundle: unknown;
    try {
      bundle = JSON.parse(text);
    } catch (err) {
      setError(new Error(t('deployments.invalidJson', { message: (err as Error).message })));
      return;
    }
    setBusy(true);
    try {
      setResult(
        await ok(
          api.POST('/api/v1/projects/{project}/deployments/{name}/try', {
            params: { path: { project, name: d.name } },
            body: { hook: hook as 'patient-view' | 'order-select', bundle },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="grid2">
      <form onSubmit={(e) => void send(e)}>
        <p className="muted">{t('deployments.tryHint')}</p>
        <div className="row" style={{ marginBottom: '0.5rem' }}>
          <label>
            {t('deployments.hook')}
            <select value={hook} onChange={(e) => setHook(e.target.value)} name="hook">
              {d.hooks.map((h) => (
                <option key={h}>{h}</option>
              ))}
            </select>
          </label>
          <button type="button" className="secondary" onClick={() => void loadSample()}>
            {t('deployments.sample')}
          </button>
        </div>
        {note && (
          <p className="muted" role="status">
            {note}
          </p>
        )}
        <label>
          {t('deployments.bundle')}
          <textarea
            rows={16}
            value={text}
            onChange={(e) => setText(e.target.value)}
            name="bundle"
            spellCheck={false}
            required
          />
        </label>
        <button type="submit" disabled={busy || !text.trim()} style={{ marginTop: '0.5rem' }}>
          {busy ? t('deployments.sending') : t('deployments.send')}
        </button>
      </form>
      <div aria-live="polite">
        <h3>{t('deployments.cards')}</h3>
        {error !== null && <ErrorBox error={error} />}
        {result && <CdsCards cards={result.cards} />}
      </div>
    </div>
  );
}

export function DeploymentPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '', name = '' } = useParams();
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/deployments/{name}', { params: { path: { project, name } } })),
    `${project}/${name}`,
  );
  return (
    <Async state={state}>
      {(d) => {
        const href = targetHref(project, d);
        return (
          <>
            <h1>
              {d.name} <StatusBadge status={d.status} />
            </h1>
            {d.spec.description && <p>{d.spec.description}</p>}
            <div className="grid2">
              <Section title={t('deployments.applicability')} id="applicability-title">
                <Applicability d={d} />
                <dl className="facts">
                  <dt>{t('deployments.target')}</dt>
                  <dd>
                    {href ? (
                      <Link to={href}>
                        {d.target.name}@{d.target.version}
                      </Link>
                    ) : (
                      `${d.target.kind} ${d.target.name}@${d.target.version}`
                    )}
                  </dd>
                  <dt>{t('deployments.hooks')}</dt>
                  <dd>{d.hooks.join(', ')}</dd>
                  <dt>{t('deployments.predictions')}</dt>
                  <dd>{f.num(d.predictions, 0)}</dd>
                  <dt>{t('deployments.overrideRate')}</dt>
                  <dd>{f.pct(d.overrideRate)}</dd>
                  <dt>{t('datasets.at')}</dt>
                  <dd>
                    {f.date(d.updatedAt)} · {d.createdBy}
                  </dd>
                </dl>
              </Section>
              <Section title={t('deployments.cardBands')} id="bands-title">
                <ul>
                  {(d.spec.card?.bands ?? []).map((b, i) => (
                    <li key={i}>
                      <span
                        className={`badge badge-${b.indicator === 'critical' ? 'failed' : b.indicator === 'warning' ? 'pruned' : 'candidate'}`}
                      >
                        {t(`deployments.indicator.${b.indicator}`, { defaultValue: b.indicator })}
                      </span>{' '}
                      {b.summary}
                    </li>
                  ))}
                </ul>
              </Section>
            </div>
            <Section title={t('deployments.mapping')} id="mapping-title">
              <div className="table-wrap">
                <table data-testid="mapping">
                  <thead>
                    <tr>
                      <th>{t('deployments.feature')}</th>
                      <th>{t('deployments.resource')}</th>
                      <th>{t('deployments.code')}</th>
                      <th>{t('deployments.expression')}</th>
                      <th>{t('deployments.aggregate')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {(d.spec.mapping ?? []).map((m) => (
                      <tr key={m.feature}>
                        <td>
                          <strong>{m.label ?? m.feature}</strong>
                          {m.label && (
                            <div className="muted">
                              <code>{m.feature}</code>
                            </div>
                          )}
                        </td>
                        <td>
                          {m.resource}
                          {m.source ? ` (${m.source})` : ''}
                        </td>
                        <td className="mono">{m.code ?? '–'}</td>
                        <td className="mono">{m.expression ?? '–'}</td>
                        <td>
                          {m.aggregate ?? t('deployments.latest')}
                          {m.windowDays ? ` · ${t('deployments.window', { days: m.windowDays })}` : ''}
                          {m.unit ? ` · ${m.unit}` : ''}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Section>
            <Section title={t('deployments.tryIt')} id="try-title">
              <TryPanel project={project} d={d} />
            </Section>
          </>
        );
      }}
    </Async>
  );
}
