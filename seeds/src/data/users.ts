import type { Actor, DirectoryUser, Role } from '@claimtrail/domain';

export interface SeedUser {
  id: string;
  name: string;
  role: Role;
}

/** The seed desk. Ids are stable text ids (users.id is text), distinct from the demo users. */
export const SEED_USERS = {
  mara: { id: 'seed-fc-mara', name: 'Mara Lindqvist', role: 'fact_checker' },
  tomas: { id: 'seed-fc-tomas', name: 'Tomás Okafor', role: 'fact_checker' },
  ines: { id: 'seed-ed-ines', name: 'Ines Varga', role: 'editor' },
  jonah: { id: 'seed-ed-jonah', name: 'Jonah Reyes', role: 'editor' },
  priya: { id: 'seed-aud-priya', name: 'Priya Nair', role: 'auditor' },
  sam: { id: 'seed-admin-sam', name: 'Sam Keller', role: 'admin' },
} as const satisfies Record<string, SeedUser>;

export type SeedUserKey = keyof typeof SEED_USERS;

/** The users the service's demo tokens belong to: one per role, apart from the seed desk. */
export const DEMO_USERS: readonly SeedUser[] = [
  { id: 'demo-fact-checker', role: 'fact_checker', name: 'Demo fact-checker' },
  { id: 'demo-editor', role: 'editor', name: 'Demo editor' },
  { id: 'demo-auditor', role: 'auditor', name: 'Demo auditor' },
  { id: 'demo-admin', role: 'admin', name: 'Demo admin' },
];

export function seedActor(key: SeedUserKey): Actor {
  const user = SEED_USERS[key];
  return { id: user.id, role: user.role, name: user.name };
}

/** A seed user as the user directory has them (null: not a seed user). */
export function seedDirectoryUser(id: string): DirectoryUser | null {
  const user = Object.values(SEED_USERS).find((u) => u.id === id);
  return user ? { id: user.id, role: user.role, active: true } : null;
}
