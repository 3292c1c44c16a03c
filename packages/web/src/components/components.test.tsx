// @vitest-environment jsdom
// Component tests for the console's building blocks: the lineage graph (layers and keyboard navigation), CDS cards,
// the confusion matrix, study progress, the dataset diff, importance, and the language switch.
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import i18n, { setLanguage, STORAGE_KEY } from '../i18n';
import { LanguageSwitch } from '../App';
import type { DatasetDiff, LineageGraph, Study } from '../api/types';
import { CdsCards } from './CdsCards';
import { layout, LineageView } from './Lineage';
import { ConfusionMatrix } from '../pages/Models';
import { StudyProgress } from '../pages/Studies';
import { DiffView } from '../pages/Datasets';
import { localDayBound } from '../pages/Audit';

beforeAll(async () => {
  await setLanguage('en');
});
afterEach(cleanup);

const graph: LineageGraph = {
  root: { kind: 'model_version', id: 'mv1' },
  direction: 'both',
  nodes: [
    { kind: 'dataset_version', id: 'dv1', label: 'cohort@2', detail: { rows: 965 } },
    { kind: 'recipe_run', id: 'rr1', label: 'hba1c-control-periods@1.0.0' },
    { kind: 'dataset_version', id: 'dv0', label: 'labs@1', detail: { rows: 10 } },
    { kind: 'study', id: 'st1', label: 'study 0bfa97b3', detail: { status: 'succeeded', trials: '6/6' } },
    { kind: 'model_version', id: 'mv1', label: 'oral-response@1', detail: { stage: 'approved', algorithm: 'gbdt' } },
    {
      kind: 'deployment',
      id: 'dp1',
      label: 'deployment oral-response v1',
      detail: { status: 'active', predictions: 3 },
    },
  ],
  edges: [
    { from: { kind: 'dataset_version', id: 'dv0' }, to: { kind: 'recipe_run', id: 'rr1' }, relation: 'input' },
    { from: { kind: 'recipe_run', id: 'rr1' }, to: { kind: 'dataset_version', id: 'dv1' }, relation: 'output' },
    { from: { kind: 'dataset_version', id: 'dv1' }, to: { kind: 'study', id: 'st1' }, relation: 'studied-by' },
    { from: { kind: 'study', id: 'st1' }, to: { kind: 'model_version', id: 'mv1' }, relation: 'produced' },
    { from: { kind: 'model_version', id: 'mv1' }, to: { kind: 'deployment', id: 'dp1' }, relation: 'deployed-as' },
  ],
};

function Where() {
  const l = useLocation();
  return <output data-testid="where">{l.pathname + l.search}</output>;
}

describe('lineage graph', () => {
  it('puts each node in the layer of its longest path and adds a predictions node', () => {
    const g = layout('diabetes', graph);
    const layerOf = Object.fromEntries(g.nodes.map((n) => [n.key, n.layer]));
    expect(layerOf).toEqual({
      'dataset_version:dv0': 0,
      'recipe_run:rr1': 1,
      'dataset_version:dv1': 2,
      'study:st1': 3,
      'model_version:mv1': 4,
      'deployment:dp1': 5,
      'predictions:dp1': 6,
    });
    expect(g.edges).toHaveLength(6);
    const hrefs = Object.fromEntries(g.nodes.map((n) => [n.key, n.href]));
    expect(hrefs['dataset_version:dv1']).toBe('/p/diabetes/datasets/cohort?v=2');
    expect(hrefs['model_version:mv1']).toBe('/p/diabetes/models/oral-response/1');
    expect(hrefs['study:st1']).toBe('/p/diabetes/studies/st1');
    expect(hrefs['deployment:dp1']).toBe('/p/diabetes/deployments/oral-response');
    expect(hrefs['predictions:dp1']).toBe('/p/diabetes/deployments/oral-response');
    expect(hrefs['recipe_run:rr1']).toBeNull();
  });

  it('opens a node by click and by keyboard', () => {
    render(
      <MemoryRouter initialEntries={['/start']}>
        <LineageView project="diabetes" graph={graph} current="model_version:mv1" />
        <Routes>
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>,
    );
    const links = screen.getAllByRole('link');
    expect(links).toHaveLength(6); // every node but the recipe run
    fireEvent.click(screen.getByRole('link', { name: 'Study: study 0bfa97b3' }));
    expect(screen.getByTestId('where').textContent).toBe('/p/diabetes/studies/st1');
    const ds = screen.getByRole('link', { name: 'Dataset version: cohort@2' });
    expect(ds.getAttribute('tabindex')).toBe('0');
    fireEvent.keyDown(ds, { key: 'Enter' });
    expect(screen.getByTestId('where').textContent).toBe('/p/diabetes/datasets/cohort?v=2');
    expect(screen.getByRole('link', { name: 'Predictions: 3 predictions' })).toBeTruthy();
  });
});

