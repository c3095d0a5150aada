/**
 * The lifecycle of one cluster's reconciler inside `serve`: start it, keep trying with backoff
 * while the API server cannot be reached, watch the connection once it runs, report its state,
 * and stop it first on shutdown.
 *
 * A start attempt is a fresh {@link ClusterReconciler}: `start()` installs the CRDs, registers
 * nodes and lists the three kinds; when any of that fails (API server down, refused, timing
 * out) the half-started reconciler is stopped and the next attempt is scheduled with
 * exponential backoff and jitter. Nothing else waits for it: the REST API and the agent link
 * serve meanwhile, and desired state set through REST reaches the agents as usual. Once
 * running, a dropped watch is the reconciler's own business (it lists again); the runner only
 * probes `/version` now and then so the status and the gauges say whether the server answers.
 *
 * The kubeconfig is given as an object with a description of its source, so it may come from
 * a file (`serve --kubeconfig`) or, later, from the database.
 */
import type { Logger } from 'pino';
import type { KubernetesStatus } from '../api/kubernetes.js';
import type { EventBus } from '../events/bus.js';
import type { AgentPresence } from '../core/ports.js';
import type { Store } from '../store/index.js';
import type { KubeConfigSource } from './kubeconfig.js';
import { rawRequest } from './raw.js';
import { ClusterReconciler, type ClusterReconcilerOptions } from './reconciler.js';

export interface ClusterRunnerOptions {
  kube: KubeConfigSource;
  store: Store;
  /** The control plane's event bus (each reconciler listens on it and publishes `hw.changed` on it). */
  bus: EventBus;
  agents: AgentPresence | undefined;
  log: Logger;
  /** Delay before the second attempt and the cap (default 1 s, 30 s); doubled each failure, with jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** How often a running reconciler's API server is probed (default 10 s). */
  probeMs?: number;
  /** Passed to each {@link ClusterReconciler}. */
  reconciler?: Omit<ClusterReconcilerOptions, 'kubeConfig' | 'store' | 'bus' | 'agents' | 'log'>;
}

/** How long `stop()` waits for a start attempt in flight before it lets it finish on its own. */
const STOP_WAIT_MS = 5000;

const iso = (ms: number) => new Date(ms).toISOString();

/** See the module comment. */
export class ClusterRunner {
  readonly #o: ClusterRunnerOptions;
  readonly #log: Logger;
  #started = false;
  #rec: ClusterReconciler | undefined;
  #starting: Promise<void> | undefined;
  #state: KubernetesStatus['state'] = 'starting';
  #attempts = 0;
  #failures = 0;
  #connected = false;
  #lastError: string | null = null;
  #nextAt: number | null = null;
  #since: number | null = null;
  #retry: NodeJS.Timeout | undefined;
  #probe: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: ClusterRunnerOptions) {
    this.#o = opts;
    this.#log = opts.log;
  }

  /** The API server URL of the kubeconfig's current context. */
  get server(): string {
    return this.#o.kube.kubeConfig.getCurrentCluster()?.server ?? '';
  }

  /** The reconciler while it runs (tests). */
  get reconciler(): ClusterReconciler | undefined {
    return this.#state === 'running' ? this.#rec : undefined;
  }

  /** Begins the first start attempt; returns at once (see the module comment). */
  start(): void {
    if (this.#started) throw new Error('the cluster runner was already started');
    this.#started = true;
    this.#log.info({ server: this.server, source: this.#o.kube.source }, 'kubernetes reconciliation on; connecting');
    void this.#attempt();
  }

  async #attempt(): Promise<void> {
    this.#retry = undefined;
    this.#nextAt = null;
    if (this.#stopped) return;
    this.#attempts++;
    const rec = new ClusterReconciler({
      ...this.#o.reconciler,
      kubeConfig: this.#o.kube.kubeConfig,
      store: this.#o.store,
      bus: this.#o.bus,
      agents: this.#o.agents,
      log: this.#log,
    });
    this.#rec = rec;
    const starting = rec.start();
    this.#starting = starting;
    try {
      await starting;
    } catch (err) {
      // Informers or listeners a failed start left behind go with it.
      await rec.stop();
      if (this.#stopped) return;
      this.#rec = undefined;
      this.#connected = false;
      this.#lastError = (err as Error).message;
      this.#failures++;
      const b = this.#o.backoff ?? { baseMs: 1000, maxMs: 30_000 };
      const cap = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(this.#failures - 1, 20));
      // Half fixed, half random: never a burst of immediate retries, and no herd of servers in step.
      const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
      this.#state = 'retrying';
      this.#nextAt = Date.now() + delay;
      this.#log.warn(
        { server: this.server, attempt: this.#attempts, err: this.#lastError, retryInMs: delay },
        'the Kubernetes API server cannot be used yet; will retry (the REST API keeps serving)',
      );
      this.#retry = setTimeout(() => void this.#attempt(), delay);
      this.#retry.unref();
      return;
    } finally {
      this.#starting = undefined;
    }
    if (this.#stopped) {
      await rec.stop();
      return;
    }
    this.#state = 'running';
    this.#connected = true;
    this.#lastError = null;
    this.#failures = 0;
    this.#since = Date.now();
    this.#log.info({ server: this.server, attempts: this.#attempts }, 'kubernetes reconciler running (CRDs installed, watches up)');
    this.#probe = setInterval(() => void this.#checkConnection(), this.#o.probeMs ?? 10_000);
    this.#probe.unref();
  }

  /** Asks the API server for its version; logs when the answer changes from yes to no or back. */
  async #checkConnection(): Promise<void> {
    let ok = false;
    let why = '';
    try {
      const r = await rawRequest(this.#o.kube.kubeConfig, 'GET', '/version', undefined, undefined, 5000);
      ok = r.status === 200;
      if (!ok) why = `GET /version answered ${r.status}`;
    } catch (err) {
      why = (err as Error).message;
    }
    if (this.#stopped || this.#state !== 'running') return;
    if (ok !== this.#connected) {
      if (ok) this.#log.info({ server: this.server }, 'the Kubernetes API server answers again');
      else this.#log.warn({ server: this.server, err: why }, 'the Kubernetes API server does not answer; the watches keep retrying');
    }
    this.#connected = ok;
    this.#lastError = ok ? null : why;
  }

  /** Stops the reconciler (or the pending attempt); the objects on the nodes stay as they are. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#probe);
    this.#nextAt = null;
    const rec = this.#rec;
    await rec?.stop();
    const starting = this.#starting;
    if (starting && rec) {
      // An attempt in flight may still start informers: stop them once it settles, however late.
      const settled = starting.then(
        () => rec.stop(),
        () => undefined,
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#state = 'stopped';
    this.#connected = false;
    this.#log.info({ server: this.server }, 'kubernetes reconciler stopped');
  }

  /** What `GET /api/v1/kubernetes` and the gauges show. */
  status(): KubernetesStatus {
    const rec = this.#state === 'running' ? this.#rec : undefined;
    return {
      enabled: true,
      state: this.#state,
      source: this.#o.kube.source,
      server: this.server || null,
      connected: this.#connected,
      synced: rec?.synced ?? false,
      queueDepth: rec?.queued ?? 0,
      attempts: this.#attempts,
      lastError: this.#lastError,
      nextAttemptAt: this.#nextAt === null ? null : iso(this.#nextAt),
      runningSince: this.#since === null ? null : iso(this.#since),
    };
  }
}
