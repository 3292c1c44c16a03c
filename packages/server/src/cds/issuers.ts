// The EHR channel's security: trusted JWT issuers (JWKS inline or by URL, allow-listed `jku`), each mapped to a
// clinician service account, and verification of the signed JWT every CDS Hooks call carries (ES256/ES384/RS384,
// aud = the called URL, exp, iat skew, jti replay kept in the database so it holds across restarts and instances).
import { createHash } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit.js';
import type { Claim } from '../audit/commit.js';
import type { Principal } from '../auth/service.js';
import type { AuthService } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import type { CdsIssuersTable } from '../deployments/tables.js';
import '../deployments/tables.js';
import { AppError, badRequest, forbidden, notFound } from '../errors.js';
import { newId, nowIso } from '../util.js';

export const ALLOWED_ALGS = ['ES256', 'ES384', 'RS384'] as const;
/** Allowed difference between our clock and the EHR's, in seconds. */
export const CLOCK_SKEW_S = 60;
/** Longest token lifetime accepted (the spec asks clients for at most 5 minutes). */
export const MAX_LIFETIME_S = 600;

const jwkSchema = z
  .object({ kty: z.enum(['EC', 'RSA']), kid: z.string().max(300).optional() })
  .passthrough()
  .refine((k) => !('d' in k) && !('p' in k), 'the JWKS holds a private key: give the EHR’s public keys only');

/**
 * Whether keys may be fetched from `u`: https, or plain http only to a loopback host (127.0.0.0/8, ::1, localhost),
 * where nothing between us and the key server can swap the keys. Any other http URL would let whoever sits on the
 * network path sign CDS calls.
 */
