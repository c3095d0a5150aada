/**
 * The ports: interfaces through which the control plane's services use one another without
 * importing one another. A service depends on a port; `src/daemon` (the one composition root)
 * hands it the implementation. Every method is required: a service that may be absent is
 * passed as `undefined`, never as a half-implemented object.
 *
 * This file imports types from `src/api` only, so every folder may import it.
 */
import type { AgentInfo, AgentLogLines } from '../api/agent.js';
import type { KubernetesOverview } from '../api/kubernetes.js';
import type { BackupInfo } from '../api/system.js';
import type { DiscoveryResult, ScanReport, ScanRequest } from '../api/discovery.js';
import type { ClusterAddNode, ClusterHost, ClusterKubeconfig, ClusterProvision, ClusterRestore, ClusterUpgrade } from '../api/clusters.js';
import type { Job } from '../api/jobs.js';
import type { CatalogInstall, CatalogItem, InstallRequest, InstallResult, RemoveResult } from '../api/catalog.js';

/** A node's agent link as other services see it. */
export interface AgentStatus {
  connected: boolean;
  /** When the current connection was made (null when not connected). */
  since: string | null;
  /** Last health report (SoC temperature, throttling flags, memory, load). */
  health: Record<string, unknown> | null;
}

/** Which nodes have agents and whether they are connected (what the reconciler and the hardware routes ask). */
export interface AgentPresence {
  status(nodeId: string): AgentStatus;
  /** Every node that has an agent (connected now, or enrolled). */
  list(): AgentInfo[];
}

/** A one-time join token for a node, with the agent endpoint to enrol at. */
export interface JoinToken {
  token: string;
  node: string;
  expiresAt: string;
  server: string;
}

/**
 * The agent link (src/link): agents dial in over mutual TLS. Desired-state changes reach the
 * agents through the `hw.changed` event; the link writes applied status back through
 * `store.hardware.setStatus`.
 */
export interface AgentGateway extends AgentPresence {
  /** One agent's view: link, health, applied state, certificates. */
  info(nodeIdOrName: string): AgentInfo;
  /** A one-time join token for a node (the node is created when unknown). */
  createJoinToken(node: string, ttlMs?: number): JoinToken;
  /** Revokes a node's certificates and drops its link; returns the serials. */
  revokeNode(node: string): string[];
  /** Asks a node's agent to apply its configured safe state; false when not connected. */
  requestSafeState(nodeId: string): boolean;
  /** The agent's own recent log lines after `after` (409 AGENT_OFFLINE when not connected, 504 AGENT_TIMEOUT). */
  logs(nodeIdOrName: string, after: number, limit: number): Promise<AgentLogLines>;
}

/** What the backup routes need (implemented by src/backup). */
export interface BackupService {
  /** With `etcdCluster`, an etcd snapshot of that provisioned cluster is taken and kept beside it. */
  create(label?: string, o?: { etcdCluster?: string }): Promise<BackupInfo>;
  list(): BackupInfo[];
}

/** Kubernetes reconciliation (src/cluster/runner.ts) as the REST API and metrics see it: only its state. */
export interface KubernetesGateway {
  status(): KubernetesOverview;
}

/** Discovery as the REST API drives it (src/discovery/port.ts builds it from the configuration). */
export interface DiscoveryPort {
  /** One run of mDNS, the SSH scan and the lease files, as the request (else the configuration) says. */
  run(req: ScanRequest): Promise<ScanReport>;
  /** Reads a discovered machine's capabilities over SSH with the configured login. */
  probe(id: string): Promise<DiscoveryResult>;
}

/** Seals and opens small secrets stored at rest (AES-256-GCM; implemented by src/certs). */
export interface SecretBox {
  seal(plain: Buffer): Buffer;
  open(sealed: Buffer): Buffer;
}

/** Provisioning as the REST API sees it (built in the daemon from src/provision). */
export interface ProvisionPort {
  /** Starts a `cluster.create` job for a declared cluster; returns the job. */
  createCluster(clusterId: string, req: ClusterProvision, createdBy: string): Job;
  /** The cluster's kubeconfig, opened from its sealed copy; undefined before provisioning stored one. */
  kubeconfig(clusterId: string): ClusterKubeconfig | undefined;
  /** Starts a `cluster.add-node` job (join with the stored token, wait Ready); throws a coded error when refused. */
  addNode(clusterId: string, req: ClusterAddNode, createdBy: string): Job;
  /** Starts a `cluster.remove-node` job (cordon, drain, delete, uninstall, verify clean); throws a coded error when refused. */
  removeNode(clusterId: string, host: string, createdBy: string): Job;
  /** Starts a `cluster.reset` job (uninstall everywhere, verify clean, forget kubeconfig and token). */
  resetCluster(clusterId: string, createdBy: string): Job;
  /** Starts a `cluster.upgrade` job (per node, servers first: cordon, drain, install, wait Ready, uncordon); throws a coded error when refused. */
  upgradeCluster(clusterId: string, req: ClusterUpgrade, createdBy: string): Job;
  /** Starts a `cluster.restore` job (etcd restored on the first server from a backup's snapshot, the others rejoin); throws a coded error when refused. */
  restoreCluster(clusterId: string, req: ClusterRestore, createdBy: string): Job;
}

/** The lifecycle half of {@link ProvisionPort} (src/provision/k3s-lifecycle.ts). */
export type LifecyclePort = Pick<ProvisionPort, 'addNode' | 'removeNode' | 'resetCluster'>;

/** One Kubernetes API server, as the catalog talks to it: JSON requests with the cluster's credentials. */
export interface KubeApi {
  /** The API server's URL (for messages). */
  readonly server: string;
  /** Resolves with any status; rejects only when the server cannot be reached. */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }>;
}

/**
 * The cluster a catalog request names, with its API: `undefined` or `default` is the cluster of
 * the configured kubeconfig, another name a provisioned cluster's. Rejects with a ControllerError (404 `CLUSTER_NOT_FOUND`, 409
 * `CLUSTER_NOT_CONNECTED`, 503 `KUBERNETES_OFF`) when there is none to talk to.
 */
export type ClusterApis = (name: string | undefined) => Promise<{ name: string; api: KubeApi }>;

/** The service catalog as the REST API drives it (src/catalog/service.ts). */
export interface CatalogPort {
  list(): CatalogItem[];
  install(name: string, req: InstallRequest): Promise<InstallResult>;
  /** Installs on a cluster (all, or the one named). */
  status(cluster: string | undefined, name?: string): Promise<CatalogInstall[]>;
  remove(name: string, cluster: string | undefined): Promise<RemoveResult>;
}

/** A provisioned cluster's hosts over SSH, as provisioning reaches them (src/provision/k3s-ops.ts). */
export interface K3sOpsPort {
  hosts(clusterId: string): ClusterHost[];
  /**
   * A host's service journal (`journalctl -u unit`); rejects with a coded error before anything is
   * streamed (404 NOT_A_MEMBER, 400 INVALID_UNIT, 502 SSH_CONNECT_FAILED, ...). `chunks.return()` stops a follow.
   */
  journal(
    clusterId: string,
    host: string,
    q: { unit: string; lines: number; follow: boolean },
  ): Promise<{ host: string; unit: string; chunks: AsyncIterableIterator<string> }>;
}
