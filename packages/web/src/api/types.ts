// Names for the response types the console uses, all taken from the generated schema (./schema.d.ts): no
// hand-written copies of the server's shapes.
import type { paths } from './schema';

/** The JSON body of a route's 200 answer. */
export type Json<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

type P = '/api/v1/projects/{project}';

export type Session = Json<'/api/v1/auth/session', 'get'>;
export type Project = Json<P, 'get'>;
export type Member = Json<`${P}/members`, 'get'>['members'][number];
export type AuditPage = Json<'/api/v1/audit', 'get'>;
export type AuditEvent = AuditPage['events'][number];
export type AuditVerify = Json<'/api/v1/audit/verify', 'get'>;

export type DatasetSummary = Json<`${P}/datasets`, 'get'>['datasets'][number];
export type DatasetVersion = Json<`${P}/datasets/{dataset}/versions`, 'get'>['versions'][number];
export type DatasetVersionDetail = Json<`${P}/datasets/{dataset}/versions/{version}`, 'get'>;
export type ColumnStats = NonNullable<DatasetVersionDetail['schema']>['columns'][number];
export type DatasetDiff = Json<`${P}/datasets/{dataset}/diff`, 'get'>;

export type Study = Json<`${P}/studies`, 'get'>['studies'][number];
export type StudyDetail = Json<`${P}/studies/{study}`, 'get'>;
export type Trial = NonNullable<StudyDetail['trialsList']>[number];
export type ParamImportance = Json<`${P}/studies/{study}/importance`, 'get'>;

export type ModelVersionSummary = Json<`${P}/models`, 'get'>['versions'][number];
export type ModelVersionDetail = Json<`${P}/models/{model}/versions/{version}`, 'get'>;
export type Metrics = ModelVersionDetail['metrics'];

export type LineageGraph = Json<`${P}/lineage`, 'get'>;
export type LineageNode = LineageGraph['nodes'][number];

export type Deployment = Json<`${P}/deployments/{name}`, 'get'>;
export type TryResult = Json<`${P}/deployments/{name}/try`, 'post'>;
export type CdsCard = TryResult['cards'][number];
export type SamplePatient = Json<`${P}/deployments/{name}/sample`, 'get'>;
