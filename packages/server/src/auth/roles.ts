// Per-project roles and what each may do: the single source of truth for authorization (docs/security.md mirrors it).
// Deny by default: an action not listed for any of a member's roles is refused.

export const ROLES = ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  'project.read',
  'members.read',
  'members.manage',
  'dataset.list',
  'dataset.push',
  'dataset.metadata',
  'dataset.download',
  'audit.read',
  'policy.manage',
  'study.run',
  'model.read',
  'model.register',
  'model.approve',
  'model.retire',
  'lineage.read',
  'recipe.run',
  'model.predict',
  'predictions.read',
  'batch.score',
  'deployment.read',
  'deployment.manage',
] as const;
export type Action = (typeof ACTIONS)[number];

/** Who may do what inside a project. Global administrators manage users, projects and membership only. */
export const PERMISSIONS: Record<Action, readonly Role[]> = {
  'project.read': ROLES,
  'members.read': ['owner', 'steward', 'auditor'],
  'members.manage': ['owner'],
  'dataset.list': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'dataset.push': ['owner', 'steward'],
  'dataset.metadata': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'dataset.download': ['owner', 'steward', 'scientist'],
  'audit.read': ['owner', 'auditor'],
  'policy.manage': ['owner', 'scientist'],
  'study.run': ['owner', 'scientist'],
  'model.read': ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'],
  'model.register': ['owner', 'scientist'],
  'model.approve': ['approver'],
  'model.retire': ['owner', 'approver'],
  'lineage.read': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'recipe.run': ['owner', 'steward', 'scientist'],
  'model.predict': ['owner', 'scientist', 'approver', 'clinician'],
  'predictions.read': ['owner', 'scientist', 'approver', 'auditor'],
  'batch.score': ['owner', 'steward', 'scientist'],
  'deployment.read': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  // Putting a model in front of clinicians is the responsible clinician's decision (or the project owner's).
  'deployment.manage': ['owner', 'approver'],
};

export function allows(roles: readonly string[], action: Action): boolean {
  const allowed = PERMISSIONS[action];
  return roles.some((r) => (allowed as readonly string[]).includes(r));
}
