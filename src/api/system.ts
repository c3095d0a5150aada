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

/** An etcd snapshot of a provisioned cluster kept beside a backup. */
export const EtcdSnapshotInfo = Obj({
  cluster: Type.String({ description: 'the cluster name' }),
  clusterId: Type.Optional(
    Type.String({ description: "the cluster's id (what a restore checks; snapshots taken before it was noted have only the name)" }),
  ),
  server: Type.String({ description: 'the server it was taken on (the first)' }),
  remotePath: Type.String({ description: 'where K3s keeps it on that server' }),
  file: Type.String({ description: "the local copy, in the data directory's backups folder" }),
  bytes: Type.Integer(),
  sha256: Type.String({ description: "of the local copy, equal to the far side's" }),
  takenAt: Timestamp,
});
export type EtcdSnapshotInfo = Static<typeof EtcdSnapshotInfo>;

export const BackupInfo = Obj({
  file: Type.String({ description: "file name inside the data directory's backups folder" }),
  bytes: Type.Integer(),
  createdAt: Timestamp,
  schemaVersion: Type.Integer(),
  etcdSnapshots: Type.Optional(Type.Array(EtcdSnapshotInfo, { description: 'etcd snapshots taken with this backup' })),
});
export type BackupInfo = Static<typeof BackupInfo>;

export const BackupCreate = Obj({
  label: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })),
  etcdSnapshot: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'also take an etcd snapshot of this provisioned cluster (id or name) on its first server, kept beside the backup',
    }),
  ),
});