export function isKeyUrlSafe(u: string): boolean {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  // The WHATWG parser lower-cases names, writes IPv4 dotted (127.1 → 127.0.0.1) and brackets IPv6.
  const h = url.hostname;
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
const KEY_URL_RULE = 'must be https (plain http only to a loopback host: 127.0.0.0/8, ::1, localhost)';
const keyUrl = z.string().url().max(2000).refine(isKeyUrlSafe, KEY_URL_RULE);

export const issuerInputSchema = z
  .object({
    iss: z.string().min(1).max(500),
    jwks: z
      .object({ keys: z.array(jwkSchema).min(1).max(50) })
      .strict()
      .optional(),
    jwksUrl: keyUrl.optional(),
    jkuAllow: z.array(keyUrl).max(20).optional(),
    projects: z.array(z.string().min(1).max(128)).min(1).max(200),
    /**
     * The URL the EHR calls us at (e.g. https://ichigen.hospital.local): `aud` must equal it followed by the called
     * path (`<baseUrl>/cds-services`, `<baseUrl>/cds-services/{id}`, …), exactly.
     */
    baseUrl: z
      .string()
      .url()
      .max(500)
      .refine((u) => !u.endsWith('/'), 'no trailing slash')
      .optional(),
  })
  .strict()
  .refine((v) => !!v.jwks !== !!v.jwksUrl, 'give exactly one of jwks (the keys) or jwksUrl');
export type IssuerInput = z.infer<typeof issuerInputSchema>;

export interface CdsCaller {
  principal: Principal;
  issuer: string;
  jti: string;
  claims: JWTPayload;
  /** The issuer's configured base URL of this service, if any. */
  baseUrl: string | null;
  /** Until when the jti is remembered (the token's expiry plus the allowed clock skew), ISO time. */
  jtiExpiresAt: string;
}

const replayed = () =>
  unauthorized('CDS_JWT_REPLAYED', 'this JWT (jti) was already used; sign a new one for every call');

/**
 * The jti record of a verified call, for `audit.commit`: committed together with the call's other writes, and
 * refused (with CDS_JWT_REPLAYED, nothing of the call written) when the jti is already recorded — by this or any
 * other server process sharing the database.
 */
export function jtiClaim(caller: CdsCaller): Claim {
  return {
    table: 'cds_seen_jti',
    row: { iss: caller.issuer, jti: caller.jti, expires_at: caller.jtiExpiresAt },
    conflict: replayed,
  };
}

/** How long an issuer's row and service account are used without reading the database again. */
export const ISSUER_CACHE_MS = 5_000;
type IssuerRow = Selectable<CdsIssuersTable>;

const unauthorized = (code: string, message: string) => new AppError(code, 401, message);

export class IssuerService {
  private readonly remote = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  private readonly local = new Map<string, ReturnType<typeof createLocalJWKSet>>();
  private lastPurge = 0;
  private readonly issuers = new Map<
    string,
    { value: { row: IssuerRow; user: { id: string; name: string } }; until: number }
  >();

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly auth: AuthService,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** Adds or replaces a trusted issuer; its service account gets exactly the clinician role in `projects`. */
  async put(p: Principal, input: IssuerInput, client: string) {
    this.issuers.clear();
    if (!p.isAdmin) throw forbidden('ADMIN_REQUIRED', 'only an administrator can trust a CDS client');
    if (input.jwks) {
      try {
        createLocalJWKSet(input.jwks as JSONWebKeySet);
      } catch (e) {
        throw badRequest('JWKS_INVALID', `the JWKS is not valid: ${(e as Error).message}`);
      }
    }
    const projects = await this.db
      .selectFrom('projects')
      .select(['id', 'slug'])
      .where('slug', 'in', input.projects)
      .execute();
    const unknown = input.projects.filter((s) => !projects.some((r) => r.slug === s));
    if (unknown.length) throw notFound('PROJECT_NOT_FOUND', `no project(s) ${unknown.join(', ')}`);
    const existing = await this.db
      .selectFrom('cds_issuers')
      .selectAll()
      .where('iss', '=', input.iss)
      .executeTakeFirst();
    let userId = existing?.service_user_id;
    const userName = serviceAccountName(input.iss);
    if (!userId) {
      const found = await this.auth.findUser(userName);
      userId = found?.id ?? newId();
      // A service account has no password at all (not a scrypt hash: nothing verifies against it) and is disabled,
      // so it can never log in; it exists to hold the clinician role that the EHR's JWT stands for.
      if (!found)
        await this.db
          .insertInto('users')
          .values({
            id: userId,
            name: userName,
            password_hash: 'none:cds-service-account',
            is_admin: 0,
            must_change_password: 0,
            disabled: 1,
            created_at: nowIso(),
          })
          .execute();
      else await this.db.updateTable('users').set({ disabled: 1 }).where('id', '=', userId).execute();
    }
    const now = nowIso();
    const row = {
      iss: input.iss,
      jwks_json: input.jwks ? JSON.stringify(input.jwks) : null,
      jwks_url: input.jwksUrl ?? null,
      jku_allow_json: JSON.stringify(input.jkuAllow ?? []),
      base_url: input.baseUrl ?? null,
      service_user_id: userId,
      created_at: existing?.created_at ?? now,
      created_by: existing?.created_by ?? p.name,
    };
    await this.db.transaction().execute(async (tx) => {
      if (existing) await tx.updateTable('cds_issuers').set(row).where('iss', '=', input.iss).execute();
      else await tx.insertInto('cds_issuers').values(row).execute();
      await tx.deleteFrom('members').where('user_id', '=', userId).execute();
      for (const pr of projects)
        await tx
          .insertInto('members')
          .values({ project_id: pr.id, user_id: userId, role: 'clinician', created_at: now, created_by: p.name })
          .execute();
    });
    this.issuers.clear();
    await this.audit.append({
      actor: p.name,
      action: existing ? 'cds.issuer.update' : 'cds.issuer.add',
      target: `cds-issuer:${input.iss}`,
      outcome: 'success',
      client,
      details: {
        projects: input.projects,
        serviceAccount: userName,
        jwksUrl: input.jwksUrl ?? null,
        jkuAllow: input.jkuAllow ?? [],
      },
    });
    return { iss: input.iss, serviceAccount: userName, projects: input.projects.slice().sort() };
  }

  async list(p: Principal) {
    if (!p.isAdmin) throw forbidden('ADMIN_REQUIRED', 'only an administrator can list CDS clients');
    const rows = await this.db
      .selectFrom('cds_issuers')
      .innerJoin('users', 'users.id', 'cds_issuers.service_user_id')
      .selectAll('cds_issuers')
      .select('users.name as user_name')
      .orderBy('iss')
      .execute();
    const out = [];
    for (const r of rows) {
      const projects = await this.db
        .selectFrom('members')
        .innerJoin('projects', 'projects.id', 'members.project_id')
        .select('projects.slug')
        .where('members.user_id', '=', r.service_user_id)
        .orderBy('projects.slug')
        .execute();
      out.push({
        iss: r.iss,
        serviceAccount: r.user_name,
        jwks: r.jwks_json ? 'inline' : r.jwks_url,
        jkuAllow: JSON.parse(r.jku_allow_json) as string[],
        baseUrl: r.base_url,
        projects: projects.map((x) => x.slug),
        createdAt: r.created_at,
        createdBy: r.created_by,
      });
    }
    return out;
  }

  private remoteSet(url: string) {
    // Issuers are checked when put; this also holds for one stored before the rule.
    if (!isKeyUrlSafe(url))
      throw unauthorized(
        'CDS_JWT_KEY_URL_INSECURE',
        `keys are not fetched from ${url.slice(0, 200)}: it ${KEY_URL_RULE}`,
      );
    let s = this.remote.get(url);
    if (!s) {
      s = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      this.remote.set(url, s);
    }
    return s;
  }

  /**
   * Verifies the JWT of a CDS call. `calledPath` is the endpoint's path; `requestBase` the scheme://host it was
   * reached at (used only when the issuer has no configured base URL). Refusals are audited.
   */
  async verify(
    authorization: string | undefined,
    calledPath: string,
    requestBase: string,
    client: string,
    opts: { deferJti?: boolean } = {},
  ): Promise<CdsCaller> {
    let iss: string | null = null;
    try {
      const caller = await this.verifyInner(authorization, calledPath, requestBase, (i) => (iss = i));
      // A deferred jti is claimed in the same commit as the call's writes (see jtiClaim); else it is claimed now.
      if (!opts.deferJti) await this.audit.commit({ claim: jtiClaim(caller) });
      return caller;
    } catch (e) {
      if (e instanceof AppError && e.status === 401) await this.auditRefusal(iss, calledPath, client, e);
      throw e;
    }
  }

  /** Audits a refused CDS call (every 401 of the EHR channel is recorded). */
  async auditRefusal(iss: string | null, calledPath: string, client: string, e: AppError): Promise<void> {
    await this.audit.append({
      actor: iss ? `cds:${iss}` : null,
      action: 'cds.auth',
      target: calledPath,
      outcome: 'denied',
      client,
      details: { code: e.code },
    });
  }

  private async verifyInner(
    authorization: string | undefined,
    calledPath: string,
    requestBase: string,
    seen: (iss: string) => void,
  ): Promise<CdsCaller> {
    if (!authorization || !/^Bearer\s+\S+$/i.test(authorization))
      throw unauthorized('CDS_JWT_REQUIRED', 'CDS calls need Authorization: Bearer <JWT signed by the EHR>');
    const token = authorization.replace(/^Bearer\s+/i, '');
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw unauthorized('CDS_JWT_MALFORMED', 'the bearer token is not a JWT');
    }
    const alg = String(header.alg ?? '');
    if (alg.toLowerCase() === 'none') throw unauthorized('CDS_JWT_ALG', 'unsigned JWTs (alg "none") are refused');
    if (/^HS/i.test(alg))
      throw unauthorized('CDS_JWT_ALG', `${alg} (a shared secret) is refused: sign with ${ALLOWED_ALGS.join(', ')}`);
    if (!(ALLOWED_ALGS as readonly string[]).includes(alg))
      throw unauthorized('CDS_JWT_ALG', `alg ${alg} is not accepted; use ${ALLOWED_ALGS.join(', ')}`);
    if (typeof unverified.iss !== 'string') throw unauthorized('CDS_JWT_CLAIMS', 'the JWT has no "iss"');
    const iss = unverified.iss;
    seen(iss);
    const { row, user } = (await this.issuer(iss)) ?? {};
    if (!row || !user)
      throw unauthorized(
        'CDS_JWT_UNKNOWN_ISSUER',
        `issuer "${iss.slice(0, 200)}" is not trusted (ichigen cds add-issuer)`,
      );
    let keys: Parameters<typeof jwtVerify>[1];
    if (header.jku !== undefined) {
      const allow = JSON.parse(row.jku_allow_json) as string[];
      if (typeof header.jku !== 'string' || !allow.includes(header.jku))
        throw unauthorized(
          'CDS_JWT_JKU_NOT_ALLOWED',
          `jku ${String(header.jku).slice(0, 200)} is not on this issuer's allow-list`,
        );
      keys = this.remoteSet(header.jku);
    } else if (row.jwks_json) {
      // Keyed by the JWKS text itself, so a key change made through any server takes effect on every server.
      let s = this.local.get(row.jwks_json);
      if (!s) {
        s = createLocalJWKSet(JSON.parse(row.jwks_json) as JSONWebKeySet);
        if (this.local.size > 100) this.local.clear();
        this.local.set(row.jwks_json, s);
      }
      keys = s;
    } else {
      keys = this.remoteSet(row.jwks_url!);
    }
    const aud = `${row.base_url ?? requestBase}${calledPath}`;
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        algorithms: [...ALLOWED_ALGS],
        issuer: iss,
        audience: aud,
        clockTolerance: CLOCK_SKEW_S,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
      }));
    } catch (e) {
      throw mapJoseError(e, aud);
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iat! > now + CLOCK_SKEW_S)
      throw unauthorized('CDS_JWT_IAT', 'the JWT was issued in the future ("iat"); check the EHR clock');
    if (claims.exp! - now > MAX_LIFETIME_S)
      throw unauthorized(
        'CDS_JWT_LIFETIME',
        `the JWT expires more than ${MAX_LIFETIME_S} s from now; issue short-lived tokens (the spec asks for ≤ 5 minutes)`,
      );
    const jti = String(claims.jti);
    if (!jti || jti.length > 500)
      throw unauthorized('CDS_JWT_CLAIMS', 'the JWT needs a "jti" of at most 500 characters');
    await this.purgeJti();
    return {
      principal: { userId: user.id, name: user.name, isAdmin: false, tokenId: `jwt:${jti}` },
      issuer: iss,
      jti,
      claims,
      baseUrl: row.base_url,
      jtiExpiresAt: new Date((claims.exp! + CLOCK_SKEW_S) * 1000).toISOString(),
    };
  }

  /**
   * The issuer's row and service account, kept for ISSUER_CACHE_MS (a change through `put` on this server takes
   * effect at once; through another server process within that time). Unknown issuers are not kept.
   */
  private async issuer(iss: string): Promise<{ row: IssuerRow; user: { id: string; name: string } } | null> {
    const now = Date.now();
    const hit = this.issuers.get(iss);
    if (hit && now < hit.until) return hit.value;
    const row = await this.db.selectFrom('cds_issuers').selectAll().where('iss', '=', iss).executeTakeFirst();
    if (!row) return null;
    const user = await this.db
      .selectFrom('users')
      .select(['id', 'name'])
      .where('id', '=', row.service_user_id)
      .executeTakeFirst();
    if (!user) return null;
    const value = { row, user };
    if (this.issuers.size > 1000) this.issuers.clear();
    this.issuers.set(iss, { value, until: now + ISSUER_CACHE_MS });
    return value;
  }

  /** Removes expired jti records now and then (a jti is kept until its token's expiry). */
  private async purgeJti(): Promise<void> {
    const nowMs = Date.now();
    if (nowMs - this.lastPurge <= 60_000) return;
    this.lastPurge = nowMs;
    await this.db.deleteFrom('cds_seen_jti').where('expires_at', '<', new Date(nowMs).toISOString()).execute();
  }
}

