/**
 * The custom-resource reconciler for one Kubernetes cluster.
 *
 * - Installs (or upgrades) the three CRDs and waits until they are established.
 * - Watches GPIOPin, PWMController and I2CDevice in every namespace with informers; a dropped
 *   watch is restarted with a fresh list, and every object is looked at again each `resyncMs`.
 * - Works on a queue keyed by `kind/namespace/name`, one item in flight per key. An object whose
 *   `status.observedGeneration` equals its `metadata.generation` and that this process already
 *   applied is not applied again; its status is still kept current.
 * - Validates the spec in code again (see validate.ts), then writes the desired state into the
 *   store (the same `hw_desired` rows the REST API writes) and publishes `hw.changed`, so the
 *   agent link sends it to the node's agent exactly as for a REST change.
 * - Writes `status` (phase, Ready condition with a reason, observedGeneration, what the hardware
 *   did) through the status subresource, retrying on a resourceVersion conflict.
 * - Holds each object with a finalizer until its pin, PWM channel or bus address is released.
 *
 * Reasons on Ready=False: InvalidSpec, NodeNotFound, PinBusy (another object holds the pin or
 * bus address; the holder keeps working), AgentOffline (the desired state is stored and applied
 * when the agent returns), Applying, and whatever the agent reported (HardwareError, ...).
 *
 * A store object made for a custom resource is named `k8s-<namespace>-<name>-<hash>` (see
 * {@link hwNameFor}: the hash of `namespace/name` makes the name injective). After the first
 * full list, objects stored under the older, non-injective names are renamed (see
 * desired.ts), then store objects with the `k8s-` prefix and no custom resource are
 * removed, so a change made while the control plane was down is not left behind.
 *
 * This file holds the control loop (informers, queue, per-key decisions). Its parts: the
 * status computed by a pure function (status.ts), writes to the API server and finalizers
 * (kube-writes.ts), the desired state in the store (desired.ts), one transaction per event-loop
 * turn (batch.ts), and when report-only changes are written (throttle.ts).
 */
import type { Logger } from 'pino';
import type { KubeConfig } from '@kubernetes/client-node';
import { ConflictError, type Problem } from '../api/errors.js';
import { HW_KINDS, type HwKind, type HwSpecs } from '../api/hardware.js';
import { Validator } from '../api/validate.js';
import type { EventBus } from '../events/bus.js';
import type { AgentPresence } from '../core/ports.js';
import type { Store } from '../store/index.js';
import { canonicalJson } from '../store/hardware.js';
import { API_VERSION, FINALIZER, GROUP, KINDS, VERSION, droppedFields, type Condition } from './crds.js';
import { TxBatcher } from './batch.js';
import { DesiredState } from './desired.js';
import { KubeWriter, installCrds } from './kube-writes.js';
import { hwNameFor } from './names.js';
import { registerNodes, rememberPiModel, rememberSoc, type NodeScope, type PiHealthOptions } from './nodes.js';
import { KeyedQueue } from './queue.js';
import { EventRecorder } from './events.js';
import { comparable, statusFor, type HwResource, type Outcome } from './status.js';
import { ReportThrottle } from './throttle.js';
import { WatchCache } from './watch.js';
import { checkOnNode, checkSpec, describeProblems } from './validate.js';

export { hwNameFor, legacyHwNameFor } from './names.js';
export { installCrds } from './kube-writes.js';
export type { HwResource } from './status.js';

export interface ClusterReconcilerOptions {
  kubeConfig: KubeConfig;
  store: Store;
  bus: EventBus;
  /** The agent link (connectivity); without one every object stays AgentOffline. */
  agents: AgentPresence | undefined;
  log: Logger;
  /** Objects worked on at once (default 16). */
  concurrency?: number;
  /** Every object is queued again this often (default 5 min). */
  resyncMs?: number;
  /**
   * How often the store is checked for what the agents applied (default 250 ms). A stored report
   * (`hw.applied`) queues the status write at once; the poll catches anything else and writes
   * Pending once a report is late.
   */
  statusPollMs?: number;
  /** Least time between two status writes of one object caused only by readings or edges (default 1000 ms). */
  minReportIntervalMs?: number;
  /** Install or upgrade the CRDs on start (default true). */
  installCrds?: boolean;
  /** Record Kubernetes Events on the objects (default true); see events.ts. */
  events?: boolean;
  /** Create or label a Node object per stored node (default true); see nodes.ts. */
  registerNodes?: boolean;
  /** Pi health conditions and taints on the Node objects (see nodes.ts). */
  piHealth?: PiHealthOptions;
  /**
   * Which stored nodes belong in this cluster, asked once per registration pass (default: every
   * one is written). A control plane with several clusters writes each node only into its own.
   */
  nodeScope?: () => NodeScope;
  /**
   * How often the Node objects with no kubelet get their conditions and heartbeat written again
   * (default 20 s: under the node lifecycle controller's 40 s grace period).
   */
  nodeHeartbeatMs?: number;
  /**
   * Called at each step of a key's way through (benchmarks time the stages): `watch` (the watch
   * event arrived), `stored` (the desired state is in the store and sent on), `status` (a status
   * write was accepted).
   */
  trace?: (stage: 'watch' | 'stored' | 'status', key: string) => void;
}

