/** API tokens and roles. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Obj, StringEnum, Timestamp } from './common.js';

/** Roles in increasing order of power: each includes the ones before it. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const Role = StringEnum(['viewer', 'operator', 'admin']);
export type Role = (typeof ROLES)[number];

/** Whether `had` is at least `needed`. */
export function roleAtLeast(had: Role, needed: Role): boolean {
  return ROLES.indexOf(had) >= ROLES.indexOf(needed);
}

export const TokenInfo = Obj({
  id: Id,
  name: Type.String(),
  role: Role,
  createdAt: Timestamp,
  createdBy: Type.String(),
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
});
export type TokenInfo = Static<typeof TokenInfo>;

export const TokenCreate = Obj({
  name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._@-]*$' }),
  role: Role,
  /** Lifetime in seconds; absent = no expiry. */
  ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
});
export type TokenCreate = Static<typeof TokenCreate>;

/** The answer to a token creation: the secret is shown this once and never stored. */
export const TokenCreated = Obj({ token: Type.String(), info: TokenInfo });
export type TokenCreated = Static<typeof TokenCreated>;

export const WhoAmI = Obj({ id: Id, name: Type.String(), role: Role });
