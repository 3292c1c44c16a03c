// Datasets and their immutable versions: push (tabular CSV or a set of files), list, show, and verified reads.
// A version row is written only after every object it names is stored and verified (nothing half-written).
import { Readable } from 'node:stream';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { credentialOf, printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import type { DatasetVersionsTable } from '../db/schema.js';
import { AppError, badRequest, conflict, notFound } from '../errors.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import type { Digest, ObjectStore } from '../storage/object-store/port.js';
import { parseDigest } from '../storage/object-store/port.js';
import { newId, nowIso } from '../util.js';
import { fanOut } from './fan-out.js';
import type { TabularOptions, TabularProfile } from './tabular/index.js';
import { tabularToArrow } from './tabular/index.js';
import { openIngest } from './tabular/ingest-thread.js';

export type DatasetKind = 'tabular' | 'files';

export interface ManifestFile {
  path: string;
  digest: Digest;
  size: number;
}

/** The JSON object stored for every version: the complete list of what the version is made of. */
export interface VersionManifest {
  format: 'ichigen.dataset-version';
  formatVersion: 1;
  kind: DatasetKind;
  files: ManifestFile[];
  /** Tabular only: the columnar copy for training (Arrow IPC stream) and the parse settings and profile. */
  arrow?: { digest: Digest; size: number };
  tabular?: TabularProfile;
}

export interface DatasetVersionInfo {
  id: string;
  project: string;
  dataset: string;
  kind: DatasetKind;
  version: number;
  contentDigest: string;
  manifestDigest: string;
  sizeBytes: number;
  rowCount: number | null;
  fileCount: number;
  parentVersion: number | null;
  message: string;
  createdBy: string;
  createdAt: string;
}

export interface DatasetInfo {
  name: string;
  kind: DatasetKind;
  createdAt: string;
  createdBy: string;
  latestVersion: number | null;
}

export interface PushResult {
  version: DatasetVersionInfo;
  /** false when identical content already existed: the existing version is returned. */
  created: boolean;
  /** Studies started because the dataset's training policy trains on every new version. */
  studiesStarted?: string[];
}

const MAX_PATH = 1024;

/** A relative path inside a files dataset: no absolute paths, no `..`, no backslashes, no control characters. */
export function validateManifestPath(p: string): string {
  const bad = (why: string) => badRequest('INVALID_PATH', `file path "${printable(p)}" ${why}`);
  if (typeof p !== 'string' || p.length === 0) throw bad('is empty');
  if (p.length > MAX_PATH) throw bad(`is longer than ${MAX_PATH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(p)) throw bad('contains a control character or a backslash');
  if (p.startsWith('/')) throw bad('is absolute');
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw bad('has an empty, "." or ".." segment');
    if (/%2e|%2f|%5c|%00/i.test(seg)) throw bad('contains an encoded dot, slash, backslash or NUL');
  }
  return p;
}

export interface VersionCreated {
  principal: Principal;
  access: Access;
  datasetId: string;
  datasetName: string;
  versionId: string;
  version: number;
}

export class DatasetService {
  /** Called after a new version is committed (e.g. to start a training study); returns ids of what it started. */
  onVersionCreated: ((ev: VersionCreated) => Promise<string[]>) | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly objects: ObjectStore,
    private readonly audit: AuditLog,
    private readonly maxUploadBytes: number,
  ) {}

  private get db() {
    return this.store.db;
  }

  async list(a: Access): Promise<DatasetInfo[]> {
    const rows = await this.db
      .selectFrom('datasets')
      .leftJoin('dataset_versions', 'dataset_versions.dataset_id', 'datasets.id')
      .select((eb) => [
        'datasets.name',
        'datasets.kind',
        'datasets.created_at',
        'datasets.created_by',
        eb.fn.max('dataset_versions.version').as('latest'),
      ])
      .where('datasets.project_id', '=', a.project.id)
      .groupBy(['datasets.id', 'datasets.name', 'datasets.kind', 'datasets.created_at', 'datasets.created_by'])
      .orderBy('datasets.name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind as DatasetKind,
      createdAt: r.created_at,
      createdBy: r.created_by,
      latestVersion: r.latest === null ? null : Number(r.latest),
    }));
  }

  private async findDataset(a: Access, name: string) {
    validateName('dataset', name);
    return this.db
      .selectFrom('datasets')
      .selectAll()
      .where('project_id', '=', a.project.id)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  private async requireDataset(a: Access, name: string) {
    const d = await this.findDataset(a, name);
    if (!d) throw notFound('DATASET_NOT_FOUND', `no dataset "${printable(name)}" in project ${a.project.slug}`);
    return d;
  }

  /** The dataset if it exists (checking its kind); it is created only together with its first version. */
  private async datasetForPush(a: Access, name: string, kind: DatasetKind) {
    const existing = await this.findDataset(a, name);
    if (existing && existing.kind !== kind) {
      throw conflict('DATASET_KIND_MISMATCH', `dataset ${name} holds ${existing.kind} data; this push is ${kind}`);
    }
    return existing ?? { id: null, name, kind };
  }

  /**
   * Pushes a CSV in one read of the upload: the raw bytes are stored (hashed as they are written) while a single
   * parse — in one worker thread, so the two cores split receiving/hashing/writing and parsing — validates and
   * profiles them and spills the parsed cells (tabular/ingest.ts); the Arrow copy is then written from the spill. Only when a column changed type in a way the spill cannot convert does a second
   * parse over the stored, verified bytes write the Arrow copy. Identical content returns the existing version.
   */
  async pushTabular(
    p: Principal,
    a: Access,
    name: string,
    body: AsyncIterable<Uint8Array>,
    opts: TabularOptions & { message?: string; client: string; signal?: AbortSignal },
  ): Promise<PushResult> {
    const dataset = await this.datasetForPush(a, name, 'tabular');
    const ctl = new AbortController();
    opts.signal?.addEventListener('abort', () => ctl.abort(opts.signal?.reason), { once: true });
    let raw, profile: TabularProfile;
    const ingest = openIngest(opts);
    try {
      try {
        [raw, profile] = await fanOut<[Awaited<ReturnType<ObjectStore['put']>>, TabularProfile]>(body, [
          (branch) => this.objects.put(branch, { maxBytes: this.maxUploadBytes, signal: ctl.signal }),
          async (branch) => {
            try {
              for await (const chunk of branch) await ingest.write(chunk);
              return await ingest.end();
            } catch (e) {
              ctl.abort(e);
              throw e;
            }
          },
        ]);
      } catch (e) {
        await this.audit.append({
          actor: p.name,
          action: 'dataset.push',
          target: `dataset:${a.project.slug}/${name}`,
          project: a.project.slug,
          outcome: 'failure',
          client: opts.client,
          details: { code: e instanceof AppError ? e.code : 'INTERNAL', via: credentialOf(p) },
        });
        throw e;
      }
      const existing = dataset.id ? await this.versionByContent(dataset.id, raw.digest) : undefined;
      if (existing) return { version: this.toInfo(a, dataset, existing), created: false };

      const arrow = await this.objects.put(
        ingest.hasArrow ? ingest.arrow() : tabularToArrow(await this.readVerified(raw.digest), profile),
      );
      ingest.close();
      const manifest: VersionManifest = {
        format: 'ichigen.dataset-version',
        formatVersion: 1,
        kind: 'tabular',
        files: [{ path: `${name}.csv`, digest: raw.digest, size: raw.size }],
        arrow: { digest: arrow.digest, size: arrow.size },
        tabular: profile,
      };
      return await this.commitVersion(p, a, dataset, {
        contentDigest: raw.digest,
        manifest,
        sizeBytes: raw.size,
        rowCount: profile.rowCount,
        schema: profile,
        message: opts.message ?? '',
        client: opts.client,
      });
    } finally {
      ingest.close();
    }
  }

  /** Stores one file of a files dataset ahead of the version that will list it. */
  async putBlob(body: AsyncIterable<Uint8Array>, expectedDigest?: string, signal?: AbortSignal) {
    return this.objects.put(body, {
      maxBytes: this.maxUploadBytes,
      ...(expectedDigest ? { expectedDigest: parseDigest(expectedDigest) } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  /** Creates a files version from already-stored blobs (every digest must exist). */
  async pushFiles(
    p: Principal,
    a: Access,
    name: string,
    files: { path: string; digest: string }[],
    opts: { message?: string; client: string },
  ): Promise<PushResult> {
    if (files.length === 0) throw badRequest('EMPTY_DATASET', 'a files version needs at least one file');
    if (files.length > 1_000_000)
      throw badRequest('TOO_MANY_FILES', 'a files version may list at most 1,000,000 files');
    const seen = new Set<string>();
    const entries: ManifestFile[] = [];
    for (const f of files) {
      const path = validateManifestPath(f.path);
      if (seen.has(path)) throw badRequest('DUPLICATE_PATH', `file path "${printable(path)}" is listed twice`);
      seen.add(path);
      const digest = parseDigest(f.digest);
      const st = await this.objects.stat(digest);
      if (!st)
        throw badRequest(
          'BLOB_MISSING',
          `file ${printable(path)}: no uploaded content with digest ${digest}; upload it first`,
        );
      entries.push({ path, digest, size: st.size });
    }
    entries.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const dataset = await this.datasetForPush(a, name, 'files');
    const manifest: VersionManifest = {
      format: 'ichigen.dataset-version',
      formatVersion: 1,
      kind: 'files',
      files: entries,
    };
    const contentDigest = (await this.objects.put(Readable.from([Buffer.from(JSON.stringify(entries))]))).digest;
    const existing = dataset.id ? await this.versionByContent(dataset.id, contentDigest) : undefined;
    if (existing) return { version: this.toInfo(a, dataset, existing), created: false };
    return this.commitVersion(p, a, dataset, {
      contentDigest,
      manifest,
      sizeBytes: entries.reduce((s, f) => s + f.size, 0),
      rowCount: null,
      schema: null,
      message: opts.message ?? '',
      client: opts.client,
    });
  }

  private async versionByContent(datasetId: string, contentDigest: string) {
    return this.db
      .selectFrom('dataset_versions')
      .selectAll()
      .where('dataset_id', '=', datasetId)
      .where('content_digest', '=', contentDigest)
      .executeTakeFirst();
  }

  private async commitVersion(
    p: Principal,
    a: Access,
    dataset: { id: string | null; name: string; kind: string },
    v: {
      contentDigest: string;
      manifest: VersionManifest;
      sizeBytes: number;
      rowCount: number | null;
      schema: unknown;
      message: string;
      client: string;
    },
  ): Promise<PushResult> {
    if (v.message.length > 2000)
      throw badRequest('MESSAGE_TOO_LONG', 'a version message may have at most 2000 characters');
    const manifestDigest = (await this.objects.put(Readable.from([Buffer.from(JSON.stringify(v.manifest))]))).digest;
    for (let attempt = 0; ; attempt++) {
      try {
        const row = await this.db.transaction().execute(async (tx) => {
          let datasetId = dataset.id;
          if (!datasetId) {
            const found = await tx
              .selectFrom('datasets')
              .select('id')
              .where('project_id', '=', a.project.id)
              .where('name', '=', dataset.name)
              .executeTakeFirst();
            datasetId = found?.id ?? newId();
            if (!found) {
              await tx
                .insertInto('datasets')
                .values({
                  id: datasetId,
                  project_id: a.project.id,
                  name: dataset.name,
                  kind: dataset.kind,
                  created_at: nowIso(),
                  created_by: p.name,
                })
                .execute();
            }
          }
          const last = await tx
            .selectFrom('dataset_versions')
            .select((eb) => eb.fn.max('version').as('v'))
            .where('dataset_id', '=', datasetId)
            .executeTakeFirst();
          const lastVersion = last?.v === null || last?.v === undefined ? null : Number(last.v);
          const r: DatasetVersionsTable = {
            id: newId(),
            dataset_id: datasetId,
            version: (lastVersion ?? 0) + 1,
            content_digest: v.contentDigest,
            manifest_digest: manifestDigest,
            size_bytes: v.sizeBytes,
            row_count: v.rowCount,
            file_count: v.manifest.files.length,
            schema_json: v.schema === null ? null : JSON.stringify(v.schema),
            parent_version: lastVersion,
            message: v.message,
            created_by: p.name,
            created_at: nowIso(),
          };
          await tx.insertInto('dataset_versions').values(r).execute();
          return r;
        });
        await this.audit.append({
          actor: p.name,
          action: 'dataset.push',
          target: `dataset:${a.project.slug}/${dataset.name}@${row.version}`,
          project: a.project.slug,
          outcome: 'success',
          client: v.client,
          details: {
            digest: v.contentDigest,
            rows: v.rowCount,
            files: row.file_count,
            bytes: v.sizeBytes,
            via: credentialOf(p),
          },
        });
        const info = this.toInfo(a, dataset, row);
        const studiesStarted = this.onVersionCreated
          ? await this.onVersionCreated({
              principal: p,
              access: a,
              datasetId: row.dataset_id,
              datasetName: dataset.name,
              versionId: row.id,
              version: info.version,
            })
          : [];
        return { version: info, created: true, ...(studiesStarted.length ? { studiesStarted } : {}) };
      } catch (e) {
        if (!isUniqueViolation(e) || attempt >= 5) throw e;
        const current = await this.findDataset(a, dataset.name);
        if (current && current.kind !== dataset.kind)
          throw conflict('DATASET_KIND_MISMATCH', `dataset ${dataset.name} holds ${current.kind} data`);
        dataset = current ?? dataset;
        const same = current ? await this.versionByContent(current.id, v.contentDigest) : undefined;
        if (same) return { version: this.toInfo(a, dataset, same), created: false };
      }
    }
  }

  /** Versions newest first, a page at a time (`before` = the smallest version number of the previous page). */
  async log(a: Access, name: string, page: { limit?: number; before?: number }) {
    const dataset = await this.requireDataset(a, name);
    const limit = Math.min(Math.max(page.limit ?? 100, 1), 500);
    let q = this.db.selectFrom('dataset_versions').selectAll().where('dataset_id', '=', dataset.id);
    if (page.before !== undefined) q = q.where('version', '<', page.before);
    const rows = await q
      .orderBy('version', 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map((r) => this.toInfo(a, dataset, r));
    return { versions: items, nextBefore: rows.length > limit ? items[items.length - 1]!.version : null };
  }

  async version(a: Access, name: string, version: number) {
    const dataset = await this.requireDataset(a, name);
    const row = await this.db
      .selectFrom('dataset_versions')
      .selectAll()
      .where('dataset_id', '=', dataset.id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) throw notFound('VERSION_NOT_FOUND', `dataset ${a.project.slug}/${name} has no version ${version}`);
    return { dataset, row, info: this.toInfo(a, dataset, row) };
  }

  async manifest(manifestDigest: string): Promise<VersionManifest> {
    const bytes = await this.objects.getBytes(parseDigest(manifestDigest));
    return JSON.parse(bytes.toString('utf8')) as VersionManifest;
  }

  /** A verified stream of a stored object (the stream errors with INTEGRITY_ERROR on corruption). */
  async readVerified(digest: Digest): Promise<AsyncIterable<Uint8Array>> {
    return (await this.objects.get(digest)) as unknown as AsyncIterable<Uint8Array>;
  }

  async recordRead(
    p: Principal,
    a: Access,
    target: string,
    action: string,
    client: string,
    details: Record<string, unknown> = {},
    outcome: 'success' | 'failure' = 'success',
  ) {
    await this.audit.append({
      actor: p.name,
      action,
      target,
      project: a.project.slug,
      outcome,
      client,
      details: { ...details, via: credentialOf(p) },
    });
  }

  private toInfo(a: Access, dataset: { name: string; kind: string }, r: DatasetVersionsTable): DatasetVersionInfo {
    return {
      id: r.id,
      project: a.project.slug,
      dataset: dataset.name,
      kind: dataset.kind as DatasetKind,
      version: Number(r.version),
      contentDigest: r.content_digest,
      manifestDigest: r.manifest_digest,
      sizeBytes: Number(r.size_bytes),
      rowCount: r.row_count === null ? null : Number(r.row_count),
      fileCount: Number(r.file_count),
      parentVersion: r.parent_version === null ? null : Number(r.parent_version),
      message: r.message,
      createdBy: r.created_by,
      createdAt: r.created_at,
    };
  }
}
