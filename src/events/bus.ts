/**
 * The typed, in-process event bus. Listeners are registered under an owner (a component
 * name) so a component can remove all of its listeners at once when it stops. Emitting is
 * synchronous; a listener that throws is logged and does not stop the others.
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
  log?: Logger;
}

export class EventBus {
  readonly #byType = new Map<EventType, Map<string, Set<AnyListener>>>();
  readonly #any = new Map<string, Set<AnyListener>>();
  readonly #record: NonNullable<EventBusOptions['record']>;
  readonly #log: Logger | undefined;
  #seq = 0;

  constructor(opts: EventBusOptions = {}) {
    this.#log = opts.log;
    this.#record = opts.record ?? (<K extends EventType>(type: K, data: EventMap[K]) => ({ seq: ++this.#seq, at: new Date().toISOString(), type, data }));
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

  /** Records and delivers one event; returns its envelope. */
  emit<K extends EventType>(type: K, data: EventMap[K]): EventEnvelope<K> {
    const env = this.#record(type, data);
    const deliver = (fn: AnyListener, owner: string) => {
      try {
        fn(env as EventEnvelope);
      } catch (err) {
        this.#log?.error({ err, owner, type }, 'event listener failed');
      }
    };
    for (const [owner, set] of this.#byType.get(type) ?? []) for (const fn of set) deliver(fn, owner);
    for (const [owner, set] of this.#any) for (const fn of set) deliver(fn, owner);
    return env;
  }
}

/** Matches an event type against filters like `node.*`, `job.updated` or `*`. */
export function matchesFilter(type: string, filters: readonly string[]): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))));
}
