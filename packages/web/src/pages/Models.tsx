// Models: every version with AUC [CI] and stage; per version the holdout metrics, ROC / PR / calibration plots,
// confusion matrix at the threshold, SHAP summary, subgroups (small groups flagged), the model card, comparison
// with the approved version, the lineage graph, and approve / retire for the users allowed to.
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../api/client';
import type { Metrics, ModelVersionDetail } from '../api/types';
import { Async, ErrorBox, ListTable, Section, StatusBadge, useLoad } from '../components/common';
import { Bars } from '../components/bars';
import { CalibrationChart, CurveChart } from '../components/charts';
import { LineageView, modelHref } from '../components/Lineage';
import { Markdown } from '../components/Markdown';
import { useFormat } from '../i18n/format';
import { can } from '../permissions';
import { useProject } from './Projects';

function listVersions(project: string) {
  return ok(api.GET('/api/v1/projects/{project}/models', { params: { path: { project } } }));
}

function getVersion(project: string, model: string, version: number) {
  return ok(
    api.GET('/api/v1/projects/{project}/models/{model}/versions/{version}', {
      params: { path: { project, model, version } },
    }),
  );
}

function AucText({ auc, ci }: { auc: number | null; ci: { lower: number; upper: number } | null }) {
  const f = useFormat();
  if (auc === null) return <>–</>;
  return (
    <>
      {f.num(auc, 3)}
      {ci && (
        <span className="muted">
          {' '}
          [{f.num(ci.lower, 3)}, {f.num(ci.upper, 3)}]
        </span>
      )}
    </>
  );
}

