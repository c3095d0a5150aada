/**
 * The agents' reports into the store: applied state and level changes of every agent that
 * arrive in one event-loop turn are written in one transaction (one fsync per turn however
 * many agents report), and published on the bus (`hw.applied`, `i2c.reading`, `gpio.changed`)
 * once that transaction commits.
 */
import type { Logger } from 'pino';
import type { AppliedItem, AppliedMsg } from '../api/agent.js';
import type { EventMap } from '../api/events.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import type { Known } from './registry.js';

export class ReportWriter {
  readonly #store: Store;
  readonly #bus: EventBus;
  readonly #log: Logger;
  #pending: { nodeId: string; node: string; item: AppliedItem }[] = [];
  #pendingEvents: EventMap['gpio.changed'][] = [];
  #flushing = false;
  #latency: ((ms: number, node: string) => void) | undefined;

  constructor(opts: { store: Store; bus: EventBus; log: Logger }) {
    this.#store = opts.store;
    this.#bus = opts.bus;
    this.#log = opts.log;
  }

  /** Called with the time from sending a desired snapshot to its applied report (benchmarks). */
  onRoundTrip(fn: (ms: number, node: string) => void): void {
    this.#latency = fn;
  }

  /** An `applied` report: remembered in `k`, and each item that changed queued for the store. */
  applied(nodeId: string, node: string, k: Known, m: AppliedMsg): void {
    const sentAt = k.sent.get(m.seq);
    k.sent.delete(m.seq);
    for (const s of k.sent.keys()) if (s < m.seq) k.sent.delete(s);
    // The report arrives after the agent's register writes: that is the latency measured.
    if (sentAt !== undefined) this.#latency?.(performance.now() - sentAt, node);
    const names = new Set<string>();
    for (const it of m.items) {
      const key = `${it.kind}/${it.name}`;
      names.add(key);
      const prev = k.applied.get(key);
      k.applied.set(key, it);
      // Only a changed report is written: a snapshot of 26 pins with one change writes one row.
      if (!prev || JSON.stringify(prev) !== JSON.stringify(it)) this.#pending.push({ nodeId, node, item: it });
    }
    for (const key of [...k.applied.keys()]) if (!names.has(key)) k.applied.delete(key);
    if (this.#pending.length) this.#scheduleFlush();
  }

  /** Level changes (an `event`, or the counts of an `edges` message): published with the next batch. */
  levelChanges(events: EventMap['gpio.changed'][]): void {
    if (!events.length) return;
    this.#pendingEvents.push(...events);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => this.#flush());
  }

  /** Writes queued status reports of every agent in one transaction (one fsync per event-loop turn). */
  #flush(): void {
    this.#flushing = false;
    const batch = this.#pending.splice(0);
    const events = this.#pendingEvents.splice(0);
    const store = this.#store;
    const bus = this.#bus;
    const at = new Date().toISOString();
    try {
      store.tx(() => {
        for (const { nodeId, node, item: it } of batch) {
          // One row by its key (listing the node's objects for each report made a snapshot of n pins cost n^2).
          let obj;
          try {
            obj = store.hardware.require(nodeId, it.kind, it.name);
          } catch {
            continue; // deleted meanwhile
          }
          if (obj.generation !== it.generation) continue;
          store.hardware.setStatus(obj.id, {
            phase: it.phase,
            reason: it.reason,
            observedGeneration: it.generation,
            ...(it.actual ? { actual: it.actual } : {}),
            updatedAt: at,
          });
          bus.emit('hw.applied', {
            nodeId,
            node,
            kind: it.kind,
            name: it.name,
            generation: it.generation,
            phase: it.phase,
            reason: it.reason,
          });
          const readings = it.kind === 'i2c' && it.phase === 'Applied' ? it.actual?.readings : undefined;
          if (readings && typeof readings === 'object') {
            const readAt = typeof it.actual?.readAt === 'string' ? it.actual.readAt : null;
            bus.emit('i2c.reading', { nodeId, node, name: it.name, readings: readings as Record<string, unknown>, readAt });
          }
        }
        for (const e of events) bus.emit('gpio.changed', e);
      });
    } catch (err) {
      this.#log.error({ err }, 'could not store applied status');
    }
  }
}