/** What the last reconcile decided for one key. */
interface Entry {
  hw: HwKind;
  namespace: string;
  name: string;
  /** Store object (when the spec was stored on a node). */
  nodeId: string | null;
  hwName: string;
  /** Generation this process applied (stored or refused); 0 when none. */
  handled: number;
  outcome: Outcome | null;
  /** JSON of the status last written, and the resourceVersion of the object that write replaced. */
  written: string;
  writtenOver: string;
  writtenAt: number;
  edges: number;
  lastEdge: string | null;
  /** The Ready reason the last event was about (the object's own when first seen). */
  eventReason: string;
}

interface Req {
  /** Apply the spec (false: only bring the status up to date). */
  apply: boolean;
}

const key = (hw: HwKind, ns: string, name: string) => `${hw}/${ns}/${name}`;
/** Key of the store-name index: a GPIOPin and an I2CDevice may share a name. */
const byName = (hw: HwKind, hwName: string) => (hw === 'gpio' ? hwName : `${hw}:${hwName}`);

function apiStatus(err: unknown): number {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : 0;
}

/** See the module comment. */
let instances = 0;

export class ClusterReconciler {
  readonly #o: ClusterReconcilerOptions;
  /** Its own listener owners on the bus: several clusters' reconcilers share one bus, and stop() removes only its own. */
  readonly #owner = `cluster-reconciler-${++instances}`;
  readonly #nodesOwner = `${this.#owner}-nodes`;
  readonly #log: Logger;
  readonly #v = new Validator();
  readonly #queue: KeyedQueue<Req>;
  readonly #entries = new Map<string, Entry>();
  /** When statuses changed only by the agents' reports are written (see throttle.ts). */
  readonly #throttle: ReportThrottle;
  /** Status writes and finalizers (see kube-writes.ts). */
  readonly #kube: KubeWriter;
  /** Desired-state writes of one event-loop turn in one transaction (see batch.ts). */
  readonly #batch: TxBatcher;
  /** The desired state in the store (see desired.ts). */
  readonly #desired: DesiredState;
  readonly #informers = new Map<HwKind, WatchCache<HwResource>>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #retries = new Map<string, number>();
  /** Store object name (gpio, i2c) to key, for the agent's level-change and readings reports. */
  readonly #byHwName = new Map<string, string>();
  readonly #events: EventRecorder | undefined;
  #stopped = false;
  #synced = false;
  /** Keys seen before the first full list of every kind was done (queued once it is, see start). */
  readonly #early = new Set<string>();