function mapJoseError(e: unknown, aud: string): AppError {
  if (e instanceof joseErrors.JWTExpired) return unauthorized('CDS_JWT_EXPIRED', 'the JWT has expired ("exp")');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return unauthorized('CDS_JWT_AUDIENCE', `the JWT's "aud" must be ${aud}`);
    return unauthorized('CDS_JWT_CLAIMS', `the JWT's "${e.claim}" claim is not valid: ${e.message}`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized('CDS_JWT_ALG', e.message);
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return unauthorized('CDS_JWT_KEY_UNKNOWN', "no key in the issuer's JWKS matches the JWT (kid / alg)");
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return unauthorized('CDS_JWT_SIGNATURE', 'the JWT signature does not verify');
  if (e instanceof joseErrors.JWKSTimeout || (e instanceof joseErrors.JOSEError && /fetch|JWKS/i.test(e.message)))
    return new AppError('CDS_JWKS_UNAVAILABLE', 401, `the issuer's JWKS could not be fetched: ${(e as Error).message}`);
  if (e instanceof joseErrors.JOSEError) return unauthorized('CDS_JWT_INVALID', `the JWT is not valid: ${e.message}`);
  return new AppError('CDS_JWKS_UNAVAILABLE', 401, `the issuer's keys could not be used: ${(e as Error).message}`);
}

/** A stable, valid user name for an issuer's service account. */
export function serviceAccountName(iss: string): string {
  const slug = iss
    .replace(/^https?:\/\//, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  const h = createHash('sha256').update(iss).digest('hex').slice(0, 8);
  return `cds-${slug || 'issuer'}-${h}`;
}
