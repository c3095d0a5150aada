/** System information, audit log entries and backups. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Obj, Timestamp } from './common.js';

export const SystemInfo = Obj({
  name: Type.Literal('pi-controller'),
  version: Type.String(),
  node: Type.String(),
  platform: Type.String(),
  arch: Type.String(),
  uptimeSeconds: Type.Number(),
  schemaVersion: Type.Integer(),
  startedAt: Timestamp,
  counts: Obj({ nodes: Type.Integer(), clusters: Type.Integer(), jobs: Type.Integer(), tokens: Type.Integer() }),
});
export type SystemInfo = Static<typeof SystemInfo>;

export const AuditEntry = Obj({
  id: Type.Integer(),
  at: Timestamp,
  actorId: Type.Union([Id, Type.Null()]),
  actorName: Type.String(),
  action: Type.String(),
  method: Type.String(),
  path: Type.String(),
  status: Type.Integer(),
  target: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Unknown(),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const AuditQuery = Obj({
  actorId: Type.Optional(Id),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'entries with id lower than this' })),
});

export const BackupInfo = Obj({
  file: Type.String({ description: "file name inside the data directory's backups folder" }),
  bytes: Type.Integer(),
  createdAt: Timestamp,
  schemaVersion: Type.Integer(),
});
export type BackupInfo = Static<typeof BackupInfo>;

export const BackupCreate = Obj({ label: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })) });
