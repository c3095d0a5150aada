/** What the REST resources are given: the store, the bus, and the ports of the other services. */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { EventBus } from '../events/bus.js';
import type { AgentGateway, BackupService, K3sOpsPort, KubernetesGateway, ProvisionPort } from '../core/ports.js';

export interface ResourceDeps {
  store: Store;
  bus: EventBus;
  log: Logger;
  version: string;
  startedAt: Date;
  agents: AgentGateway | undefined;
  backups: BackupService | undefined;
  kubernetes: KubernetesGateway | undefined;
  /** Cluster provisioning (undefined: this control plane does not provision). */
  provision?: ProvisionPort | undefined;
  /** Journals of a provisioned cluster's hosts over SSH (undefined: not in this control plane). */
  k3sOps?: K3sOpsPort | undefined;
}
