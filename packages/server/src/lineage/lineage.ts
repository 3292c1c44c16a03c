// Lineage as one queryable graph: typed edges between dataset versions, recipe runs, studies, model versions and
// deployments, walked in either direction. A model version's predictions join it as one summary node (counts by
// source, first and last time), derived from the prediction log when the walk reaches the version: a prediction
// writes no edge, so the hot path of serving stays as it is.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { MetadataStore } from '../db/database.js';
import '../training/tables.js';
import '../recipes/tables.js';
import '../deployments/tables.js';
import '../serving/tables.js';
import { deploymentUsage } from '../serving/service.js';
import { nowIso } from '../util.js';

export type NodeKind =
  | 'dataset_version'
  | 'study'
  | 'model_version'
  | 'deployment'
  | 'recipe_run'
  | 'prediction_batch'
  /** The prediction log of one model version (id = the model version's id), summarised. */
  | 'predictions';

/** The relation of a model version to its predictions summary node. */
export const PREDICTED = 'predicted';

export const PREDICTION_SOURCES = ['rest', 'batch', 'cds'] as const;

export interface PredictionsSummary {
  /** Rows in the prediction log: one per REST row, per CDS card (or scored deployment), per batch run. */
  count: number;
  bySource: Record<(typeof PREDICTION_SOURCES)[number], number>;
  withFeedback: number;
  first: string;
  last: string;
}

/** The prediction log of a model version summarised, or null when it has none. */
export async function predictionsSummary(db: Db, modelVersionId: string): Promise<PredictionsSummary | null> {
  const rows = await db
    .selectFrom('predictions')
    .select((eb) => [
      'source',
      eb.fn.countAll<number | string | bigint>().as('n'),
      eb.fn.count<number | string | bigint>('feedback_json').as('with_feedback'),
      eb.fn.min('created_at').as('first'),
      eb.fn.max('created_at').as('last'),
    ])
    .where('model_version_id', '=', modelVersionId)
    .groupBy('source')
    .execute();
  if (!rows.length) return null;
  const s: PredictionsSummary = {
    count: 0,
    bySource: { rest: 0, batch: 0, cds: 0 },
    withFeedback: 0,
    first: rows[0]!.first,
    last: rows[0]!.last,
  };
  for (const r of rows) {
    const n = Number(r.n);
    s.count += n;
    if ((PREDICTION_SOURCES as readonly string[]).includes(r.source)) s.bySource[r.source as 'rest'] += n;
    s.withFeedback += Number(r.with_feedback);
    if (r.first < s.first) s.first = r.first;
    if (r.last > s.last) s.last = r.last;
  }
  return s;
}

export interface LineageNode {
  kind: NodeKind;
  id: string;
  label: string;
  detail?: Record<string, unknown>;
}

export interface LineageEdge {
  from: { kind: NodeKind; id: string };
  to: { kind: NodeKind; id: string };
  relation: string;
}

export interface LineageGraph {
  root: { kind: NodeKind; id: string };
  direction: 'downstream' | 'upstream' | 'both';
  nodes: LineageNode[];
  edges: LineageEdge[];
}

type Db = Kysely<Database> | Transaction<Database>;

export async function addEdge(
  db: Db,
  from: { kind: NodeKind; id: string },
  to: { kind: NodeKind; id: string },
  relation: string,
): Promise<void> {
  const exists = await db
    .selectFrom('lineage_edges')
    .select('relation')
    .where('from_kind', '=', from.kind)
    .where('from_id', '=', from.id)
    .where('to_kind', '=', to.kind)
    .where('to_id', '=', to.id)
    .executeTakeFirst();
  if (exists) return;
  await db
    .insertInto('lineage_edges')
    .values({ from_kind: from.kind, from_id: from.id, to_kind: to.kind, to_id: to.id, relation, created_at: nowIso() })
    .execute();
}

export class LineageService {
  constructor(private readonly store: MetadataStore) {}

