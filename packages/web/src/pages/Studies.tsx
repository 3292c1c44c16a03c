// Studies: the list, and per study live progress (polled every 2 s while it runs: trials done/total, elapsed, best
// so far), the optimisation history plot, parameter importance and the trial table.
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { ApiError, api, ok } from '../api/client';
import type { Study, StudyDetail } from '../api/types';
import { Async, ErrorBox, ListTable, Loading, Section, StatusBadge, useLoad } from '../components/common';
import { Bars } from '../components/bars';
import { HistoryChart } from '../components/charts';
import { useFormat } from '../i18n/format';
import { can } from '../permissions';
import { modelHref } from '../components/Lineage';
import { useProject } from './Projects';

const POLL_MS = 2000;
const ACTIVE = new Set(['queued', 'running']);

function shortId(id: string) {
  return id.slice(-8);
}

export function StudiesPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '' } = useParams();
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/studies', { params: { path: { project } } })),
    project,
  );
  return (
    <>
      <h1>{t('studies.title')}</h1>
      <Async state={state}>
        {({ studies }) => (
          <ListTable
            items={studies}
            empty={t('studies.empty')}
            head={
              <>
                <th>{t('studies.title')}</th>
                <th>{t('studies.dataset')}</th>
                <th>{t('studies.status')}</th>
                <th>{t('studies.progress')}</th>
                <th className="num">{t('studies.best')}</th>
                <th>{t('studies.model')}</th>
                <th>{t('studies.started')}</th>
              </>
            }
            row={(s) => (
              <tr key={s.id}>
                <td>
                  <Link to={`/p/${encodeURIComponent(project)}/studies/${encodeURIComponent(s.id)}`}>
                    {shortId(s.id)}
                  </Link>
                </td>
                <td>
                  {s.dataset}@{s.datasetVersion}
                </td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{t('studies.trialsOf', { done: s.trialsDone, total: s.trials })}</td>
                <td className="num">{f.num(s.bestValue, 3)}</td>
                <td>
                  {s.modelVersion && (
                    <Link to={modelHref(project, s.modelVersion.model, s.modelVersion.version)}>
                      {s.modelVersion.model}@{s.modelVersion.version}
                    </Link>
                  )}
                </td>
                <td className="nowrap">{f.date(s.startedAt ?? s.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </Async>
    </>
  );
}

/** Polls a study every POLL_MS while it is queued or running; stops once it has finished or the API refuses (4xx). */
function useStudy(project: string, id: string) {
  const [study, setStudy] = useState<StudyDetail | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const s = await ok(
          api.GET('/api/v1/projects/{project}/studies/{study}', { params: { path: { project, study: id } } }),
        );
        if (stop) return;
        setStudy(s);
        setError(null);
        if (ACTIVE.has(s.status)) timer = setTimeout(() => void load(), POLL_MS);
      } catch (e) {
        if (stop) return;
        setError(e);
        // Retry what may pass (network, 5xx); a 4xx (logged out, access revoked, study gone) will not: stop polling.
        if (!(e instanceof ApiError && e.status >= 400 && e.status < 500))
          timer = setTimeout(() => void load(), POLL_MS * 2);
      }
    };
    void load();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [project, id, tick]);
  return { study, error, reload: () => setTick((x) => x + 1) };
}

function useNow(active: boolean) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const h = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(h);
  }, [active]);
  return now;
}

export function StudyProgress({ study }: { study: Study }) {
  const { t } = useTranslation();
  const f = useFormat();
  const active = ACTIVE.has(study.status);
  const now = useNow(active);
  const start = study.startedAt ? Date.parse(study.startedAt) : null;
  const end = study.finishedAt ? Date.parse(study.finishedAt) : now;
  return (
    <div data-testid="study-progress" aria-live="polite">
      <div className="kpis">
        <div className="kpi">
          <span className="label">{t('studies.status')}</span>
          <span className="value" data-testid="study-status">
            <StatusBadge status={study.status} />
          </span>
        </div>
        <div className="kpi">
          <span className="label">{t('studies.progress')}</span>
          <span className="value" data-testid="study-trials">
            {t('studies.trialsOf', { done: study.trialsDone, total: study.trials })}
          </span>
        </div>
        <div className="kpi">
          <span className="label">{t('studies.elapsed')}</span>
          <span className="value">{start !== null ? f.duration(end - start) : '–'}</span>
        </div>
        <div className="kpi">
          <span className="label">
            {t('studies.best')} ({study.metric.toUpperCase()})
          </span>
          <span className="value" data-testid="study-best">
            {f.num(study.bestValue, 4)}
          </span>
          {study.bestTrial !== null && (
            <span className="label">{t('studies.bestTrial', { trial: study.bestTrial })}</span>
          )}
        </div>
      </div>
      <progress value={study.trialsDone} max={Math.max(1, study.trials)} aria-label={t('studies.progress')} />
      {active && <p className="muted">{t('studies.live')}</p>}
    </div>
  );
}

