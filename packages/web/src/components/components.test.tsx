// @vitest-environment jsdom
// Component tests for the console's building blocks: the lineage graph (layers and keyboard navigation), CDS cards,
// the confusion matrix, study progress, the dataset diff, importance, and the language switch.
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import i18n, { setLanguage, STORAGE_KEY } from '../i18n';
import { LanguageSwitch } from '../App';
import type { DatasetVersionDetail, LineageGraph, Study, Trial } from '../api/types';
import { CdsCards } from './CdsCards';
import { layout, LineageView } from './Lineage';
import { ConfusionMatrix } from '../pages/Models';
import { StudyProgress } from '../pages/Studies';
import { DiffView } from '../pages/Datasets';
import { diffVersions } from '../pages/diff';
import { paramImportance } from '../pages/importance';

beforeAll(async () => {
  await setLanguage('en');
});
afterEach(cleanup);

const graph: LineageGraph = {
  root: { kind: 'model_version', id: 'mv1' },
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
            suggestions: [{ label: 'Order HBV-DNA', isRecommended: true }],
            links: [
              { label: 'Guideline', url: 'https://example.org/g' },
              { label: 'Bad', url: 'javascript:alert(1)' },
            ],
          },
          { summary: 'Likely control', indicator: 'info', source: { label: 'Ichigen' } },
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

  it('estimates parameter importance from the trials', () => {
    const trials: Trial[] = Array.from({ length: 12 }, (_, i) => ({
      number: i,
      algorithm: 'gbdt',
      params: { learningRate: 0.01 * (i + 1), noise: i % 2 === 0 ? 'a' : 'b' },
      state: 'complete',
      value: 0.6 + 0.01 * i + (i % 2) * 0.001,
      durationMs: 10,
      error: null,
      finishedAt: null,
    }));
    const imp = paramImportance(trials);
    expect(imp.map((x) => x.param)).toEqual(['learningRate', 'noise']);
    expect(imp[0]!.importance).toBeGreaterThan(0.8);
    expect(imp.reduce((a, b) => a + b.importance, 0)).toBeCloseTo(1, 9);
    expect(paramImportance(trials.slice(0, 2))).toEqual([]);
  });
});

describe('dataset diff', () => {
  const base = {
    id: '1',
    project: 'p',
    dataset: 'labs',
    kind: 'tabular',
    contentDigest: 'sha256:x',
    sizeBytes: 1,
    fileCount: 1,
    parentVersion: null,
    message: '',
    createdBy: 'u',
    createdAt: '2026-01-01T00:00:00Z',
  };
  const v1: DatasetVersionDetail = {
    ...base,
    version: 1,
    rowCount: 100,
    schema: {
      columns: [
        { name: 'id', type: 'text', missing: 0, count: 100, distinct: 100 },
        { name: 'hba1c', type: 'number', missing: 5, count: 100, mean: 7.1, std: 1.2, min: 4, max: 12 },
        { name: 'old', type: 'text', missing: 0, count: 100 },
      ],
    },
  };
  const v2: DatasetVersionDetail = {
    ...base,
    version: 2,
    rowCount: 120,
    schema: {
      columns: [
        { name: 'id', type: 'text', missing: 0, count: 120, distinct: 120 },
        { name: 'hba1c', type: 'number', missing: 2, count: 120, mean: 7.4, std: 1.2, min: 4, max: 13 },
        { name: 'egfr', type: 'number', missing: 0, count: 120 },
      ],
    },
  };

  it('finds rows, added / removed columns and statistic shifts', () => {
    const d = diffVersions(v1, v2);
    expect(d.rows).toEqual({ from: 100, to: 120 });
    expect(d.added).toEqual(['egfr']);
    expect(d.removed).toEqual(['old']);
    expect(d.shifts.map((s) => `${s.column}.${s.stat}`).sort()).toEqual([
      'hba1c.max',
      'hba1c.mean',
      'hba1c.missing',
      'id.distinct',
    ]);
    render(<DiffView diff={d} />);
    expect(screen.getByText('Rows: 100 → 120')).toBeTruthy();
    expect(screen.getByText('egfr')).toBeTruthy();
    expect(screen.getAllByRole('row')).toHaveLength(5);
  });

  it('reports identical versions as such', () => {
    render(<DiffView diff={diffVersions(v1, { ...v1, version: 3 })} />);
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
