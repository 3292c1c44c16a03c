// Pieces the serving benchmarks share (run.mjs, the full run; ab.mjs, the fixed-rate A/B of two builds).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importJWK, SignJWT } from 'jose';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** User + system CPU seconds of a process so far (Linux /proc; null elsewhere). */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

/** Starts a server in a child process with its output in a log file; resolves with its URL once it prints one. */
export async function startChild(name, cmd, argv, { cwd, env = {} } = {}) {
  const log = path.join(os.tmpdir(), `ichigen-bench-serving-${name}-${process.pid}.log`);
  const fd = openSync(log, 'w');
  const proc = spawn(cmd, argv, { cwd, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  for (let i = 0; i < 600; i++) {
    const m = /(http:\/\/(?:127\.0\.0\.1|localhost|\[::1?\]|0\.0\.0\.0):\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return { url: m[1].replace('0.0.0.0', '127.0.0.1').replace('localhost', '127.0.0.1'), proc, log };
    if (proc.exitCode !== null) throw new Error(`${name} exited: ${readFileSync(log, 'utf8')}`);
    await sleep(100);
  }
  proc.kill('SIGTERM');
  throw new Error(`${name} printed no URL: ${readFileSync(log, 'utf8')}`);
}

/** Stops a child started by startChild and removes its log. */
export async function stopChild(c) {
  c.proc.kill('SIGTERM');
  await new Promise((r) => (c.proc.exitCode !== null ? r() : c.proc.once('exit', r)));
  rmSync(c.log, { force: true });
}

/** Signs CDS Hooks JWTs as the benchmark's EHR (setup.mjs's issuer and key): a fresh jti per token. */
export async function cdsSigner(state) {
  const key = await importJWK(state.privateJwk, 'ES256');
  return (aud) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: state.kid, typ: 'JWT' })
      .setIssuer(state.iss)
      .setSubject('bench-client')
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(key);
}

/**
 * The patient-view record: the patient, 5 conditions, 18 HbA1c (some in IFCC mmol/mol), 9 eGFR and 7 BMI
 * observations over ten years — 40 resources, built with the server's CDS fixtures module `fx`.
 */
export function benchRecord(fx, pid) {
  const icd = 'http://hl7.org/fhir/sid/icd-10';
  const resources = [
    fx.patient(pid, 'female', '1961-04-02'),
    fx.condition('c-e11', pid, icd, 'E11.9', 'Type 2 diabetes mellitus'),
    fx.condition('c-i10', pid, icd, 'I10', 'Essential hypertension'),
    fx.condition('c-e78', pid, icd, 'E78.5', 'Hyperlipidaemia'),
    fx.condition('c-n18', pid, icd, 'N18.3', 'CKD stage 3'),
    fx.condition('c-k21', pid, icd, 'K21.9', 'GERD'),
    ...Array.from({ length: 18 }, (_, i) =>
      i % 3 === 2
        ? fx.quantity(`a1c-${i}`, pid, '4548-4', 53 + (i % 5) * 4, 'mmol/mol', 20 + i * 60)
        : fx.quantity(`a1c-${i}`, pid, '4548-4', 7 + (i % 5) * 0.4, '%', 20 + i * 60),
    ),
    ...Array.from({ length: 9 }, (_, i) =>
      fx.quantity(`egfr-${i}`, pid, '62238-1', 60 - i * 2, 'mL/min/{1.73_m2}', 30 + i * 90),
    ),
    ...Array.from({ length: 7 }, (_, i) =>
      fx.quantity(`bmi-${i}`, pid, '39156-5', 29 + i * 0.3, 'kg/m2', 60 + i * 120),
    ),
  ];
  if (resources.length !== 40) throw new Error(`prefetch has ${resources.length} resources, not 40`);
  return resources;
}

/** A patient-view request body with this prefetch; each call gets a fresh hookInstance. */
export function patientViewBody(prefetch, pid) {
  const template = JSON.stringify({
    hook: 'patient-view',
    hookInstance: '__HOOK_INSTANCE__',
    context: { userId: 'Practitioner/bench', patientId: pid },
    prefetch,
  });
  return () => template.replace('__HOOK_INSTANCE__', randomUUID());
}
