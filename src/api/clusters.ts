/** Clusters: K3s clusters the control plane manages (provisioning arrives with its own issue). */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Obj, StringEnum, Timestamp } from './common.js';

/** `upgrading` while a rolling upgrade job runs; the cluster returns to the state it had when the job ends. */
export const ClusterState = StringEnum(['pending', 'provisioning', 'ready', 'upgrading', 'degraded', 'error']);
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

/** A host to provision: a DNS name or an IP address (checked again by the shell quoting on use). */
export const ProvisionHost = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:]+)$',
  description: 'host name or IP address',
});

const LocalPath = Type.String({
  minLength: 2,
  maxLength: 4096,
  pattern: '^/[^\\u0000]*$',
  description: 'absolute path on the control plane machine',
});

export const AgentUnit = Obj(
  {
    image: LocalPath,
    sim: Type.Optional(Type.Boolean({ description: 'run the agent on the simulated register model (a node that is not a Pi)' })),
  },
  {
    description:
      "install the pi-controller agent on each node as a systemd unit from the image layout of `npm run image` (image: its directory), enrolled with a one-time join token; on add-node the default is the cluster's",
  },
);

export const ClusterProvision = Obj({
  servers: Type.Array(ProvisionHost, { minItems: 1, maxItems: 9, description: 'the first gets --cluster-init; the others join it' }),
  agents: Type.Optional(Type.Array(ProvisionHost, { maxItems: 200 })),
  version: Type.Optional(K3sVersion),
  user: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$', description: 'SSH user (default pi)' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  identityFile: Type.Optional(LocalPath),
  profile: Type.Optional(
    StringEnum(['default', 'pi'], {
      description:
        'K3s flags for the hardware: `pi` gives small Pis lighter API server, controller and kubelet settings (README: the Pi profile)',
    }),
  ),
  airgap: Type.Optional(
    Obj(
      { installScript: LocalPath, binary: LocalPath, images: Type.Array(LocalPath, { maxItems: 20 }) },
      { description: 'air-gapped install' },
    ),
  ),
  agent: Type.Optional(AgentUnit),
});
export type ClusterProvision = Static<typeof ClusterProvision>;

export const ClusterRemoveNode = Obj({ host: ProvisionHost });

export const ClusterAddNode = Obj({
  host: ProvisionHost,
  role: StringEnum(['agent', 'server']),
  user: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]{0,31}$', description: "SSH user (default: the first server's)" })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  identityFile: Type.Optional(LocalPath),
  agent: Type.Optional(AgentUnit),
});
export type ClusterAddNode = Static<typeof ClusterAddNode>;
export type ClusterRemoveNode = Static<typeof ClusterRemoveNode>;

export const ClusterUpgrade = Obj({
  version: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'the K3s release every node gets, e.g. v1.30.4+k3s1 (else 400 INVALID_VERSION)',
  }),
  airgap: ClusterProvision.properties.airgap,
  allowDowngrade: Type.Optional(
    Type.Boolean({ description: 'install an older version than a node runs (else 409 DOWNGRADE_REFUSED)', default: false }),
  ),
});
export type ClusterUpgrade = Static<typeof ClusterUpgrade>;

export const ClusterRestore = Obj({
  etcdSnapshot: Type.String({
    minLength: 1,
    maxLength: 255,
    description:
      "a backup's name (its file, with or without .sqlite) holding an etcd snapshot of this cluster, or that snapshot's file name",
  }),
});
export type ClusterRestore = Static<typeof ClusterRestore>;

/** The hosts a cluster's succeeded lifecycle jobs left it with (what `remove-node` and `reset` act on). */
export const ClusterKubeconfig = Obj({ server: Type.String(), kubeconfig: Type.String() });
export type ClusterKubeconfig = Static<typeof ClusterKubeconfig>;

/** A host of a provisioned cluster, as its lifecycle jobs left it. */
export const ClusterHost = Obj({
  host: Type.String({ description: 'address (or name) provisioning reached it at' }),
  role: StringEnum(['server', 'agent']),
  user: Type.String(),
  port: Type.Integer(),
});
export type ClusterHost = Static<typeof ClusterHost>;

export const JournalQuery = Obj({
  unit: Type.Optional(
    Type.String({ maxLength: 1024, description: 'systemd unit (default k3s); letters, digits, `@ . _ : -`, else 400 INVALID_UNIT' }),
  ),
  lines: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, default: 200, description: 'last lines first (journalctl -n)' })),
  follow: Type.Optional(Type.Boolean({ description: 'keep the response open with new lines (journalctl -f)' })),
});
export type JournalQuery = Static<typeof JournalQuery>;
