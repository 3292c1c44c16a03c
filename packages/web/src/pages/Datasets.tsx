// Datasets: the list; per dataset a versions timeline, per version its schema and column statistics (histograms,
// missingness), download for permitted roles, comparison of two versions, upload with progress for stewards.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, apiPath, ok, okAs } from '../api/client';
import type { ColumnStats, DatasetDiff, DatasetVersion } from '../api/types';
import { uploadDataset } from '../api/upload';
import { Async, ErrorBox, ListTable, Section, useLoad } from '../components/common';
import { Histogram, MissingBar } from '../components/bars';
import { useFormat } from '../i18n/format';
import { can } from '../permissions';
import { useProject } from './Projects';

const ENCODINGS = ['auto', 'utf-8', 'cp932'] as const;

function getVersion(project: string, dataset: string, version: number) {
  return ok(
    api.GET('/api/v1/projects/{project}/datasets/{dataset}/versions/{version}', {
      params: { path: { project, dataset, version } },
    }),
  );
}

export function UploadForm({
  project,
  dataset,
  onDone,
}: {
  project: string;
  dataset?: string;
  onDone: (dataset: string, version: number) => void;
}) {
  const { t } = useTranslation();
  const f = useFormat();
  const [name, setName] = useState(dataset ?? '');
  const [file, setFile] = useState<File | null>(null);
  const [message, setMessage] = useState('');
  const [encoding, setEncoding] = useState<string>('auto');
  const [progress, setProgress] = useState<number | null>(null);
  const [phase, setPhase] = useState<'idle' | 'sending' | 'processing'>('idle');
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!file) return;
    const ds = (dataset ?? name).trim();
    setError(null);
    setResult(null);
    setProgress(0);
    setPhase('sending');
    try {
      const r = await uploadDataset({
        project,
        dataset: ds,
        file,
        encoding,
        message,
        onProgress: (sent, total) => setProgress(total ? sent / total : 0),
        onSent: () => setPhase('processing'),
      });
      setResult(
        r.created
          ? t('datasets.uploaded', { version: r.version.version })
          : t('datasets.unchanged', { version: r.version.version }),
      );
      onDone(ds, r.version.version);
    } catch (err) {
      setError(err);
    } finally {
      setPhase('idle');
    }
  }

  return (
    <form onSubmit={(e) => void submit(e)} className="upload">
      <div className="row">
        {dataset === undefined && (
          <label>
            {t('datasets.name')}
            <input required value={name} onChange={(e) => setName(e.target.value)} name="dataset-name" />
          </label>
        )}
        <label>
          {t('datasets.uploadFile')}
          <input
            type="file"
            accept=".csv,.tsv,.txt,text/csv"
            required
            name="file"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </label>
        <label>
          {t('datasets.uploadEncoding')}
          <select value={encoding} onChange={(e) => setEncoding(e.target.value)} name="encoding">
            {ENCODINGS.map((x) => (
              <option key={x} value={x}>
                {x === 'auto' ? t('datasets.encodingAuto') : x}
              </option>
            ))}
          </select>
        </label>
        <label style={{ flex: 1, minWidth: '14rem' }}>
          {t('datasets.uploadMessage')}
          <input value={message} onChange={(e) => setMessage(e.target.value)} name="message" maxLength={2000} />
        </label>
        <button type="submit" disabled={phase !== 'idle' || !file}>
          {t('datasets.uploadStart')}
        </button>
      </div>
      {phase !== 'idle' && (
        <div role="status" style={{ marginTop: '0.5rem' }}>
          <progress value={progress ?? 0} max={1} aria-label={t('datasets.upload')} />
          {phase === 'sending'
            ? t('datasets.uploading', { percent: f.pct(progress ?? 0, 0) })
            : t('datasets.processing')}
          {file && <span className="muted"> ({f.bytes(file.size)})</span>}
        </div>
      )}
      {result && (
        <p className="okbox" role="status">
          {result}
        </p>
      )}
      {error !== null && <ErrorBox error={error} />}
    </form>
  );
}

