/** What the REST resources are given: the store, the bus, and the seams for later components. */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { EventBus } from '../events/bus.js';
import type { BackupInfo } from '../api/system.js';
import type { AgentInfo } from '../api/agent.js';
import type { KubernetesStatus } from '../api/kubernetes.js';

/**
 * The seam for the agent link (agents dial in over mutual TLS; that arrives with the agent
 * issue). The control plane asks it about a node's agent; desired-state changes reach the
 * agents through the `hw.changed` event, and the link writes applied status back through
 * `store.hardware.setStatus`.
 */
export interface AgentGateway {
  status(nodeId: string): AgentStatus;
  /** The agent link's directory (src/server/agents.ts); absent in gateways that only report status. */
  list?(): AgentInfo[];
  info?(nodeIdOrName: string): AgentInfo;
  /** A one-time join token for a node (created when unknown). */
  createJoinToken?(node: string, ttlMs?: number): { token: string; node: string; expiresAt: string; server: string };
  /** Revokes a node's certificates and drops its link; returns the serials. */
  revokeNode?(node: string): string[];
  /** Asks a node's agent to apply its configured safe state; false when not connected. */
  requestSafeState?(nodeId: string): boolean;
}

export interface AgentStatus {
  connected: boolean;
  /** When the current connection was made (null when not connected). */
  since: string | null;
  /** Last health report (SoC temperature, throttling flags, memory, load). */
  health: Record<string, unknown> | null;
}

/** What the backup routes need (implemented by src/backup). */
export interface BackupService {
  create(label?: string): Promise<BackupInfo>;
  list(): BackupInfo[];
}

/** The seam for Kubernetes reconciliation (src/cluster/runner.ts): only its state is read. */
export interface KubernetesGateway {
  status(): KubernetesStatus;
}

export interface ResourceDeps {
  store: Store;
  bus: EventBus;
  log: Logger;
  version: string;
  startedAt: Date;
  agents: AgentGateway | undefined;
  backups: BackupService | undefined;
  kubernetes: KubernetesGateway | undefined;
}
