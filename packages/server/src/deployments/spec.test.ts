// The card template's CDS Hooks 2.0 rules (Coding.system, create/update resources, delete resourceId, appContext on
// smart links only), the leniency kept for specs stored before them, and the patient a suggested resource is about.
import { readFileSync } from 'node:fs';
import type { AllergyIntolerance, ServiceRequest } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import {
  chooseBand,
  deploymentSpecSchema,
  renderCard,
  storedDeploymentSpecSchema,
  withSubject,
  type CardTemplate,
  type DeploymentSpec,
} from './spec.js';

const hbv = JSON.parse(
  readFileSync(new URL('../rules/examples/hbv-reactivation.deployment.json', import.meta.url), 'utf8'),
) as DeploymentSpec;

const withCard = (card: Partial<CardTemplate>) => ({ ...hbv, card: { ...hbv.card, ...card } });
const withAction = (action: Record<string, unknown>) =>
  withCard({ bands: [{ ...hbv.card.bands[0]!, suggestions: [{ label: 'Do it', actions: [action as never] }] }] });
const issues = (spec: unknown) => {
  const r = deploymentSpecSchema.safeParse(spec);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

const order: ServiceRequest = {
  resourceType: 'ServiceRequest',
  id: 'sr-1',
  status: 'draft',
  intent: 'proposal',
  subject: { reference: 'Patient/p1' },
};

describe('card template rules (CDS Hooks 2.0)', () => {
  it('accepts the shipped HBV rule, smart links with appContext, updates with an id and deletes by resourceId', () => {
    expect(issues(hbv)).toEqual([]);
    expect(
      issues(
        withCard({
          links: [
            { label: 'Open the HBV app', url: 'https://apps.example/launch', type: 'smart', appContext: '{"a":1}' },
          ],
          overrideReasons: [{ system: 'https://hospital.example/override', code: 'x', display: 'Not now' }],
        }),
      ),
    ).toEqual([]);
    expect(issues(withAction({ type: 'update', description: 'Record the score', resource: order }))).toEqual([]);
    expect(issues(withAction({ type: 'delete', description: 'Cancel', resourceId: ['ServiceRequest/sr-1'] }))).toEqual(
      [],
    );
  });

  it('refuses what a CDS client may treat as an error, naming the field', () => {
    const at = 'card.bands.0.suggestions.0.actions.0';
    expect(issues(withCard({ overrideReasons: [{ code: 'x', display: 'Not now' } as never] }))).toEqual([
      expect.stringMatching(/^card\.overrideReasons\.0\.system: /),
    ]);
    expect(issues(withAction({ type: 'create', description: 'Order it' }))).toEqual([
      `${at}.resource: a "create" action needs the resource to create (CDS Hooks 2.0, Action)`,
    ]);
    expect(issues(withAction({ type: 'update', description: 'Change it' }))).toEqual([
      `${at}.resource: an "update" action needs the resource in its entirety (CDS Hooks 2.0, Action)`,
    ]);
    const { id: _id, ...noId } = order;
    void _id;
    expect(issues(withAction({ type: 'update', description: 'Change it', resource: noId }))).toEqual([
      `${at}.resource.id: an "update" action needs the resource id`,
    ]);
    expect(issues(withAction({ type: 'delete', description: 'Cancel', resource: order }))).toEqual([
      `${at}.resource: a "delete" action names what it deletes in "resourceId", not "resource" (deprecated)`,
      `${at}.resourceId: a "delete" action needs "resourceId" (relative references, e.g. ServiceRequest/123)`,
    ]);
    expect(
      issues(
        withCard({ links: [{ label: 'Guideline', url: 'https://g.example', type: 'absolute', appContext: 'x' }] }),
      ),
    ).toEqual(['card.links.0.appContext: "appContext" is for "smart" links only (CDS Hooks 2.0, Link)']);
  });

  it('still reads a spec stored before these rules (so an existing deployment shows), but a new one is refused', () => {
    const old = withCard({
      overrideReasons: [{ code: 'x', display: 'Not now' } as never],
      links: [{ label: 'Guideline', url: 'https://g.example', type: 'absolute', appContext: 'x' }],
      bands: [
        { ...hbv.card.bands[0]!, suggestions: [{ label: 'Do it', actions: [{ type: 'create', description: 'x' }] }] },
      ],
    });
    expect(storedDeploymentSpecSchema.safeParse(old).success).toBe(true);
    expect(issues(old)).toHaveLength(3);
  });
});

describe('the patient a suggested resource is about', () => {
  const render = (patientId: string) =>
    renderCard({
      template: hbv.card,
      band: chooseBand(hbv.card, true)!,
      deploymentName: 'hbv-reactivation',
      deploymentVersion: 1,
      patientId,
      targetLabel: 'hbv/hbv-reactivation rule v1',
      cardUrl: null,
      output: true,
      threshold: null,
      contributions: null,
      ruleReasons: ['anti_hbc = positive'],
      mapping: hbv.mapping,
      features: { anti_hbc: 'positive' },
    });

  it('a created ServiceRequest gets subject = the patient in context; the template is left as it is', () => {
    const a = render('pt-1').suggestions![0]!.actions![0]!;
    expect(a.resource).toMatchObject({ resourceType: 'ServiceRequest', subject: { reference: 'Patient/pt-1' } });
    const b = render('pt-2').suggestions![0]!.actions![0]!;
    expect(b.resource).toMatchObject({ subject: { reference: 'Patient/pt-2' } });
    expect(hbv.card.bands[0]!.suggestions![0]!.actions![0]!.resource).not.toHaveProperty('subject');
  });

  it('keeps a subject the template names, and touches neither updates nor types without a subject', () => {
    expect(withSubject('create', { ...order }, 'pt-9')).toMatchObject({ subject: { reference: 'Patient/p1' } });
    const { subject: _s, ...bare } = order;
    void _s;
    expect(withSubject('update', bare, 'pt-9')).not.toHaveProperty('subject');
    const allergy = {
      resourceType: 'AllergyIntolerance',
      patient: { reference: 'Patient/p1' },
    } satisfies AllergyIntolerance;
    expect(withSubject('create', allergy, 'pt-9')).toBe(allergy);
    expect(withSubject('create', bare, 'pt-9')).toEqual({ ...bare, subject: { reference: 'Patient/pt-9' } });
    // R4 Task names its patient in `for`, NutritionOrder in `patient`: no `subject` is invented for them.
    for (const resourceType of ['Task', 'NutritionOrder']) {
      const r = { resourceType, status: 'requested' };
      expect(withSubject('create', r, 'pt-9'), resourceType).toBe(r);
    }
  });
});