describe("lineage graph: a model version's predictions", () => {
  it("draws the server's summary node after the version, with its count and channels", () => {
    const g: LineageGraph = {
      root: { kind: 'model_version', id: 'mv1' },
      direction: 'both',
      nodes: [
        {
          kind: 'model_version',
          id: 'mv1',
          label: 'oral-response@1',
          detail: { stage: 'approved', algorithm: 'gbdt' },
        },
        {
          kind: 'predictions',
          id: 'mv1',
          label: '6 predictions',
          detail: { count: 6, bySource: { rest: 2, batch: 0, cds: 4 }, first: 'a', last: 'b' },
        },
      ],
      edges: [
        { from: { kind: 'model_version', id: 'mv1' }, to: { kind: 'predictions', id: 'mv1' }, relation: 'predicted' },
      ],
    };
    const placed = layout('diabetes', g);
    expect(Object.fromEntries(placed.nodes.map((n) => [n.key, n.layer]))).toEqual({
      'model_version:mv1': 0,
      'predictions:mv1': 1,
    });
    render(
      <MemoryRouter>
        <LineageView project="diabetes" graph={g} />
      </MemoryRouter>,
    );
    const node = screen.getByRole('img', { name: 'Predictions: 6 predictions' });
    expect(within(node).getByText('REST 2 · CDS 4')).toBeTruthy();
  });
});

describe('CDS cards', () => {
  it('renders summary, indicator, detail, source and suggestions as text', () => {
    render(
      <CdsCards
        cards={[
          {
            summary: 'HBV reactivation risk',
            indicator: 'critical',
            detail: 'Order HBV-DNA <b>now</b>',
            source: { label: 'Ichigen rule hbv-reactivation@1' },
            suggestions: [{ label: 'Order HBV-DNA', uuid: 's1', isRecommended: true }],
            links: [
              { label: 'Guideline', url: 'https://example.org/g', type: 'absolute' },
              { label: 'Bad', url: 'javascript:alert(1)', type: 'absolute' },
            ],
            uuid: 'c1',
          },
          { summary: 'Likely control', indicator: 'info', source: { label: 'Ichigen' }, uuid: 'c2' },
        ]}
      />,
    );
    const cards = screen.getAllByRole('article');
    expect(cards).toHaveLength(2);
    expect(cards[0]!.className).toContain('critical');
    expect(within(cards[0]!).getByText('Critical')).toBeTruthy();
    expect(within(cards[0]!).getByText('Order HBV-DNA <b>now</b>')).toBeTruthy();
    expect(within(cards[0]!).getByText('Source: Ichigen rule hbv-reactivation@1')).toBeTruthy();
    expect(within(cards[0]!).getByText('Order HBV-DNA')).toBeTruthy();
    expect(
      within(cards[0]!)
        .getAllByRole('link')
        .map((a) => a.getAttribute('href')),
    ).toEqual(['https://example.org/g']);
    expect(cards[1]!.className).toContain('info');
  });

  it('says so when there are no cards', () => {
    render(<CdsCards cards={[]} />);
    expect(screen.getByText('The service answered with no cards for this patient.')).toBeTruthy();
  });
});

