/** The state of the control plane's Kubernetes reconciliation (`GET /api/v1/kubernetes`). */
import { Type, type Static } from '@sinclair/typebox';
import { Obj, StringEnum, Timestamp } from './common.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);

const statusProps = {
  enabled: Type.Boolean({ description: 'whether serve was given a kubeconfig' }),
  state: StringEnum(['off', 'starting', 'running', 'retrying', 'stopped'], {
    description:
      'off: no kubeconfig; starting: first attempt; running: CRDs installed and watches up; retrying: the last start failed, the next one is scheduled; stopped: shutting down',
  }),
  source: Nullable(Type.String({ description: 'where the kubeconfig came from, e.g. file /etc/rancher/k3s/k3s.yaml' })),
  server: Nullable(Type.String({ description: 'API server URL of the current context' })),
  connected: Type.Boolean({ description: 'the API server answered the last start attempt or probe' }),
  synced: Type.Boolean({ description: 'the first full list of every kind is done' }),
  queueDepth: Type.Integer({ minimum: 0, description: 'objects queued or being reconciled' }),
  attempts: Type.Integer({ minimum: 0, description: 'start attempts so far' }),
  lastError: Nullable(Type.String({ description: 'why the last start attempt or probe failed' })),
  nextAttemptAt: Nullable(Timestamp),
  runningSince: Nullable(Timestamp),
};
export const KubernetesStatus = Obj(statusProps);
export type KubernetesStatus = Static<typeof KubernetesStatus>;

/** A provisioned cluster's reconciliation (src/daemon/managed.ts). */
export const ManagedClusterStatus = Obj({
  ...statusProps,
  cluster: Type.String({ description: 'the provisioned cluster' }),
  clusterId: Type.String(),
});
export type ManagedClusterStatus = Static<typeof ManagedClusterStatus>;

/** `GET /api/v1/kubernetes`: the configured kubeconfig's reconciliation, and each provisioned cluster's. */
export const KubernetesOverview = Obj({
  ...statusProps,
  managed: Type.Optional(
    Type.Array(ManagedClusterStatus, {
      description: 'clusters this control plane provisioned, reconciled through their admin kubeconfigs kept sealed in the database',
    }),
  ),
});
export type KubernetesOverview = Static<typeof KubernetesOverview>;

/** The status when serve has no kubeconfig. */
export const KUBERNETES_OFF: KubernetesStatus = {
  enabled: false,
  state: 'off',
  source: null,
  server: null,
  connected: false,
  synced: false,
  queueDepth: 0,
  attempts: 0,
  lastError: null,
  nextAttemptAt: null,
  runningSince: null,
};
