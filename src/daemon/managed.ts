/**
 * Reconciliation of the clusters this control plane provisioned: one ClusterRunner per cluster
 * whose admin kubeconfig `cluster create` keeps sealed in the database, so GPIOPin,
 * PWMController and I2CDevice objects on those clusters reach the agents without
 * `serve --kubeconfig`. A runner starts when a provisioning job leaves a kubeconfig (checked
 * whenever a job ends, and at start), is made again when the kubeconfig changes (a reset and a
 * new create), and stops when a reset forgets it. A cluster whose API server is the configured
 * kubeconfig's is left to that runner (never two reconcilers on one cluster).
 */
import type { Logger } from 'pino';
import type { KubernetesStatus, ManagedClusterStatus } from '../api/kubernetes.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import type { KubeConfigSource } from '../cluster/kubeconfig.js';
import type { NodeScope } from '../cluster/nodes.js';
import type { Node } from '../api/nodes.js';
import type { StoredKubeconfig } from './catalog.js';

/**
 * Which cluster each stored node belongs to: the cluster its record names (`clusterId`), else the
 * cluster whose servers or agents (`hosts`, as provisioning keeps them) include its address or
 * name, else none. Built once per registration pass.
 */
export function nodeHomes(store: Store, hosts: (clusterId: string) => string[]): (node: Node) => string | null {
  const byHost = new Map<string, string>();
  for (const c of store.clusters.list(1000).items) for (const h of hosts(c.id)) if (!byHost.has(h)) byHost.set(h, c.id);
  return (n) => n.clusterId ?? (n.address !== null ? byHost.get(n.address) : undefined) ?? byHost.get(n.name) ?? null;
}

/**
 * A provisioned cluster's scope: its own nodes are written; a node of no cluster is labelled
 * where its kubelet registered it here; another cluster's node is left out.
 */
export function managedScope(home: (node: Node) => string | null, clusterId: string): NodeScope {
  return (n) => {
    const h = home(n);
    return h === clusterId ? 'write' : h === null ? 'label' : 'skip';
  };
}

/** The configured kubeconfig's scope: every node but those of a cluster that has its own reconciler. */
export function configuredScope(home: (node: Node) => string | null, reconciledElsewhere: (clusterId: string) => boolean): NodeScope {
  return (n) => {
    const h = home(n);
    return h !== null && reconciledElsewhere(h) ? 'skip' : 'write';
  };
}

/** What the daemon gives to run one cluster's reconciler (a ClusterRunner). */
export interface ManagedRunner {
  readonly server: string;
  start(): void;
  stop(): Promise<void>;
  status(): KubernetesStatus;
}

export interface ManagedClustersOptions {
  store: Store;
  bus: EventBus;
  log: Logger;
  stored: StoredKubeconfig;
  /** Makes a runner for a cluster's kubeconfig (loads the Kubernetes client only when needed). */
  makeRunner: (kube: KubeConfigSource, cluster: { id: string; name: string }) => Promise<ManagedRunner>;
  /** The configured kubeconfig's API server: a provisioned cluster behind it is not reconciled twice. */
  configuredServer?: string | undefined;
}

export class ManagedClusters {
  readonly #o: ManagedClustersOptions;
  readonly #runners = new Map<string, { name: string; text: string; runner: ManagedRunner }>();
  /** Syncs run one after another; a sync asked for while one runs makes one more afterwards. */
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: ManagedClustersOptions) {
    this.#o = opts;
  }

  /** Starts the runners of the clusters provisioned so far and follows the jobs that change them. */
  start(): Promise<void> {
    this.#o.bus.on('managed-clusters', 'job.updated', (e) => {
      const s = e.data.state;
      if (s === 'succeeded' || s === 'failed' || s === 'cancelled') void this.sync();
    });
    return this.sync();
  }

  /** Brings the runners in line with the kubeconfigs in the database. */
  sync(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#sync()).catch((err: unknown) => this.#o.log.error({ err }, 'managed clusters: sync failed'));
    return this.#chain;
  }

  async #sync(): Promise<void> {
    if (this.#stopped) return;
    const want = new Map<string, { name: string; text: string }>();
    for (const c of this.#o.store.clusters.list(1000).items) {
      const text = this.#o.stored(c.id)?.kubeconfig;
      if (text !== undefined) want.set(c.id, { name: c.name, text });
    }
    for (const [id, cur] of this.#runners) {
      if (want.get(id)?.text === cur.text) continue;
      this.#runners.delete(id);
      this.#o.log.info({ cluster: cur.name }, 'managed cluster: kubeconfig gone or changed; stopping its reconciler');
      await cur.runner.stop();
    }
    for (const [id, w] of want) {
      if (this.#runners.has(id) || this.#stopped) continue;
      let kube: KubeConfigSource;
      try {
        const { kubeConfigFromText } = await import('../cluster/kubeconfig.js');
        kube = kubeConfigFromText(w.text, `cluster ${w.name} (provisioned; kubeconfig in the database)`);
      } catch (err) {
        this.#o.log.error({ err, cluster: w.name }, 'managed cluster: its stored kubeconfig cannot be read; not reconciled');
        continue;
      }
      const server = kube.kubeConfig.getCurrentCluster()?.server;
      if (server !== undefined && server === this.#o.configuredServer) {
        this.#o.log.info({ cluster: w.name, server }, 'managed cluster: the configured kubeconfig names it; reconciled there');
        continue;
      }
      const runner = await this.#o.makeRunner(kube, { id, name: w.name });
      this.#runners.set(id, { name: w.name, text: w.text, runner });
      runner.start();
    }
  }

  /** Whether the cluster has a reconciler of its own here. */
  runs(clusterId: string): boolean {
    return this.#runners.has(clusterId);
  }

  /** Each managed cluster's reconciliation. */
  status(): ManagedClusterStatus[] {
    return [...this.#runners].map(([clusterId, r]) => ({ ...r.runner.status(), cluster: r.name, clusterId }));
  }

  /** Stops every runner (shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.bus.removeOwner('managed-clusters');
    await this.#chain;
    await Promise.all([...this.#runners.values()].map((r) => r.runner.stop()));
    this.#runners.clear();
  }
}