export function ModelsPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '' } = useParams();
  const state = useLoad(() => listVersions(project), project);
  return (
    <>
      <h1>{t('models.title')}</h1>
      <Async state={state}>
        {({ versions }) => (
          <ListTable
            items={versions}
            empty={t('models.empty')}
            testId="model-table"
            head={
              <>
                <th>{t('models.model')}</th>
                <th className="num">{t('models.version')}</th>
                <th>{t('models.stage')}</th>
                <th>{t('models.auc')}</th>
                <th>{t('models.algorithm')}</th>
                <th>{t('models.trainedBy')}</th>
                <th>{t('models.created')}</th>
              </>
            }
            row={(v) => (
              <tr key={v.id}>
                <td>
                  <Link to={modelHref(project, v.model, v.version)}>
                    {v.model}@{v.version}
                  </Link>
                </td>
                <td className="num">{v.version}</td>
                <td>
                  <StatusBadge status={v.stage} />
                </td>
                <td>
                  <AucText auc={v.auc} ci={v.aucCi} />
                </td>
                <td>{v.algorithm}</td>
                <td>{v.trainedBy}</td>
                <td className="nowrap">{f.date(v.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </Async>
    </>
  );
}

export function ConfusionMatrix({ c }: { c: { tp: number; fp: number; tn: number; fn: number } }) {
  const { t } = useTranslation();
  const f = useFormat();
  return (
    <table className="confusion" data-testid="confusion">
      <thead>
        <tr>
          <td />
          <th scope="col">{t('models.predPos')}</th>
          <th scope="col">{t('models.predNeg')}</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">{t('models.actualPos')}</th>
          <td className="hit">{f.num(c.tp, 0)}</td>
          <td className="miss">{f.num(c.fn, 0)}</td>
        </tr>
        <tr>
          <th scope="row">{t('models.actualNeg')}</th>
          <td className="miss">{f.num(c.fp, 0)}</td>
          <td className="hit">{f.num(c.tn, 0)}</td>
        </tr>
      </tbody>
    </table>
  );
}

type MetricKey =
  'auc' | 'averagePrecision' | 'sensitivity' | 'specificity' | 'ppv' | 'npv' | 'accuracy' | 'f1' | 'brier';
const METRIC_ROWS: { key: MetricKey; pct?: boolean }[] = [
  { key: 'auc' },
  { key: 'averagePrecision' },
  { key: 'sensitivity', pct: true },
  { key: 'specificity', pct: true },
  { key: 'ppv', pct: true },
  { key: 'npv', pct: true },
  { key: 'accuracy', pct: true },
  { key: 'f1' },
  { key: 'brier' },
];

function MetricsTable({ m, threshold }: { m: Metrics; threshold: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  return (
    <table data-testid="metrics">
      <tbody>
        <tr>
          <th scope="row">{t('models.auc')}</th>
          <td className="num">
            <AucText auc={m.auc} ci={m.aucCi} />
          </td>
        </tr>
        {METRIC_ROWS.slice(1).map(({ key, pct }) => (
          <tr key={key}>
            <th scope="row">{t(`models.${key}`)}</th>
            <td className="num">{pct ? f.pct(m[key] ?? null) : f.num(m[key] ?? null, 3)}</td>
          </tr>
        ))}
        <tr>
          <th scope="row">{t('models.calibrationSlope')}</th>
          <td className="num">{f.num(m.calibration?.slope ?? null, 3)}</td>
        </tr>
        <tr>
          <th scope="row">{t('models.threshold')}</th>
          <td className="num">
            {t('models.thresholdMethod', { value: f.num(threshold, 3), method: m.threshold?.method ?? '' })}
          </td>
        </tr>
        <tr>
          <th scope="row">{t('models.n')}</th>
          <td className="num">{f.num(m.n, 0)}</td>
        </tr>
        <tr>
          <th scope="row">{t('models.prevalence')}</th>
          <td className="num">{f.pct(m.prevalence)}</td>
        </tr>
      </tbody>
    </table>
  );
}

function Comparison({ a, b }: { a: ModelVersionDetail; b: ModelVersionDetail }) {
  const { t } = useTranslation();
  const f = useFormat();
  const rows: { key: MetricKey; pct?: boolean }[] = METRIC_ROWS;
  return (
    <table data-testid="comparison">
      <thead>
        <tr>
          <th>{t('models.metricName')}</th>
          <th className="num">{t('models.compareThis')}</th>
          <th className="num">{t('models.compareApproved', { version: b.version })}</th>
          <th className="num">{t('models.difference')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ key, pct }) => {
          const x = a.metrics[key] ?? null;
          const y = b.metrics[key] ?? null;
          const d = x !== null && y !== null ? x - y : null;
          const fmt = (v: number | null) => (pct ? f.pct(v) : f.num(v, 3));
          return (
            <tr key={key}>
              <th scope="row">{t(`models.${key}`)}</th>
              <td className="num">{fmt(x)}</td>
              <td className="num">{fmt(y)}</td>
              <td className="num">{d === null ? '–' : `${d > 0 ? '+' : ''}${fmt(d)}`}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function StageAction({
  project,
  v,
  action,
  onDone,
}: {
  project: string;
  v: ModelVersionDetail;
  action: 'approve' | 'retire';
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!reason.trim()) {
      setError(new Error(t('models.reasonRequired')));
      return;
    }
    setBusy(true);
    try {
      const path = { project, model: v.model, version: v.version };
      if (action === 'approve')
        await ok(
          api.POST('/api/v1/projects/{project}/models/{model}/versions/{version}/approve', {
            params: { path },
            body: { reason: reason.trim() },
          }),
        );
      else
        await ok(
          api.POST('/api/v1/projects/{project}/models/{model}/versions/{version}/retire', {
            params: { path },
            body: { reason: reason.trim() },
          }),
        );
      setOpen(false);
      setReason('');
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  if (!open)
    return (
      <button type="button" className={action === 'retire' ? 'danger' : undefined} onClick={() => setOpen(true)}>
        {t(`models.${action}`)}
      </button>
    );
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label={t(`models.${action}Title`)}>
      <h3>{t(`models.${action}Title`)}</h3>
      <label>
        {t('models.reason')}
        <textarea
          name="reason"
          rows={3}
          required
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          autoFocus
          maxLength={5000}
        />
      </label>
      <div className="row" style={{ marginTop: '0.5rem' }}>
        <button type="submit" disabled={busy} className={action === 'retire' ? 'danger' : undefined}>
          {t(`models.${action}`)}
        </button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>
          {t('app.cancel')}
        </button>
      </div>
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}

export function ModelVersionPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '', model = '', version = '' } = useParams();
  const ver = Number(version);
  const proj = useProject(project);
  const [message, setMessage] = useState<string | null>(null);
  const state = useLoad(
    async () => {
      const [detail, list] = await Promise.all([getVersion(project, model, ver), listVersions(project)]);
      const approved = list.versions.find((x) => x.model === model && x.stage === 'approved' && x.version !== ver);
      const other = approved ? await getVersion(project, model, approved.version) : null;
      return { detail, approved: other };
    },
    `${project}/${model}@${ver}:${message ?? ''}`,
  );
  const roles = proj.data?.roles ?? [];
  const lineage = useLoad(
    () =>
      can(roles, 'lineage.read')
        ? ok(
            api.GET('/api/v1/projects/{project}/lineage', {
              params: { path: { project }, query: { model, modelVersion: ver, direction: 'both' } },
            }),
          )
        : Promise.resolve(null),
    `${project}/${model}@${ver}:lineage:${roles.join()}:${message ?? ''}`,
  );

  return (
    <Async state={state}>
      {({ detail: v, approved }) => {
        const m = v.metrics;
        const shap = (m.importance ?? [])
          .map((x) => ({ label: x.feature, value: Math.abs(x.meanAbsShap ?? x.coefficient ?? x.gain ?? 0) }))
          .sort((a, b) => b.value - a.value)
          .slice(0, 10);
        const shapKind = (m.importance ?? []).some((x) => x.meanAbsShap != null)
          ? t('models.shapValue')
          : (m.importance ?? []).some((x) => x.coefficient != null)
            ? t('models.coefficient')
            : t('models.importanceGain');
        return (
          <>
            <h1>
              {v.model}@{v.version} <StatusBadge status={v.stage} />
            </h1>
            <p className="muted">
              {v.algorithm} · {t('models.trainedBy')} {v.trainedBy} · {f.date(v.createdAt)}
              {v.dataset && (
                <>
                  {' '}
                  ·{' '}
                  <Link
                    to={`/p/${encodeURIComponent(project)}/datasets/${encodeURIComponent(v.dataset)}?v=${v.datasetVersion}`}
                  >
                    {v.dataset}@{v.datasetVersion}
                  </Link>
                </>
              )}
              {v.studyId && (
                <>
                  {' '}
                  ·{' '}
                  <Link to={`/p/${encodeURIComponent(project)}/studies/${encodeURIComponent(v.studyId)}`}>
                    {t('lineage.study')}
                  </Link>
                </>
              )}
            </p>
            {message && (
              <p className="okbox" role="status">
                {message}
              </p>
            )}
            <div className="row" style={{ marginBottom: '1rem', alignItems: 'flex-start' }}>
              {v.stage === 'candidate' && can(roles, 'model.approve') && (
                <StageAction project={project} v={v} action="approve" onDone={() => setMessage(t('models.approved'))} />
              )}
              {v.stage !== 'retired' && can(roles, 'model.retire') && (
                <StageAction project={project} v={v} action="retire" onDone={() => setMessage(t('models.retired'))} />
              )}
            </div>
            <div className="grid3">
              <Section title={t('models.metrics')} id="metrics-title">
                <MetricsTable m={m} threshold={v.threshold} />
              </Section>
              <Section title={t('models.confusion')} id="confusion-title">
                {m.confusion && <ConfusionMatrix c={m.confusion} />}
                <p className="muted">
                  {t('models.threshold')}: {f.num(v.threshold, 3)}
                </p>
              </Section>
              <Section title={t('models.shap')} id="shap-title">
                <Bars label={t('models.shap')} bars={shap.map((b) => ({ ...b, text: f.num(b.value, 3) }))} />
                <p className="muted">{shapKind}</p>
              </Section>
            </div>
            <div className="grid3 card">
              {m.roc && (
                <CurveChart
                  title={t('models.roc')}
                  x={m.roc.x}
                  y={m.roc.y}
                  xLabel={t('models.fpr')}
                  yLabel={t('models.tpr')}
                  diagonal={t('models.chance')}
                />
              )}
              {m.pr && (
                <CurveChart
                  title={t('models.pr')}
                  x={m.pr.x}
                  y={m.pr.y}
                  xLabel={t('models.recall')}
                  yLabel={t('models.precision')}
                  baseline={{ y: m.prevalence, label: t('models.prevalence') }}
                />
              )}
              {m.calibration && (
                <CalibrationChart
                  predicted={m.calibration.curve.meanPredicted}
                  observed={m.calibration.curve.fractionPositive}
                  counts={m.calibration.curve.count}
                />
              )}
            </div>
            <Section title={t('models.subgroups')} id="subgroups-title">
              <div className="table-wrap">
                <table data-testid="subgroups">
                  <thead>
                    <tr>
                      <th>{t('models.subgroupColumn')}</th>
                      <th>{t('models.subgroupGroup')}</th>
                      <th className="num">n</th>
                      <th className="num">{t('models.prevalence')}</th>
                      <th>{t('models.auc')}</th>
                      <th className="num">{t('models.sensitivity')}</th>
                      <th className="num">{t('models.specificity')}</th>
                      <th>{t('models.flagged')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {(m.subgroups ?? []).map((s) => (
                      <tr key={`${s.column}=${s.group}`}>
                        <td>{s.column}</td>
                        <td>{s.group}</td>
                        <td className="num">{f.num(s.n, 0)}</td>
                        <td className="num">{f.pct(s.prevalence)}</td>
                        <td>
                          <AucText auc={s.auc} ci={s.aucCi ?? null} />
                        </td>
                        <td className="num">{f.pct(s.sensitivity ?? null)}</td>
                        <td className="num">{f.pct(s.specificity ?? null)}</td>
                        <td>
                          {s.flagged && (
                            <span className="badge badge-flag">{s.flagReason ?? t('models.smallGroup')}</span>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Section>
            <Section title={t('models.compare')} id="compare-title">
              {approved ? <Comparison a={v} b={approved} /> : <p className="muted">{t('models.compareNone')}</p>}
            </Section>
            <Section title={t('models.lineage')} id="lineage-title">
              <p className="muted">{t('models.lineageHint')}</p>
              <Async state={lineage}>
                {(g) => (g ? <LineageView project={project} graph={g} current={`model_version:${v.id}`} /> : null)}
              </Async>
            </Section>
            <div className="grid2">
              <Section title={t('models.card')} id="card-title">
                {v.cardMarkdown ? <Markdown source={v.cardMarkdown} /> : <p className="muted">{t('app.none')}</p>}
              </Section>
              <Section title={t('models.history')} id="history-title">
                <ul className="activity">
                  {(v.stageHistory ?? []).map((h, i) => (
                    <li key={i}>
                      <span className="muted">{f.date(h.at)}</span> — <StatusBadge status={h.from} /> →{' '}
                      <StatusBadge status={h.to} /> <strong>{h.by}</strong>: {h.reason}
                    </li>
                  ))}
                </ul>
                <h3>{t('models.features')}</h3>
                <p>
                  {v.features.map((x, i) => (
                    <span key={x}>
                      {i > 0 && ', '}
                      <code>{x}</code>
                    </span>
                  ))}
                </p>
              </Section>
            </div>
          </>
        );
      }}
    </Async>
  );
}