export function DatasetsPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '' } = useParams();
  const navigate = useNavigate();
  const proj = useProject(project);
  const state = useLoad(
    () => ok(api.GET('/api/v1/projects/{project}/datasets', { params: { path: { project } } })),
    project,
  );
  return (
    <>
      <h1>{t('datasets.title')}</h1>
      <Async state={state}>
        {({ datasets }) => (
          <ListTable
            items={datasets}
            empty={t('datasets.empty')}
            head={
              <>
                <th>{t('datasets.name')}</th>
                <th>{t('datasets.kind')}</th>
                <th className="num">{t('datasets.latest')}</th>
                <th>{t('datasets.by')}</th>
                <th>{t('datasets.at')}</th>
              </>
            }
            row={(d) => (
              <tr key={d.name}>
                <td>
                  <Link to={`/p/${encodeURIComponent(project)}/datasets/${encodeURIComponent(d.name)}`}>{d.name}</Link>
                </td>
                <td>{d.kind}</td>
                <td className="num">{d.latestVersion}</td>
                <td>{d.createdBy}</td>
                <td className="nowrap">{f.date(d.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </Async>
      {can(proj.data?.roles, 'dataset.push') && (
        <Section title={t('datasets.upload')} id="upload-title">
          <UploadForm
            project={project}
            onDone={(ds, v) => navigate(`/p/${encodeURIComponent(project)}/datasets/${encodeURIComponent(ds)}?v=${v}`)}
          />
        </Section>
      )}
    </>
  );
}

function distinctText(d: ColumnStats['distinct'] | null, num: (x: number | null, digits?: number) => string): string {
  if (d === undefined || d === null) return '–';
  return typeof d === 'object' ? `≥ ${num(d.atLeast, 0)}` : num(d, 0);
}

function ColumnRow({ c, rows }: { c: ColumnStats; rows: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  const numeric = c.type === 'number' || c.type === 'integer';
  const range =
    c.min !== undefined && c.max !== undefined
      ? numeric
        ? `${f.num(Number(c.min))} – ${f.num(Number(c.max))}`
        : `${String(c.min)} – ${String(c.max)}`
      : '–';
  return (
    <tr>
      <th scope="row" style={{ color: 'inherit' }}>
        {c.name}
      </th>
      <td>
        <code>{c.type}</code>
      </td>
      <td className="missing-cell">
        <MissingBar missing={c.missing} total={rows || c.count + c.missing} />
      </td>
      <td className="num">{distinctText(c.distinct, f.num)}</td>
      <td className="nowrap">{range}</td>
      <td className="num">{c.mean !== undefined ? `${f.num(c.mean, 2)} ± ${f.num(c.std ?? 0, 2)}` : '–'}</td>
      <td>
        {c.histogram ? (
          <Histogram counts={c.histogram.counts} label={t('datasets.histogramOf', { column: c.name })} />
        ) : c.top && c.top.length > 0 ? (
          <div className="topvals" aria-label={t('datasets.topValues', { column: c.name })}>
            {c.top
              .slice(0, 3)
              .map((x) => `${x.value.length > 18 ? `${x.value.slice(0, 17)}…` : x.value} (${f.num(x.count, 0)})`)
              .join(', ')}
          </div>
        ) : null}
      </td>
    </tr>
  );
}

function VersionDetail({
  project,
  dataset,
  version,
  roles,
}: {
  project: string;
  dataset: string;
  version: number;
  roles: string[];
}) {
  const { t } = useTranslation();
  const f = useFormat();
  const navigate = useNavigate();
  const state = useLoad(() => getVersion(project, dataset, version), `${project}/${dataset}@${version}`);
  const [studyError, setStudyError] = useState<unknown>(null);
  async function startStudy() {
    setStudyError(null);
    try {
      const s = await okAs<{ id: string }>(
        api.POST('/api/v1/projects/{project}/studies', {
          params: { path: { project } },
          body: { dataset, version },
        }),
      );
      navigate(`/p/${encodeURIComponent(project)}/studies/${encodeURIComponent(s.id)}`);
    } catch (e) {
      setStudyError(e);
    }
  }
  return (
    <Async state={state}>
      {(v) => {
        const cols = v.schema?.columns ?? [];
        return (
          <>
            <Section title={t('datasets.version', { version: v.version })} id="version-title">
              <dl className="facts facts4">
                <dt>{t('datasets.rows')}</dt>
                <dd>{f.num(v.rowCount, 0)}</dd>
                <dt>{t('datasets.columns')}</dt>
                <dd>{cols.length}</dd>
                <dt>{t('datasets.size')}</dt>
                <dd>{f.bytes(v.sizeBytes)}</dd>
                {v.schema?.encoding && (
                  <>
                    <dt>{t('datasets.encoding')}</dt>
                    <dd>{v.schema.encoding}</dd>
                  </>
                )}
                <dt>{t('datasets.message')}</dt>
                <dd className="span3">{v.message || '–'}</dd>
                <dt>{t('datasets.by')}</dt>
                <dd>{v.createdBy}</dd>
                <dt>{t('datasets.at')}</dt>
                <dd>{f.date(v.createdAt)}</dd>
                <dt>{t('datasets.digest')}</dt>
                <dd className="mono span3">{v.contentDigest}</dd>
              </dl>
              <div className="row" style={{ marginTop: '0.75rem' }}>
                {can(roles, 'dataset.download') && v.kind === 'tabular' && (
                  <a
                    className="button"
                    href={apiPath('projects', project, 'datasets', dataset, 'versions', version, 'content')}
                    download={`${dataset}-v${version}.csv`}
                  >
                    {t('datasets.download')}
                  </a>
                )}
                {can(roles, 'study.run') && v.kind === 'tabular' && (
                  <button type="button" className="secondary" onClick={() => void startStudy()}>
                    {t('datasets.startStudy')}
                  </button>
                )}
              </div>
              {can(roles, 'dataset.download') && <p className="muted">{t('datasets.downloadNote')}</p>}
              {studyError !== null && <ErrorBox error={studyError} />}
            </Section>
            {v.kind === 'files' ? (
              <Section title={t('datasets.files')} id="files-title">
                <p>{t('datasets.filesVersion', { count: v.fileCount })}</p>
                <table>
                  <thead>
                    <tr>
                      <th>{t('datasets.path')}</th>
                      <th className="num">{t('datasets.size')}</th>
                      <th>{t('datasets.digest')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {(v.files ?? []).slice(0, 500).map((x) => (
                      <tr key={x.path}>
                        <td>{x.path}</td>
                        <td className="num">{f.bytes(x.size)}</td>
                        <td className="mono">{x.digest}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Section>
            ) : (
              <Section title={t('datasets.schema')} id="schema-title">
                <div className="table-wrap">
                  <table data-testid="schema-table">
                    <thead>
                      <tr>
                        <th>{t('datasets.column')}</th>
                        <th>{t('datasets.type')}</th>
                        <th>{t('datasets.missing')}</th>
                        <th className="num">{t('datasets.distinct')}</th>
                        <th>{t('datasets.range')}</th>
                        <th className="num">{t('datasets.mean')}</th>
                        <th>{t('datasets.distribution')}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {cols.map((c) => (
                        <ColumnRow key={c.name} c={c} rows={v.rowCount ?? 0} />
                      ))}
                    </tbody>
                  </table>
                </div>
              </Section>
            )}
          </>
        );
      }}
    </Async>
  );
}

function isEmptyDiff(d: DatasetDiff): boolean {
  return (
    d.rows.from === d.rows.to &&
    d.columnsAdded.length === 0 &&
    d.columnsRemoved.length === 0 &&
    d.typeChanged.length === 0 &&
    !d.stats.some((s) => s.changed)
  );
}

/** Rows, columns added / removed / retyped, and per changed column its missingness, mean, SD and distinct shifts. */
export function DiffView({ diff }: { diff: DatasetDiff }) {
  const { t } = useTranslation();
  const f = useFormat();
  const pair = (a: string, b: string) => (a === b ? a : `${a} → ${b}`);
  if (isEmptyDiff(diff)) return <p className="muted">{t('datasets.diffNone')}</p>;
  const changed = diff.stats.filter((s) => s.changed);
  return (
    <div data-testid="diff">
      <p>{t('datasets.diffRows', { from: f.num(diff.rows.from, 0), to: f.num(diff.rows.to, 0) })}</p>
      {diff.columnsAdded.length > 0 && (
        <p>
          {t('datasets.diffAdded')}: <strong>{diff.columnsAdded.join(', ')}</strong>
        </p>
      )}
      {diff.columnsRemoved.length > 0 && (
        <p>
          {t('datasets.diffRemoved')}: <strong>{diff.columnsRemoved.join(', ')}</strong>
        </p>
      )}
      {diff.typeChanged.length > 0 && (
        <p>
          {t('datasets.diffTypeChanged')}: {diff.typeChanged.map((c) => `${c.name} (${c.from} → ${c.to})`).join(', ')}
        </p>
      )}
      {changed.length > 0 && (
        <>
          <h3>{t('datasets.diffStats')}</h3>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>{t('datasets.column')}</th>
                  <th className="num">{t('datasets.stat.missing')}</th>
                  <th className="num">{t('datasets.stat.mean')}</th>
                  <th className="num">{t('datasets.stat.std')}</th>
                  <th className="num">{t('datasets.meanShift')}</th>
                  <th className="num">{t('datasets.stat.distinct')}</th>
                </tr>
              </thead>
              <tbody>
                {changed.map((s) => (
                  <tr key={s.name}>
                    <th scope="row" style={{ color: 'inherit' }}>
                      {s.name}
                      {s.typeFrom !== s.typeTo && <div className="muted">{pair(s.typeFrom, s.typeTo)}</div>}
                    </th>
                    <td className="num">{pair(f.pct(s.missingFrom), f.pct(s.missingTo))}</td>
                    <td className="num">{pair(f.num(s.meanFrom, 2), f.num(s.meanTo, 2))}</td>
                    <td className="num">{pair(f.num(s.stdFrom, 2), f.num(s.stdTo, 2))}</td>
                    <td className="num">
                      {s.meanShiftStd === null
                        ? '–'
                        : Math.abs(s.meanShiftStd) < 0.005
                          ? f.num(0, 2)
                          : `${s.meanShiftStd > 0 ? '+' : ''}${f.num(s.meanShiftStd, 2)}`}
                    </td>
                    <td className="num">
                      {pair(distinctText(s.distinctFrom, f.num), distinctText(s.distinctTo, f.num))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}

function Compare({ project, dataset, versions }: { project: string; dataset: string; versions: DatasetVersion[] }) {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const nums = versions.map((v) => v.version).sort((a, b) => a - b);
  const [from, setFrom] = useState<number>(Number(params.get('from')) || nums[nums.length - 2] || 0);
  const [to, setTo] = useState<number>(Number(params.get('to')) || nums[nums.length - 1] || 0);
  const active = params.get('from') && params.get('to');
  const key = active ? `${project}/${dataset}:${params.get('from')}..${params.get('to')}` : '';
  const state = useLoad(
    async () =>
      active
        ? ok(
            api.GET('/api/v1/projects/{project}/datasets/{dataset}/diff', {
              params: {
                path: { project, dataset },
                query: { from: Number(params.get('from')), to: Number(params.get('to')) },
              },
            }),
          )
        : null,
    key,
  );
  if (nums.length < 2) return <p className="muted">{t('datasets.diffNeedTwo')}</p>;
  return (
    <>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          const next = new URLSearchParams(params);
          next.set('from', String(from));
          next.set('to', String(to));
          setParams(next);
        }}
      >
        <label>
          {t('datasets.diffFrom')}
          <select value={from} onChange={(e) => setFrom(Number(e.target.value))} name="from">
            {nums.map((n) => (
              <option key={n} value={n}>
                {t('datasets.versionShort', { version: n })}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('datasets.diffTo')}
          <select value={to} onChange={(e) => setTo(Number(e.target.value))} name="to">
            {nums.map((n) => (
              <option key={n} value={n}>
                {t('datasets.versionShort', { version: n })}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">{t('datasets.diffRun')}</button>
      </form>
      {active && <Async state={state}>{(d) => (d ? <DiffView diff={d} /> : null)}</Async>}
    </>
  );
}

export function DatasetPage() {
  const { t } = useTranslation();
  const f = useFormat();
  const { project = '', dataset = '' } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const proj = useProject(project);
  const state = useLoad(
    () =>
      ok(
        api.GET('/api/v1/projects/{project}/datasets/{dataset}/versions', {
          params: { path: { project, dataset }, query: { limit: 200 } },
        }),
      ),
    `${project}/${dataset}`,
  );
  const base = `/p/${encodeURIComponent(project)}/datasets/${encodeURIComponent(dataset)}`;
  return (
    <>
      <h1>
        {t('datasets.name')}: {dataset}
      </h1>
      <Async state={state}>
        {({ versions }) => {
          const current = Number(params.get('v')) || versions[0]?.version || 0;
          const roles = proj.data?.roles ?? [];
          return (
            <div className="dataset-layout">
              <aside className="card">
                <h2>{t('datasets.timeline')}</h2>
                <ol className="timeline">
                  {versions.map((v) => (
                    <li key={v.version} className={v.version === current ? 'current' : undefined}>
                      <Link to={`${base}?v=${v.version}`} aria-current={v.version === current ? 'page' : undefined}>
                        {t('datasets.versionShort', { version: v.version })}
                      </Link>{' '}
                      <span className="muted">{f.date(v.createdAt)}</span>
                      <div>{v.message}</div>
                      <div className="muted">
                        {v.createdBy} · {t('datasets.rowsCount', { n: f.num(v.rowCount, 0) })} · {f.bytes(v.sizeBytes)}
                      </div>
                    </li>
                  ))}
                </ol>
              </aside>
              <div>
                {current > 0 && <VersionDetail project={project} dataset={dataset} version={current} roles={roles} />}
                <Section title={t('datasets.diff')} id="diff-title">
                  <Compare key={versions.length} project={project} dataset={dataset} versions={versions} />
                </Section>
                {can(roles, 'dataset.push') && (
                  <Section title={t('datasets.upload')} id="upload-title">
                    <UploadForm
                      project={project}
                      dataset={dataset}
                      onDone={(_ds, v) => {
                        state.reload();
                        navigate(`${base}?v=${v}`);
                      }}
                    />
                  </Section>
                )}
              </div>
            </div>
          );
        }}
      </Async>
    </>
  );
}
