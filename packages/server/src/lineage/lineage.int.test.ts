// Lineage reaches predictions: a model version's prediction log joins the graph as one summary node (counts by
// source, feedback, first and last time), downstream of the version and back, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDiabetesModel } from '../cds/fixtures.js';
import {
  bearer,
  DIALECTS,
  makeTestPlatform,
  pushPlaceholderCohort,
  type TestPlatform,
} from '../test-support/platform.js';

describe.each(DIALECTS)('lineage: model version → predictions (%s)', (dialect) => {
  let t: TestPlatform;
  let mv = '';
  let version = 0;
  let projectId = '';

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    const sci = await t.user('sci');
    const api = (url: string, payload: object) =>
      t.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: bearer(t.admin.token), payload });
    expect((await api('/projects', { slug: 'diabetes', name: 'Diabetes' })).statusCode).toBe(201);
    expect((await api('/projects/diabetes/members', { user: 'sci', role: 'scientist' })).statusCode).toBe(201);
    const push = await pushPlaceholderCohort(t, 'diabetes');
    expect(push.statusCode, push.body).toBe(201);
    version = (await registerDiabetesModel(t.platform, 'diabetes', sci.name)).version;
    const row = await t.platform.store.db
      .selectFrom('model_versions')
      .innerJoin('models', 'models.id', 'model_versions.model_id')
      .select(['model_versions.id', 'models.project_id'])
      .where('models.name', '=', 'responder')
      .where('model_versions.version', '=', version)
      .executeTakeFirstOrThrow();
    mv = row.id;
    projectId = row.project_id;
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  const log = (id: string, modelVersionId: string, source: string, at: string, feedback: string | null = null) =>
    t.platform.store.db
      .insertInto('predictions')
      .values({
        id,
        project_id: projectId,
        model_version_id: modelVersionId,
        deployment_id: source === 'cds' ? 'dep-1' : null,
        source,
        caller: 'sci',
        hook_instance: null,
        patient_ref: null,
        inputs_digest: 'sha256:x',
        features_json: '{}',
        output_json: '{}',
        explanation_json: null,
        feedback_json: feedback,
        feedback_at: feedback ? at : null,
        created_at: at,
      })
      .execute();
  const at = (h: number) => `2026-03-0${h}T10:00:00.000Z`;
  const lineage = (direction: string) =>
    t.app.inject({
      method: 'GET',
      url: `/api/v1/projects/diabetes/lineage?model=responder&modelVersion=${version}&direction=${direction}`,
      headers: bearer(t.admin.token),
    });

  it('no predictions, no node', async () => {
    const g = await t.platform.lineage.graph({ kind: 'model_version', id: mv }, 'both');
    expect(g.nodes.some((n) => n.kind === 'predictions')).toBe(false);
    expect(g.nodes.some((n) => n.kind === 'model_version' && n.id === mv)).toBe(true);
  });

  it('a summary node by source with first and last time, reached downstream, and back upstream', async () => {
    // Logged out of time order, and one row of another version that must not count.
    await log('p-rest-2', mv, 'rest', at(3));
    await log('p-cds-3', mv, 'cds', at(6), '{"outcome":"overridden"}');
    await log('p-rest-1', mv, 'rest', at(1));
    await log('p-batch', mv, 'batch', at(2));
    await log('p-cds-1', mv, 'cds', at(4));
    await log('p-cds-2', mv, 'cds', at(5));
    await log('p-other', 'another-version', 'rest', at(0));
    await log('p-other-late', 'another-version', 'cds', at(9));

    const res = await lineage('downstream');
    expect(res.statusCode, res.body).toBe(200);
    const g = res.json() as {
      nodes: { kind: string; id: string; label: string; detail?: Record<string, unknown> }[];
      edges: { from: { kind: string; id: string }; to: { kind: string; id: string }; relation: string }[];
    };
    const node = g.nodes.filter((n) => n.kind === 'predictions');
    expect(node).toEqual([
      {
        kind: 'predictions',
        id: mv,
        label: '6 predictions',
        detail: {
          count: 6,
          bySource: { rest: 2, batch: 1, cds: 3 },
          withFeedback: 1,
          first: at(1),
          last: at(6),
        },
      },
    ]);
    expect(g.edges).toContainEqual({
      from: { kind: 'model_version', id: mv },
      to: { kind: 'predictions', id: mv },
      relation: 'predicted',
    });
    // "both" (what the console asks for) shows it too; "upstream" (what came before the version) does not.
    const both = (await lineage('both')).json() as { nodes: { kind: string }[] };
    expect(both.nodes.filter((n) => n.kind === 'predictions')).toHaveLength(1);
    const up = (await lineage('upstream')).json() as { nodes: { kind: string }[] };
    expect(up.nodes.some((n) => n.kind === 'predictions')).toBe(false);
    expect(up.nodes.some((n) => n.kind === 'dataset_version')).toBe(true);

    // From the predictions node, upstream reaches the version and what it came from.
    const back = await t.platform.lineage.graph({ kind: 'predictions', id: mv }, 'upstream');
    expect(back.edges).toContainEqual({
      from: { kind: 'model_version', id: mv },
      to: { kind: 'predictions', id: mv },
      relation: 'predicted',
    });
    expect(back.nodes.find((n) => n.kind === 'model_version')).toMatchObject({ id: mv, label: `responder@${version}` });
    expect(back.nodes.find((n) => n.kind === 'predictions')!.detail).toMatchObject({ count: 6, last: at(6) });
    expect(back.nodes.some((n) => n.kind === 'dataset_version')).toBe(true);
  });
});