function paramText(params: Record<string, unknown>, num: (x: number) => string): string {
  return Object.entries(params)
    .filter(([k]) => k !== 'algorithm')
    .map(([k, v]) => `${k}=${typeof v === 'number' ? num(v) : String(v)}`)
    .join(', ');
}

/** The server's estimate of each hyperparameter's main effect, refreshed as trials finish. */
function Importance({ project, study, trialsDone }: { project: string; study: string; trialsDone: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  const state = useLoad(
    () =>
      ok(
        api.GET('/api/v1/projects/{project}/studies/{study}/importance', {
          params: { path: { project, study } },
        }),
      ),
    `${project}/${study}:${trialsDone}`,
  );
  return (
    <>
      <p className="muted">{t('studies.importanceNote')}</p>
      {state.data && state.data.params.length > 0 ? (
        <Bars
          label={t('studies.importance')}
          bars={[...state.data.params]
            .sort((a, b) => b.importance - a.importance)
            .slice(0, 12)
            .map((p) => ({ label: p.name, value: p.importance, text: f.pct(p.importance) }))}
        />
      ) : state.error ? (
        <ErrorBox error={state.error} onRetry={state.reload} />
      ) : (
        <p className="muted">{t('studies.importanceWaiting')}</p>
      )}
    </>
  );
}

export function StudyPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '', study: id = '' } = useParams();
  const proj = useProject(project);
  const { study, error, reload } = useStudy(project, id);
  const [cancelError, setCancelError] = useState<unknown>(null);
  if (!study) return error ? <ErrorBox error={error} onRetry={reload} /> : <Loading />;
  const trials = study.trialsList ?? [];
  // A pruned trial stopped early: its last value is an intermediate report on another scale, so only completed
  // trials are plotted and valued.
  const completed = trials.filter((x) => x.state === 'complete' && x.value !== null);
  const maximize = study.metric !== 'logloss' && study.metric !== 'brier';
  return (
    <>
      <h1>{t('studies.study', { id: shortId(study.id) })}</h1>
      <p className="muted">
        {t('studies.dataset')}:{' '}
        <Link
          to={`/p/${encodeURIComponent(project)}/datasets/${encodeURIComponent(study.dataset)}?v=${study.datasetVersion}`}
        >
          {study.dataset}@{study.datasetVersion}
        </Link>{' '}
        · {study.createdBy} · {f.date(study.createdAt)}
      </p>
      <Section title={t('studies.progressTitle')} id="progress-title">
        <StudyProgress study={study} />
        {study.error && (
          <p className="error">
            {t('studies.error')}: {study.error}
          </p>
        )}
        {study.modelVersion && (
          <p>
            {t('studies.model')}:{' '}
            <Link
              to={modelHref(project, study.modelVersion.model, study.modelVersion.version)}
              data-testid="study-model"
            >
              {study.modelVersion.model}@{study.modelVersion.version}
            </Link>
          </p>
        )}
        {ACTIVE.has(study.status) && can(proj.data?.roles, 'study.run') && (
          <button
            type="button"
            className="danger"
            onClick={() =>
              void ok(
                api.POST('/api/v1/projects/{project}/studies/{study}/cancel', {
                  params: { path: { project, study: id } },
                }),
              )
                .then(reload)
                .catch(setCancelError)
            }
          >
            {t('studies.cancel')}
          </button>
        )}
        {cancelError !== null && <ErrorBox error={cancelError} />}
      </Section>
      <div className="grid2">
        <section className="card">
          {completed.length > 0 ? (
            <HistoryChart trials={completed} maximize={maximize} />
          ) : (
            <>
              <h2>{t('studies.history')}</h2>
              <p className="muted">{t('studies.noTrials')}</p>
            </>
          )}
        </section>
        <Section title={t('studies.importance')} id="importance-title">
          <Importance project={project} study={study.id} trialsDone={study.trialsDone} />
        </Section>
      </div>
      <Section title={t('studies.trials')} id="trials-title">
        <div className="table-wrap">
          <table data-testid="trial-table">
            <thead>
              <tr>
                <th className="num">{t('studies.trialNumber')}</th>
                <th>{t('studies.algorithm')}</th>
                <th>{t('studies.state')}</th>
                <th className="num">{t('studies.value')}</th>
                <th className="num">{t('studies.duration')}</th>
                <th>{t('studies.params')}</th>
              </tr>
            </thead>
            <tbody>
              {[...trials]
                .sort((a, b) => a.number - b.number)
                .map((tr) => (
                  <tr key={tr.number} className={tr.number === study.bestTrial ? 'selected' : undefined}>
                    <td className="num">{tr.number}</td>
                    <td>{tr.algorithm}</td>
                    <td>
                      <StatusBadge status={tr.state} />
                    </td>
                    <td className="num">{tr.state === 'complete' ? f.num(tr.value, 4) : '–'}</td>
                    <td className="num">{tr.durationMs !== null ? f.duration(tr.durationMs) : '–'}</td>
                    <td className="mono" style={{ fontSize: '0.8rem' }}>
                      {paramText(tr.params, (x) => f.num(x, 3))}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}
