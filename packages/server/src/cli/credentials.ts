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
  return {
    ...stored,
    ...(env.ICHIGEN_URL ? { url: env.ICHIGEN_URL } : {}),
    ...(env.ICHIGEN_TOKEN ? { token: env.ICHIGEN_TOKEN } : {}),
  };
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
