// Which controls to offer: the server's own role table (packages/server/src/auth/roles.ts, imported, not copied).
// Only a hint for the interface: the server checks every request regardless.
import { allows, type Action } from '../../server/src/auth/roles.ts';

export type { Action };

export function can(roles: readonly string[] | undefined, action: Action): boolean {
  return !!roles && allows(roles, action);
}
