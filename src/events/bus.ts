/**
 * The typed, in-process event bus. Listeners are registered under an owner (a component
 * name) so a component can remove all of its listeners at once when it stops. Emitting
 * records the event at once; delivery is synchronous too unless a `defer` hook postpones it
 * (the control plane delivers after the emitting transaction commits). A listener that
 * throws is logged and does not stop the others.
 */
import type { Logger } from 'pino';
import type { EventEnvelope, EventMap, EventType } from '../api/events.js';

export type Listener<K extends EventType> = (event: EventEnvelope<K>) => void;
type AnyListener = (event: EventEnvelope) => void;

export interface EventBusOptions {
  /**
   * Assigns the sequence number and timestamp (and persists the event). Defaults to an
   * in-memory counter; the control plane passes the store's event log so numbers survive restarts.
   */
  record?: <K extends EventType>(type: K, data: EventMap[K]) => EventEnvelope<K>;
  /**
   * Decides when a recorded event reaches the listeners: called with the delivery, it may run
   * it now, later, or never (the control plane passes `store.afterCommit`, so listeners never
   * see an event whose transaction rolled back). Default: deliver at once.
   */
  defer?: (deliver: () => void) => void;
  log?: Logger;
}

/** Where a control-plane bus records its events: the store's event log and its commit hook (src/store). */
export interface EventLog {
  events: { append<K extends EventType>(type: K, data: EventMap[K]): EventEnvelope<K> };
  afterCommit(fn: () => void): void;
}

/**
 * The control plane's bus: events are recorded in the store's event log (sequence numbers
 * survive restarts) in the emitting transaction, and reach listeners only once it commits.
 */
export function recordingBus(log: EventLog, logger?: Logger): EventBus {
  return new EventBus({
    record: (type, data) => log.events.append(type, data),
    defer: (deliver) => log.afterCommit(deliver),
    ...(logger ? { log: logger } : {}),
  });
}

export class EventBus {
  readonly #byType = new Map<EventType, Map<string, Set<AnyListener>>>();
  readonly #any = new Map<string, Set<AnyListener>>();
  readonly #record: NonNullable<EventBusOptions['record']>;
  readonly #log: Logger | undefined;
  readonly #defer: EventBusOptions['defer'];
  #seq = 0;

  constructor(opts: EventBusOptions = {}) {
    this.#log = opts.log;
    this.#defer = opts.defer;
    this.#record =
      opts.record ??
      (<K extends EventType>(type: K, data: EventMap[K]) => ({ seq: ++this.#seq, at: new Date().toISOString(), type, data }));
  }

  /** Subscribes `fn` to one event type on behalf of `owner`. Returns a function that unsubscribes. */
  on<K extends EventType>(owner: string, type: K, fn: Listener<K>): () => void {
    let owners = this.#byType.get(type);
    if (!owners) this.#byType.set(type, (owners = new Map()));
    let set = owners.get(owner);
    if (!set) owners.set(owner, (set = new Set()));
    const l = fn as AnyListener;
    set.add(l);
    return () => set.delete(l);
  }

  /** Subscribes `fn` to every event. */
  onAny(owner: string, fn: AnyListener): () => void {
    let set = this.#any.get(owner);
    if (!set) this.#any.set(owner, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Removes every listener registered by `owner`. */
  removeOwner(owner: string): void {
    this.#any.delete(owner);
    for (const owners of this.#byType.values()) owners.delete(owner);
  }

  /** Number of listeners (for tests and metrics). */
  listenerCount(owner?: string): number {
    let n = 0;
    for (const [o, set] of this.#any) if (owner === undefined || o === owner) n += set.size;
    for (const owners of this.#byType.values()) for (const [o, set] of owners) if (owner === undefined || o === owner) n += set.size;
    return n;
  }

  /** Records one event and delivers it (now, or when the `defer` hook says); returns its envelope. */
  emit<K extends EventType>(type: K, data: EventMap[K]): EventEnvelope<K> {
    const env = this.#record(type, data);
    if (this.#defer) this.#defer(() => this.#deliver(env));
    else this.#deliver(env);
    return env;
  }

  /** Hands `env` to the listeners registered at this moment. */
  #deliver(env: EventEnvelope): void {
    const call = (fn: AnyListener, owner: string) => {
      try {
        fn(env);
      } catch (err) {
        this.#log?.error({ err, owner, type: env.type }, 'event listener failed');
      }
    };
    for (const [owner, set] of this.#byType.get(env.type) ?? []) for (const fn of set) call(fn, owner);
    for (const [owner, set] of this.#any) for (const fn of set) call(fn, owner);
  }
}

/** Matches an event type against filters like `node.*`, `job.updated` or `*`. */
export function matchesFilter(type: string, filters: readonly string[]): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))));
}
