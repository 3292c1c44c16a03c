// The lineage graph as a layered SVG: each node sits in the column of its longest path from a source (dataset
// versions → study → model version → deployment → predictions), edges run left to right, and every node that has a
// page is a keyboard-focusable link.
import type { KeyboardEvent } from 'react';
import { useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import type { LineageGraph, LineageNode as ApiNode } from '../api/types';

/**
 * A node of the graph as drawn: the server's (a model version's predictions among them), or the predictions summary
 * added after a deployment.
 */
export type LineageNode = Omit<ApiNode, 'kind'> & { kind: ApiNode['kind'] | 'predictions' };

export interface PlacedNode extends LineageNode {
  key: string;
  layer: number;
  row: number;
  x: number;
  y: number;
  href: string | null;
}

export const NODE_W = 180;
export const NODE_H = 50;
const GAP_X = 60;
const GAP_Y = 18;
const PAD = 10;

const key = (n: { kind: string; id: string }) => `${n.kind}:${n.id}`;

/** The console page of a model version. */
export const modelHref = (project: string, model: string, version: number | string): string =>
  `/p/${encodeURIComponent(project)}/models/${encodeURIComponent(model)}/${version}`;

/** Where a node's page is in the console, or null when it has none. */
function nodeHref(project: string, n: LineageNode): string | null {
  const p = `/p/${encodeURIComponent(project)}`;
  const at = /^(.+)@(\d+)$/.exec(n.label);
  switch (n.kind) {
    case 'dataset_version':
      return at ? `${p}/datasets/${encodeURIComponent(at[1]!)}?v=${at[2]}` : null;
    case 'model_version':
      return at ? modelHref(project, at[1]!, at[2]!) : null;
    case 'study':
      return `${p}/studies/${encodeURIComponent(n.id)}`;
    case 'deployment':
    case 'predictions': {
      const d = /^deployment (.+) v\d+$/.exec(n.label) ?? /^(.+)$/.exec(String(n.detail?.deployment ?? ''));
      return d && d[1] ? `${p}/deployments/${encodeURIComponent(d[1])}` : null;
    }
    default:
      return null;
  }
}

/** Adds a predictions node after each deployment that has predictions, then layers and places every node. */
export function layout(
  project: string,
  g: LineageGraph,
): { nodes: PlacedNode[]; edges: [PlacedNode, PlacedNode][]; width: number; height: number } {
  const nodes: LineageNode[] = [...g.nodes];
  const edges = g.edges.map((e) => ({ from: key(e.from), to: key(e.to) }));
  for (const n of g.nodes) {
    const count = Number(n.detail?.predictions ?? 0);
    if (n.kind === 'deployment' && count > 0) {
      const name = /^deployment (.+) v\d+$/.exec(n.label)?.[1] ?? n.label;
      const p: LineageNode = {
        kind: 'predictions',
        id: n.id,
        label: String(count),
        detail: { deployment: name, count },
      };
      nodes.push(p);
      edges.push({ from: key(n), to: key(p) });
    }
  }
  const byKey = new Map(nodes.map((n) => [key(n), n]));
  const incoming = new Map<string, string[]>();
  for (const e of edges)
    if (byKey.has(e.from) && byKey.has(e.to)) incoming.set(e.to, [...(incoming.get(e.to) ?? []), e.from]);
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (k: string): number => {
    const known = layer.get(k);
    if (known !== undefined) return known;
    if (visiting.has(k)) return 0; // a cycle (should not happen) is cut here
    visiting.add(k);
    const d = Math.max(-1, ...(incoming.get(k) ?? []).map(depth)) + 1;
    visiting.delete(k);
    layer.set(k, d);
    return d;
  };
  for (const k of byKey.keys()) depth(k);
  const rows = new Map<number, number>();
  const placed = new Map<string, PlacedNode>();
  for (const n of nodes) {
    const k = key(n);
    const l = layer.get(k) ?? 0;
    const r = rows.get(l) ?? 0;
    rows.set(l, r + 1);
    placed.set(k, {
      ...n,
      key: k,
      layer: l,
      row: r,
      x: PAD + l * (NODE_W + GAP_X),
      y: PAD + r * (NODE_H + GAP_Y),
      href: nodeHref(project, n),
    });
  }
  const layers = Math.max(1, ...[...rows.keys()].map((l) => l + 1));
  const maxRows = Math.max(1, ...rows.values());
  return {
    nodes: [...placed.values()],
    edges: edges
      .filter((e) => placed.has(e.from) && placed.has(e.to))
      .map((e) => [placed.get(e.from)!, placed.get(e.to)!] as [PlacedNode, PlacedNode]),
    width: PAD * 2 + layers * NODE_W + (layers - 1) * GAP_X,
    height: PAD * 2 + maxRows * NODE_H + (maxRows - 1) * GAP_Y,
  };
}

function clip(s: string, n = 24) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function LineageView({ project, graph, current }: { project: string; graph: LineageGraph; current?: string }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const g = layout(project, graph);
  const title = (n: PlacedNode) =>
    n.kind === 'predictions' ? t('models.predictions', { count: Number(n.detail?.count ?? 0) }) : n.label;
  const sub = (n: PlacedNode) => {
    const d = n.detail ?? {};
    const st = (x: unknown) => (x ? t(`status.${String(x)}`, { defaultValue: String(x) }) : '');
    if (n.kind === 'dataset_version' && d.rows !== undefined) return `${t('datasets.rows')}: ${String(d.rows)}`;
    if (n.kind === 'study') return `${st(d.status)} · ${String(d.trials ?? '')}`;
    if (n.kind === 'model_version') return `${st(d.stage)} · ${String(d.algorithm ?? '')}`;
    if (n.kind === 'deployment') return st(d.status);
    // A model version's predictions (from the server): how many came through each channel.
    if (n.kind === 'predictions' && d.bySource && typeof d.bySource === 'object')
      return Object.entries(d.bySource as Record<string, number>)
        .filter(([, c]) => c > 0)
        .map(([src, c]) => `${src === 'batch' ? 'batch' : src.toUpperCase()} ${c}`)
        .join(' · ');
    return '';
  };
  return (
    <div className="lineage">
      <svg
        width={g.width}
        height={g.height}
        viewBox={`0 0 ${g.width} ${g.height}`}
        role="group"
        aria-label={t('lineage.graph')}
      >
        {g.edges.map(([a, b]) => {
          const x1 = a.x + NODE_W;
          const y1 = a.y + NODE_H / 2;
          const x2 = b.x;
          const y2 = b.y + NODE_H / 2;
          const mx = (x1 + x2) / 2;
          return (
            <path
              key={`${a.key}>${b.key}`}
              className="edge"
              d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`}
              markerEnd="url(#arrow)"
            />
          );
        })}
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="4" refY="5" markerWidth="8" markerHeight="8" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill="#8793a3" />
          </marker>
        </defs>
        {g.nodes.map((n) => {
          const label = `${t(`lineage.${n.kind}`, { defaultValue: n.kind })}: ${title(n)}`;
          const go = () => n.href && navigate(n.href);
          return (
            <g
              key={n.key}
              className={`node${n.key === current ? ' current' : ''}`}
              transform={`translate(${n.x},${n.y})`}
              {...(n.href
                ? {
                    role: 'link',
                    tabIndex: 0,
                    'aria-label': label,
                    onClick: go,
                    onKeyDown: (e: KeyboardEvent) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        go();
                      }
                    },
                    style: { cursor: 'pointer' },
                  }
                : { role: 'img', 'aria-label': label })}
            >
              <title>{label}</title>
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <text x={10} y={16} className="kind">
                {t(`lineage.${n.kind}`, { defaultValue: n.kind })}
              </text>
              <text x={10} y={31}>
                {clip(title(n))}
              </text>
              <text x={10} y={44} className="kind">
                {clip(sub(n), 28)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
