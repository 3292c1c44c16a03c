// The composition root: builds every adapter and service once from validated config and passes them down.
// No module-level singletons; tests build as many platforms as they like.
import { AuditLog, AuditSecrets } from './audit/audit.js';
import { AuthService } from './auth/service.js';
import type { Config } from './config/config.js';
import { migrate, openMetadataStore, type MetadataStore } from './db/database.js';
import { DatasetService } from './datasets/service.js';
import { JobQueue } from './jobs/queue.js';
import { LineageService } from './lineage/lineage.js';
import { builtinRecipes } from './recipes/registry.js';
import { RecipeService } from './recipes/service.js';
import { ModelRegistry } from './models/registry.js';
import { TrainingService } from './training/service.js';
import { OnnxSessionCache } from './models/onnx-session.js';
import { ScorerCache } from './serving/predict.js';
import { PredictionService } from './serving/service.js';
import { ProjectService } from './projects/service.js';
import { DeploymentService } from './deployments/service.js';
import { RuleService } from './rules/service.js';
import { CdsService } from './cds/service.js';
import { IssuerService } from './cds/issuers.js';
import { createObjectStore } from './storage/object-store/index.js';
import type { ObjectStore } from './storage/object-store/port.js';
import { parseS3Url } from './storage/object-store/s3.js';

export interface Platform {
  config: Config;
  store: MetadataStore;
  objects: ObjectStore;
  audit: AuditLog;
  auth: AuthService;
  projects: ProjectService;
  datasets: DatasetService;
  /** The durable job queue (training, recipe runs, batch scoring). */
  jobs: JobQueue;
  training: TrainingService;
  registry: ModelRegistry;
  lineage: LineageService;
  /** Built-in recipes (versioned dataset transforms) and their runs. */
  recipes: RecipeService;
  predictions: PredictionService;
  rules: RuleService;
  deployments: DeploymentService;
  /** The CDS Hooks service and the trusted EHR issuers behind it. */
  cds: { issuers: IssuerService; service: CdsService };
  close(): Promise<void>;
}

export async function openObjectStore(config: Config): Promise<ObjectStore> {
  const os = config.objectStore;
  if (os.kind === 'fs') return createObjectStore({ kind: 'fs', root: os.root });
  return createObjectStore({ kind: 's3', ...parseS3Url(os.url) });
}

/** Opens storage, applies migrations, and wires the services. */
export async function openPlatform(config: Config, opts: { migrate?: boolean } = {}): Promise<Platform> {
  const store = openMetadataStore(config.databaseUrl);
  try {
    if (opts.migrate !== false) await migrate(store);
    const objects = await openObjectStore(config);
    const audit = new AuditLog(store, AuditSecrets.open(config.secretsDir));
    const auth = new AuthService(store, audit, config);
    const projects = new ProjectService(store, audit);
    const datasets = new DatasetService(store, objects, audit, config.maxUploadBytes);
    const jobs = new JobQueue(store);
    const training = new TrainingService(store, audit, jobs, config.maxParallelTrials);
    const registry = new ModelRegistry(store, objects, audit);
    const lineage = new LineageService(store);
    const recipes = new RecipeService(store, audit, jobs, builtinRecipes());
    const predictions = new PredictionService(store, audit, new ScorerCache(registry, objects, new OnnxSessionCache()));
    const rules = new RuleService(store, audit);
    const deployments = new DeploymentService(store, audit, rules);
    // Retiring a model or rule version withdraws its deployments in the same transaction.
    registry.onRetire = (tx, ids, reason) => deployments.withdrawFor(tx, 'model', ids, reason);
    rules.onRetire = (tx, ids, reason) => deployments.withdrawFor(tx, 'rule', ids, reason);
    const cds = {
      issuers: new IssuerService(store, audit, auth),
      service: new CdsService(store, audit, deployments, predictions),
    };
    // A new dataset version may start a study (training policy with onNewVersion).
    datasets.onVersionCreated = (ev) => training.onVersionCreated(ev);
    return {
      config,
      store,
      objects,
      audit,
      auth,
      projects,
      datasets,
      jobs,
      training,
      registry,
      lineage,
      recipes,
      predictions,
      rules,
      deployments,
      cds,
      async close() {
        await audit.close(); // pending group commits first
        await objects.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