describe('model and study views', () => {
  it('lays out the confusion matrix with actual rows and predicted columns', () => {
    render(<ConfusionMatrix c={{ tp: 33, fp: 12, tn: 92, fn: 57 }} />);
    const rows = screen.getAllByRole('row').map((r) => r.textContent);
    expect(rows).toEqual(['Predicted positivePredicted negative', 'Actual positive3357', 'Actual negative1292']);
  });

  it('shows study progress: trials, best so far, live note while running', () => {
    const s: Study = {
      id: 'x',
      project: 'p',
      dataset: 'cohort',
      datasetVersion: 1,
      status: 'running',
      trigger: 'manual',
      trials: 20,
      trialsDone: 7,
      bestValue: 0.71234,
      bestTrial: 4,
      metric: 'auc',
      error: null,
      modelVersion: null,
      createdBy: 'sato',
      jobId: null,
      createdAt: new Date().toISOString(),
      startedAt: new Date(Date.now() - 65_000).toISOString(),
      finishedAt: null,
    };
    render(<StudyProgress study={s} />);
    expect(screen.getByTestId('study-trials').textContent).toBe('7 / 20 trials');
    expect(screen.getByTestId('study-best').textContent).toBe('0.7123');
    expect(screen.getByText('Updating every 2 seconds')).toBeTruthy();
    expect(screen.getByText(/^1:0[5-9]$/)).toBeTruthy();
    cleanup();
    render(
      <StudyProgress study={{ ...s, status: 'succeeded', trialsDone: 20, finishedAt: new Date().toISOString() }} />,
    );
    expect(screen.queryByText('Updating every 2 seconds')).toBeNull();
    expect(screen.getByText('succeeded')).toBeTruthy();
  });
});

describe('dataset diff', () => {
  const stat = {
    typeFrom: 'number',
    typeTo: 'number',
    missingFrom: 0.05,
    missingTo: 0.02,
    meanFrom: 7.1,
    meanTo: 7.4,
    stdFrom: 1.2,
    stdTo: 1.25,
    meanShiftStd: 0.25,
    distinctFrom: 80,
    distinctTo: 90,
    changed: true,
  };
  const diff: DatasetDiff = {
    dataset: 'labs',
    from: 1,
    to: 2,
    rows: { from: 100, to: 120 },
    columnsAdded: ['egfr'],
    columnsRemoved: ['old'],
    typeChanged: [{ name: 'code', from: 'integer', to: 'text' }],
    stats: [
      { name: 'hba1c', ...stat },
      { name: 'id', ...stat, changed: false },
    ],
  };

  it('shows rows, added / removed / retyped columns and only the changed statistics', () => {
    render(<DiffView diff={diff} />);
    expect(screen.getByText('Rows: 100 → 120')).toBeTruthy();
    expect(screen.getByText('egfr')).toBeTruthy();
    expect(screen.getByText('old')).toBeTruthy();
    expect(screen.getByText(/code \(integer → text\)/)).toBeTruthy();
    const rows = screen.getAllByRole('row');
    expect(rows).toHaveLength(2); // header + hba1c; the unchanged id column is left out
    expect(rows[1]!.textContent).toBe('hba1c5.0% → 2.0%7.10 → 7.401.20 → 1.25+0.2580 → 90');
  });

  it('reports identical versions as such', () => {
    render(
      <DiffView
        diff={{ ...diff, rows: { from: 5, to: 5 }, columnsAdded: [], columnsRemoved: [], typeChanged: [], stats: [] }}
      />,
    );
    expect(screen.getByText('No differences in rows, columns or statistics.')).toBeTruthy();
  });
});

describe('language switch', () => {
  it('switches to Japanese, sets <html lang> and remembers the choice', async () => {
    render(<LanguageSwitch />);
    const select = screen.getByLabelText('Language');
    await act(async () => {
      fireEvent.change(select, { target: { value: 'ja' } });
    });
    expect(i18n.language).toBe('ja');
    expect(document.documentElement.lang).toBe('ja');
    expect(localStorage.getItem(STORAGE_KEY)).toBe('ja');
    expect(screen.getByLabelText('言語')).toBeTruthy();
    await act(async () => {
      await setLanguage('en');
    });
    expect(document.documentElement.lang).toBe('en');
  });
});

describe('audit date filters', () => {
  it('turn a picked calendar day into local-midnight bounds, the until day included', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      expect(localDayBound('2026-11-26', 'since')).toBe('2026-11-25T15:00:00.000Z');
      expect(localDayBound('2026-11-26', 'until')).toBe('2026-11-26T15:00:00.000Z');
      expect(localDayBound('2026-12-31', 'until')).toBe('2026-12-31T15:00:00.000Z');
      expect(localDayBound('2026-11-26T00:00:00Z', 'since')).toBe('2026-11-26T00:00:00Z');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});