  /** Walks edges breadth-first from `root` (at most `maxNodes` nodes) and labels every node it reaches. */
  async graph(
    root: { kind: NodeKind; id: string },
    direction: 'downstream' | 'upstream' | 'both',
    maxNodes = 500,
  ): Promise<LineageGraph> {
    const db = this.store.db;
    const key = (n: { kind: string; id: string }) => `${n.kind}:${n.id}`;
    const seen = new Map<string, { kind: NodeKind; id: string }>([[key(root), root]]);
    const edges: LineageEdge[] = [];
    const edgeKeys = new Set<string>();
    const summaries = new Map<string, PredictionsSummary>();
    let frontier = [root];
    while (frontier.length && seen.size < maxNodes) {
      const next: { kind: NodeKind; id: string }[] = [];
      for (const n of frontier) {
        const found: { from_kind: string; from_id: string; to_kind: string; to_id: string; relation: string }[] = [];
        // Derived edges: model version → its predictions (when it has any), and back.
        if (n.kind === 'model_version' && direction !== 'upstream') {
          const sum = await predictionsSummary(db, n.id);
          if (sum) {
            summaries.set(n.id, sum);
            found.push({ from_kind: n.kind, from_id: n.id, to_kind: 'predictions', to_id: n.id, relation: PREDICTED });
          }
        }
        if (n.kind === 'predictions' && direction !== 'downstream')
          found.push({ from_kind: 'model_version', from_id: n.id, to_kind: n.kind, to_id: n.id, relation: PREDICTED });
        if (direction !== 'upstream') {
          found.push(
            ...(await db
              .selectFrom('lineage_edges')
              .selectAll()
              .where('from_kind', '=', n.kind)
              .where('from_id', '=', n.id)
              .execute()),
          );
        }
        if (direction !== 'downstream') {
          found.push(
            ...(await db
              .selectFrom('lineage_edges')
              .selectAll()
              .where('to_kind', '=', n.kind)
              .where('to_id', '=', n.id)
              .execute()),
          );
        }
        for (const e of found) {
          const ek = `${e.from_kind}:${e.from_id}>${e.to_kind}:${e.to_id}`;
          if (!edgeKeys.has(ek)) {
            edgeKeys.add(ek);
            edges.push({
              from: { kind: e.from_kind as NodeKind, id: e.from_id },
              to: { kind: e.to_kind as NodeKind, id: e.to_id },
              relation: e.relation,
            });
          }
          for (const m of [
            { kind: e.from_kind as NodeKind, id: e.from_id },
            { kind: e.to_kind as NodeKind, id: e.to_id },
          ]) {
            if (!seen.has(key(m)) && seen.size < maxNodes) {
              seen.set(key(m), m);
              next.push(m);
            }
          }
        }
      }
      frontier = next;
    }
    const nodes = await Promise.all([...seen.values()].map((n) => this.describe(n, summaries)));
    return { root, direction, nodes, edges };
  }

  private async describe(
    n: { kind: NodeKind; id: string },
    summaries: Map<string, PredictionsSummary>,
  ): Promise<LineageNode> {
    const db = this.store.db;
    switch (n.kind) {
      case 'predictions': {
        const s = summaries.get(n.id) ?? (await predictionsSummary(db, n.id));
        return {
          ...n,
          label: `${s?.count ?? 0} prediction${s?.count === 1 ? '' : 's'}`,
          detail: { ...(s ?? { count: 0 }) },
        };
      }
      case 'dataset_version': {
        const r = await db
          .selectFrom('dataset_versions')
          .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
          .select([
            'datasets.name',
            'dataset_versions.version',
            'dataset_versions.content_digest',
            'dataset_versions.row_count',
          ])
          .where('dataset_versions.id', '=', n.id)
          .executeTakeFirst();
        return r
          ? { ...n, label: `${r.name}@${r.version}`, detail: { digest: r.content_digest, rows: r.row_count } }
          : { ...n, label: n.id };
      }
      case 'study': {
        const r = await db
          .selectFrom('studies')
          .select(['status', 'best_value', 'trials_done', 'n_trials'])
          .where('id', '=', n.id)
          .executeTakeFirst();
        return r
          ? {
              ...n,
              label: `study ${n.id.slice(-8)}`,
              detail: { status: r.status, bestValue: r.best_value, trials: `${r.trials_done}/${r.n_trials}` },
            }
          : { ...n, label: n.id };
      }
      case 'model_version': {
        const r = await db
          .selectFrom('model_versions')
          .innerJoin('models', 'models.id', 'model_versions.model_id')
          .select(['models.name', 'model_versions.version', 'model_versions.stage', 'model_versions.algorithm'])
          .where('model_versions.id', '=', n.id)
          .executeTakeFirst();
        return r
          ? { ...n, label: `${r.name}@${r.version}`, detail: { stage: r.stage, algorithm: r.algorithm } }
          : { ...n, label: n.id };
      }
      case 'deployment': {
        // A deployment node summarises its predictions (count, feedback, overrides) rather than listing each one.
        const r = await db
          .selectFrom('deployments')
          .select(['name', 'status', 'current_version', 'project_id'])
          .where('id', '=', n.id)
          .executeTakeFirst();
        if (!r) return { ...n, label: n.id };
        const [u] = await deploymentUsage(db, r.project_id, n.id);
        return {
          ...n,
          label: `deployment ${r.name} v${r.current_version}`,
          detail: {
            status: r.status,
            predictions: u?.predictions ?? 0,
            withFeedback: u?.withFeedback ?? 0,
            overridden: u?.overridden ?? 0,
          },
        };
      }
      case 'recipe_run': {
        const r = await db
          .selectFrom('recipe_runs')
          .select(['recipe', 'recipe_version', 'status', 'params_json', 'created_by'])
          .where('id', '=', n.id)
          .executeTakeFirst();
        return r
          ? {
              ...n,
              label: `${r.recipe}@${r.recipe_version}`,
              detail: { status: r.status, params: JSON.parse(r.params_json) as unknown, by: r.created_by },
            }
          : { ...n, label: n.id };
      }
      default:
        return { ...n, label: n.id };
    }
  }
}
