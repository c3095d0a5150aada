/**
 * Kubernetes Events (core/v1, which every API server from 1.20 on serves) on our custom
 * resources, so `kubectl describe` shows a history: applied, refused with its reason, agent
 * offline. The reconciler records one when an object's Ready reason changes (see
 * reconciler.ts), never per status write, so a burst of spec changes that all end Applied makes
 * no events at all.
 *
 * As client-go's recorder does, an event that repeats the object's last one (same type, reason
 * and message) is folded into it (`count` + 1, `lastTimestamp`) instead of creating another,
 * and each object has a token bucket (default: 10 at once, then one a minute): what is over it
 * is dropped and logged at debug. Requests are sent in the background; a failed one is logged
 * and never fails a reconcile.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { rawRequest } from './raw.js';

export type EventType = 'Normal' | 'Warning';

/** The object an event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  /** Events an object may have at once (default 10). */
  burst?: number;
  /** One more allowed per this many ms (default 60 000). */
  refillMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** What the recorder keeps per object: its bucket and its last event (to fold repeats into). */
interface PerObject {
  bucket: TokenBucket;
  last: { key: string; name: string; count: number; first: string } | null;
}

const COMPONENT = 'pi-controller';
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** A token bucket: `take()` is true while tokens last; one comes back every `refillMs`. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly burst: number,
    readonly refillMs: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }
  take(now: number): boolean {
    const back = Math.floor((now - this.#at) / this.refillMs);
    if (back > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + back);
      this.#at = this.#tokens === this.burst ? now : this.#at + back * this.refillMs;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }
}

/** See the module comment. */
export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #objects = new Map<string, PerObject>();
  readonly #instance = hostname();
  /** Requests in flight (tests wait for them). */
  readonly #inflight = new Set<Promise<void>>();
  /** Events dropped by the rate limit. */
  dropped = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
  }

  /** Records an event on `target` (in the background). */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const now = (this.#o.now ?? Date.now)();
    const id = target.uid || `${target.kind}/${target.namespace}/${target.name}`;
    let o = this.#objects.get(id);
    if (!o) {
      o = { last: null, bucket: new TokenBucket(this.#o.burst ?? 10, this.#o.refillMs ?? 60_000, now) };
      this.#objects.set(id, o);
    }
    if (!o.bucket.take(now)) {
      this.dropped++;
      this.#o.log.debug({ kind: target.kind, name: target.name, reason }, 'event dropped (rate limit)');
      return;
    }
    const key = `${type}|${reason}|${message}`;
    const p = this.#send(target, o, key, type, reason, message, now).catch((err: unknown) =>
      this.#o.log.debug({ err: (err as Error).message, kind: target.kind, name: target.name, reason }, 'event not recorded'),
    );
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p));
  }

  /** Forgets an object (deleted). */
  forget(uid: string): void {
    this.#objects.delete(uid);
  }

  /** Resolves when no request is in flight. */
  async flush(): Promise<void> {
    while (this.#inflight.size) await Promise.all([...this.#inflight]);
  }

  async #send(
    target: EventTarget,
    o: PerObject,
    key: string,
    type: EventType,
    reason: string,
    message: string,
    now: number,
  ): Promise<void> {
    const kc = this.#o.kubeConfig;
    const base = `/api/v1/namespaces/${target.namespace}/events`;
    const last = o.last;
    if (last?.key === key) {
      // The same as the object's last event: counted into it.
      last.count++;
      const r = await rawRequest(
        kc,
        'PATCH',
        `${base}/${last.name}`,
        { count: last.count, lastTimestamp: iso(now) },
        'application/merge-patch+json',
      );
      if (r.status === 200) return;
      if (r.status !== 404) throw new Error(`PATCH event ${last.name}: ${r.status}`);
      // Expired (events live an hour by default): a new one below.
    }
    const name = `${target.name}.${randomBytes(8).toString('hex')}`;
    o.last = { key, name, count: 1, first: iso(now) };
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: target.namespace },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name, uid: target.uid },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.#instance,
      firstTimestamp: iso(now),
      lastTimestamp: iso(now),
      count: 1,
    };
    const r = await rawRequest(kc, 'POST', base, body);
    if (r.status !== 201) throw new Error(`POST event: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }
}
