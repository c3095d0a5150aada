/** Clusters: K3s clusters the control plane manages (provisioning arrives with its own issue). */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Obj, StringEnum, Timestamp } from './common.js';

export const ClusterState = StringEnum(['pending', 'provisioning', 'ready', 'degraded', 'error']);
export type ClusterState = Static<typeof ClusterState>;

export const K3sVersion = Type.String({ pattern: '^v\\d+\\.\\d+\\.\\d+(\\+k3s\\d+)?$', description: 'e.g. v1.30.4+k3s1' });

export const Cluster = Obj({
  id: Id,
  name: Name,
  state: ClusterState,
  k3sVersion: Type.Union([K3sVersion, Type.Null()]),
  ha: Type.Boolean(),
  description: Type.String(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Cluster = Static<typeof Cluster>;

export const ClusterCreate = Obj({
  name: Name,
  k3sVersion: Type.Optional(K3sVersion),
  ha: Type.Optional(Type.Boolean()),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type ClusterCreate = Static<typeof ClusterCreate>;

export const ClusterUpdate = Obj({
  k3sVersion: Type.Optional(Type.Union([K3sVersion, Type.Null()])),
  ha: Type.Optional(Type.Boolean()),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
  state: Type.Optional(ClusterState),
});
export type ClusterUpdate = Static<typeof ClusterUpdate>;
