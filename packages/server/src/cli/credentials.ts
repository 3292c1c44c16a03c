// Where `ichigen login` keeps the server URL and token (0600 file in the user's config directory), and how every
// command finds them: ICHIGEN_URL / ICHIGEN_TOKEN in the environment win over the file.
import { mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Credentials {
  url: string;
  token: string;
  user?: string;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.ICHIGEN_CONFIG_HOME ??
    (env.XDG_CONFIG_HOME ? path.join(env.XDG_CONFIG_HOME, 'ichigen') : path.join(os.homedir(), '.config', 'ichigen'));
  return path.join(base, 'credentials.json');
}

export function readCredentials(env: NodeJS.ProcessEnv = process.env): Partial<Credentials> {
  const file = credentialsPath(env);
  let stored: Partial<Credentials> = {};
  if (existsSync(file)) {
    try {
      stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credentials>;
    } catch {
      stored = {};
    }
  }
  // A token saved by `ichigen login` belongs to the server it was issued by: never send it to another one that
  // ICHIGEN_URL names (without ICHIGEN_TOKEN, such a command is simply not logged in); a file that names no server
  // gives its token to none.
  if (env.ICHIGEN_URL && (stored.url === undefined || !sameServer(stored.url, env.ICHIGEN_URL))) {
    stored = {};
  }
  return {
    ...stored,
    ...(env.ICHIGEN_URL ? { url: env.ICHIGEN_URL } : {}),
    ...(env.ICHIGEN_TOKEN ? { token: env.ICHIGEN_TOKEN } : {}),
  };
}

/** True when two base URLs name the same server and path (scheme, host, port, path without trailing slashes). */
function sameServer(a: string, b: string): boolean {
  const norm = (u: string): string | null => {
    try {
      const x = new URL(u);
      return `${x.protocol}//${x.host}${x.pathname.replace(/\/+$/, '')}`;
    } catch {
      return null;
    }
  };
  const na = norm(a);
  return na !== null && na === norm(b);
}

export function writeCredentials(c: Credentials, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsPath(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  return file;
}

export function clearCredentials(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(credentialsPath(env), { force: true });
}