  constructor(opts: ClusterReconcilerOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.#events = (opts.events ?? true) ? new EventRecorder({ kubeConfig: opts.kubeConfig, log: opts.log }) : undefined;
    this.#throttle = new ReportThrottle(opts.minReportIntervalMs ?? 1000);
    this.#kube = new KubeWriter(opts.kubeConfig, opts.log);
    this.#batch = new TxBatcher(opts.store);
    this.#desired = new DesiredState({ store: opts.store, bus: opts.bus, log: opts.log, validator: this.#v });
    this.#queue = new KeyedQueue<Req>(
      (k, r) => this.#run(k, r),
      (a, b) => ({ apply: a.apply || b.apply }),
      opts.concurrency ?? 16,
      (k, err) => this.#log.error({ key: k, err }, 'reconcile crashed'),
    );
  }

  /** Installs the CRDs (unless told not to), starts the informers and the status pump. */
  async start(): Promise<void> {
    if (this.#o.installCrds ?? true) await installCrds(this.#o.kubeConfig, this.#log);
    const bus = this.#o.bus;
    bus.on(this.#owner, 'agent.connected', (e) => {
      // The SoC from the agent's hello becomes the node's soc label when it has none (checked
      // against before anything is stored, and shown as pi-controller.io/soc on the Node).
      rememberSoc(this.#o.store, bus, e.data.nodeId, e.data.soc, this.#log);
      // Likewise the board model the agent detected: pi-controller.io/pi-model (none from a simulated agent).
      rememberPiModel(this.#o.store, bus, e.data.nodeId, e.data.model, this.#log);
      this.#touchNode(e.data.nodeId);
    });
    bus.on(this.#owner, 'agent.disconnected', (e) => this.#touchNode(e.data.nodeId));
    bus.on(this.#owner, 'node.created', () => this.#retryWaiting('NodeNotFound'));
    // The agent's report is stored: its status is written now, not at the next poll.
    bus.on(this.#owner, 'hw.applied', (e) => this.#onApplied(e.data.nodeId, e.data.kind, e.data.name));
    bus.on(this.#owner, 'node.deleted', () => this.#requeueAll(true));
    // A released pin or bus address may be what a PinBusy object was waiting for.
    // New readings: folded into status at most once per minReportIntervalMs (see #pollStatus).
    bus.on(this.#owner, 'i2c.reading', (e) => this.#onReport(e.data.nodeId, e.data.name, 'i2c'));
    bus.on(this.#owner, 'hw.changed', (e) => {
      if (e.data.deleted) this.#retryWaiting('PinBusy');
    });
    // Only counted edges (a gpio.changed carrying `edges`, from an input with `edge` set) go into
    // edgeCount: an output's level change, or an unwatched input's, is not an edge.
    bus.on(this.#owner, 'gpio.changed', (e) => {
      if (e.data.edges !== undefined) this.#onEdge(e.data.nodeId, e.data.name, e.data.lastEdgeAt ?? e.at, e.data.edges);
    });
    if (this.#o.registerNodes ?? true) {
      await this.#registerNodes();
      const later = () => this.#registerSoon();
      bus.on(this.#nodesOwner, 'node.created', later);
      bus.on(this.#nodesOwner, 'node.updated', later);
      bus.on(this.#nodesOwner, 'agent.connected', later);
      bus.on(this.#nodesOwner, 'agent.disconnected', later);
      const beat = setInterval(later, this.#o.nodeHeartbeatMs ?? 20_000);
      beat.unref();
      this.#timers.push(beat);
    }
    for (const hw of HW_KINDS) await this.#startInformer(hw);
    // Objects stored under the old names are renamed before any key is worked on, then what
    // no custom resource owns is released; only then do the keys the lists queued run.
    const owned = () => [...this.#informers].flatMap(([hw, inf]) => inf.list().map((obj) => ({ hw, obj })));
    this.#desired.migrateNames(owned());
    this.#desired.sweep(owned());
    this.#synced = true;
    for (const k of this.#early) this.#queue.add(k, { apply: true });
    this.#early.clear();
    const poll = setInterval(() => this.#pollStatus(), this.#o.statusPollMs ?? 250);
    const resync = setInterval(() => this.#requeueAll(false), this.#o.resyncMs ?? 300_000);
    poll.unref();
    resync.unref();
    this.#timers.push(poll, resync);
  }

  /** Stops the informers, timers and queue (the objects on the nodes stay as they are). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#o.bus.removeOwner(this.#owner);
    this.#o.bus.removeOwner(this.#nodesOwner);
    clearTimeout(this.#nodeTimer);
    this.#queue.stop();
    for (const inf of this.#informers.values()) inf.stop();
  }

  /** Resolves when the queue is empty (tests and benchmarks). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Number of keys queued or running. */
  get queued(): number {
    return this.#queue.size;
  }

  async #startInformer(hw: HwKind): Promise<void> {
    const inf = new WatchCache<HwResource>({
      kubeConfig: this.#o.kubeConfig,
      path: `/apis/${GROUP}/${VERSION}/${KINDS[hw].plural}`,
      log: this.#log,
      onChange: (type, obj) => {
        this.#log.trace({ kind: KINDS[hw].kind, type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion }, 'watch event');
        const k = key(hw, obj.metadata?.namespace ?? 'default', obj.metadata?.name ?? '');
        this.#o.trace?.('watch', k);
        if (this.#synced) this.#queue.add(k, { apply: true });
        else this.#early.add(k);
      },
    });
    this.#informers.set(hw, inf);
    await inf.start();
  }

  /** The watch cache of a kind (tests drop its watch to check the relist). */
  watchOf(hw: HwKind): WatchCache<HwResource> | undefined {
    return this.#informers.get(hw);
  }

  #nodeTimer: NodeJS.Timeout | undefined;

  /** Node registration, at most once per 200 ms however many node events arrive. */
  #registerSoon(): void {
    if (this.#nodeTimer || this.#stopped) return;
    this.#nodeTimer = setTimeout(() => {
      this.#nodeTimer = undefined;
      void this.#registerNodes();
    }, 200);
    this.#nodeTimer.unref();
  }

  async #registerNodes(): Promise<void> {
    try {
      await registerNodes(this.#o.kubeConfig, this.#o.store, this.#o.agents, this.#log, this.#o.piHealth, this.#o.nodeScope?.());
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'node registration failed; will retry on the next node event');
    }
  }

  #requeueAll(apply: boolean): void {
    for (const [hw, inf] of this.#informers)
      for (const o of inf.list()) this.#queue.add(key(hw, o.metadata?.namespace ?? 'default', o.metadata?.name ?? ''), { apply });
  }

  #retryWaiting(reason: string): void {
    for (const [k, e] of this.#entries) {
      if (e.outcome?.reason !== reason) continue;
      e.handled = 0; // not a new generation, but a new chance: apply again
      this.#queue.add(k, { apply: true });
    }
  }

  #touchNode(nodeId: string): void {
    for (const [k, e] of this.#entries) if (e.nodeId === nodeId) this.#queue.add(k, { apply: false });
  }

  /** Counts level changes the agent reported for one of our objects (found by its store name); `n` edges at once for a watched input. */
  #onEdge(nodeId: string, name: string | null, at: string, n: number): void {
    const k = name ? this.#byHwName.get(name) : undefined;
    const e = k ? this.#entries.get(k) : undefined;
    if (!k || !e || e.nodeId !== nodeId || e.hw !== 'gpio') return;
    e.edges += n;
    e.lastEdge = at;
    this.#throttle.report(k);
  }

  /** Marks an object (found by its store name) for a rate-limited status refresh. */
  #onReport(nodeId: string, name: string, hw: HwKind): void {
    const k = this.#byHwName.get(byName(hw, name));
    const e = k ? this.#entries.get(k) : undefined;
    if (k && e && e.nodeId === nodeId && e.hw === hw) this.#throttle.report(k);
  }

  /** Queues the status write of the object waiting for this report (the poll stays as a fallback). */
  #onApplied(nodeId: string, hw: HwKind, hwName: string): void {
    const k = this.#throttle.takeAwaiting((k) => {
      const e = this.#entries.get(k);
      return e?.nodeId === nodeId && e.hw === hw && e.hwName === hwName;
    });
    if (k !== undefined) this.#queue.add(k, { apply: false });
  }

  #get(k: string): HwResource | undefined {
    const [hw, ns, name] = k.split('/') as [HwKind, string, string];
    return this.#informers.get(hw)?.get(ns, name);
  }

  /** Pushes reports from the agents into statuses: new applied state, and rate-limited readings/edges. */
  #pollStatus(): void {
    const due = this.#throttle.poll(
      (k) => {
        const e = this.#entries.get(k);
        if (!e?.nodeId) return 'gone';
        const obj = this.#desired.find(e.nodeId, e.hw, e.hwName);
        return !obj || (obj.status.observedGeneration === obj.generation && obj.status.phase !== 'Pending') ? 'reported' : 'waiting';
      },
      (k) => this.#entries.get(k)?.writtenAt,
    );
    for (const k of due) this.#queue.add(k, { apply: false });
  }

  async #run(k: string, req: Req): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#reconcile(k, req);
      this.#log.debug({ key: k }, 'reconciled');
      this.#retries.delete(k);
    } catch (err) {
      if (this.#stopped) return;
      const n = (this.#retries.get(k) ?? 0) + 1;
      this.#retries.set(k, n);
      const delay = Math.min(50 * 2 ** n, 10_000);
      this.#log.warn({ key: k, err: (err as Error).message, status: apiStatus(err), retryInMs: delay }, 'reconcile failed; will retry');
      const t = setTimeout(() => this.#queue.add(k, { apply: true }), delay);
      t.unref();
    }
  }

  async #reconcile(k: string, req: Req): Promise<void> {
    const [hw, namespace, name] = k.split('/') as [HwKind, string, string];
    const obj = this.#get(k);
    let e = this.#entries.get(k);
    this.#log.debug(
      { key: k, apply: req.apply, generation: obj?.metadata?.generation, deleting: Boolean(obj?.metadata?.deletionTimestamp) },
      'reconcile',
    );
    if (!obj) {
      // Gone (our finalizer was already removed): make sure nothing stays claimed.
      if (e?.nodeId) this.#desired.release(e.nodeId, hw, e.hwName);
      this.#entries.delete(k);
      this.#byHwName.delete(byName(hw, hwNameFor(namespace, name)));
      this.#throttle.forget(k);
      return;
    }
    if (!e) {
      e = {
        hw,
        namespace,
        name,
        // Where this object's last stored state is (after a restart too): a spec refused later
        // leaves it there, and a move to another node releases it.
        nodeId: this.#o.store.hardware.findByName(hw, hwNameFor(namespace, name))[0]?.nodeId ?? null,
        hwName: hwNameFor(namespace, name),
        handled: 0,
        outcome: null,
        written: '',
        writtenOver: '',
        writtenAt: 0,
        edges: 0,
        lastEdge: null,
        eventReason: (obj.status?.conditions ?? []).find((c) => c.type === 'Ready')?.reason ?? '',
      };
      this.#entries.set(k, e);
      if (hw === 'gpio' || hw === 'i2c') this.#byHwName.set(byName(hw, e.hwName), k);
    }
    if (obj.metadata?.deletionTimestamp) {
      if (e.nodeId) this.#desired.release(e.nodeId, hw, e.hwName);
      else this.#desired.releaseEverywhere(hw, e.hwName);
      e.nodeId = null;
      await this.#kube.dropFinalizer(hw, obj);
      this.#events?.forget(obj.metadata?.uid ?? '');
      this.#entries.delete(k);
      this.#byHwName.delete(byName(hw, e.hwName));
      this.#throttle.forget(k);
      return;
    }
    if (!(obj.metadata?.finalizers ?? []).includes(FINALIZER)) {
      await this.#kube.addFinalizer(hw, obj);
    }
    const generation = obj.metadata?.generation ?? 1;
    const seen = obj.status?.observedGeneration === generation && e.handled === generation;
    if (req.apply && !seen) await this.#batch.run(() => this.#apply(e!, obj, generation));
    await this.#writeStatus(k, e, hw);
  }

  /** Stores the desired state (or records why not): one savepoint of the batch's transaction. */
  #apply(e: Entry, obj: HwResource, generation: number): void {
    e.handled = generation;
    // Fields kubectl apply sent that the API server dropped (see droppedFields) refuse it too.
    const dropped = droppedFields(e.hw, obj);
    const checked = dropped.length ? { ok: false as const, problems: dropped } : checkSpec(this.#v, e.hw, obj.spec);
    if (!checked.ok) {
      e.outcome = { phase: 'Failed', reason: 'InvalidSpec', message: describeProblems(checked.problems) };
      this.#log.info({ key: `${e.hw}/${e.namespace}/${e.name}`, problems: checked.problems as Problem[] }, 'invalid spec; nothing applied');
      return;
    }
    const { nodeName, spec } = checked.value;
    const store = this.#o.store;
    const node = store.nodes.find(nodeName);
    if (!node) {
      if (e.nodeId) this.#desired.release(e.nodeId, e.hw, e.hwName);
      e.nodeId = null;
      e.outcome = {
        phase: 'Pending',
        reason: 'NodeNotFound',
        message: `no node named ${JSON.stringify(nodeName)} is known to the control plane`,
      };
      return;
    }
    // What the agent would refuse on this node's SoC is refused here, before anything is stored:
    // the last valid state stays stored and applied.
    const refusal = checkOnNode(e.hw, spec, node.labels.soc);
    if (refusal) {
      e.outcome = { phase: 'Failed', ...refusal };
      return;
    }
    try {
      this.#desired.put(node.id, e.nodeId, e.hw, e.hwName, spec as HwSpecs[typeof e.hw]);
      e.nodeId = node.id;
      e.outcome = null;
      this.#throttle.sent(`${e.hw}/${e.namespace}/${e.name}`);
      this.#o.trace?.('stored', `${e.hw}/${e.namespace}/${e.name}`);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const holder = (err.details?.holder ?? null) as { kind: string; name: string } | null;
      const who = holder ? this.#describeHolder(holder.kind as HwKind, holder.name) : 'another object';
      // The previous state of this object (if any) on another node stays released; on the same node it stays.
      e.outcome = {
        phase: 'Failed',
        reason: 'PinBusy',
        message: `${String(err.details?.claim ?? 'the resource')} on node ${nodeName} is held by ${who}`,
      };
    }
  }

  #describeHolder(hw: HwKind, hwName: string): string {
    for (const e of this.#entries.values()) if (e.hw === hw && e.hwName === hwName) return `${KINDS[e.hw].kind} ${e.namespace}/${e.name}`;
    return `${hw}/${hwName} (set through the REST API)`;
  }

  /** The status an object should have now (see status.ts). */
  #statusOf(e: Entry, obj: HwResource): Record<string, unknown> {
    return statusFor({
      hw: e.hw,
      obj,
      outcome: e.outcome,
      stored: !e.outcome && e.nodeId ? this.#desired.find(e.nodeId, e.hw, e.hwName) : undefined,
      connected: e.nodeId ? (this.#o.agents?.status(e.nodeId).connected ?? false) : false,
      edges: e.edges,
      lastEdge: e.lastEdge,
    });
  }

  /** Writes the status through /status when it changed; on a conflict, reads the object again and retries. */
  async #writeStatus(k: string, e: Entry, hw: HwKind): Promise<void> {
    let obj = this.#get(k);
    for (let attempt = 0; obj && attempt < 5; attempt++) {
      const status = this.#statusOf(e, obj);
      // Canonical JSON on both sides: the API server sends the status back with its keys sorted.
      const cmp = comparable(status, canonicalJson);
      const had = obj.status ? comparable(obj.status, canonicalJson) : '';
      // Compared with the status the object has, not with what this process wrote last: a status
      // someone else wrote (a forged Ready=True) is corrected on the next event or resync. The one
      // exception is the cache not having seen our own write yet (same resourceVersion as the
      // object that write replaced): its watch event is on the way.
      if (cmp === had) return;
      // Only readings or edge counts changed, and a status was written moments ago: left to the
      // rate-limited report pass (a watch event of our own write must not bypass the limit).
      if (
        this.#throttle.tooSoon(e.writtenAt) &&
        obj.status &&
        comparable(status, canonicalJson, false) === comparable(obj.status, canonicalJson, false)
      ) {
        this.#throttle.report(k);
        return;
      }
      if (cmp === e.written && e.writtenOver !== '' && obj.metadata?.resourceVersion === e.writtenOver) return;
      // Sent to a connected agent moments ago: its report is about to come; write once, then.
      if (this.#throttle.holdApplying(k, (status.conditions as Condition[])[0]?.reason)) return;
      const w = await this.#kube.putStatus(hw, e.namespace, e.name, obj, status);
      if (w.result === 'written') {
        e.written = cmp;
        e.writtenOver = obj.metadata?.resourceVersion ?? '';
        this.#event(e, obj, status);
        e.writtenAt = Date.now();
        this.#o.trace?.('status', k);
        return;
      }
      if (w.result === 'gone') return;
      // Someone changed the object since we read it: recompute from what it is now.
      obj = w.fresh;
    }
  }

  /**
   * Records an Event when the Ready reason changes: Normal for Applied, Warning for the rest.
   * `Applying` (a change on its way, usually for milliseconds) makes none, so spec changes that
   * end Applied again leave no trace beyond the first.
   */
  #event(e: Entry, obj: HwResource, status: Record<string, unknown>): void {
    const c = (status.conditions as Condition[])[0];
    if (!this.#events || !c || c.reason === 'Applying' || c.reason === e.eventReason) return;
    e.eventReason = c.reason;
    const node = typeof obj.spec?.nodeName === 'string' ? obj.spec.nodeName : '';
    const message = c.reason === 'Applied' ? `generation ${String(status.observedGeneration)} applied on node ${node}` : c.message;
    this.#events.record(
      { apiVersion: API_VERSION, kind: KINDS[e.hw].kind, namespace: e.namespace, name: e.name, uid: obj.metadata?.uid ?? '' },
      c.reason === 'Applied' ? 'Normal' : 'Warning',
      c.reason,
      message,
    );
  }

  /** Resolves when the events recorded so far have been sent (tests). */
  async flushEvents(): Promise<void> {
    await this.#events?.flush();
  }

  /** Whether the first full list of every kind is done. */
  get synced(): boolean {
    return this.#synced;
  }
}
