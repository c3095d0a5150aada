/**
 * Edge watching for inputs whose spec asks for it (`edge: rising | falling | both`).
 *
 * - The edges come from an {@link EdgeSource}: on a Pi the kernel's GPIO character device (uAPI
 *   v2 line requests with edge detection, kernel timestamps), elsewhere or off-Pi the timing
 *   thread's polled edges over the GPIO level register ({@link engineEdgeSource}; with `--sim`
 *   that is the register page file of the behavioural model).
 * - Edges are aggregated per pin: how many since the last report, the level after the last one,
 *   and when it came. A report goes out at most every `minIntervalMs` (default 100 ms, so at
 *   most 10 reports a second per agent, each carrying counts), however fast the input toggles:
 *   a 10 kHz input costs the link 10 small messages a second, not 20000.
 * - A report that could not be sent (link down) is kept and merged into the next one, so the
 *   counts the control plane adds up are not lost while the link is away.
 */
import { existsSync } from 'node:fs';
import type { DesiredItem } from '../src/api/agent.js';
import { CdevChip, type LineRequest } from '../src/hw/gpiochip.js';
import type { EdgeEvent, TimingEngine } from '../src/hw/index.js';

export type WatchedEdge = 'rising' | 'falling' | 'both';

/** One input to watch. */
export interface EdgeWatch {
  pin: number;
  edge: WatchedEdge;
  debounceUs: number;
}

/** Delivers edges of the watched pins in order; `lost` counts events the source dropped before them. */
export type EdgeSink = (events: readonly EdgeEvent[], lost: number) => void;

/** Where edges come from. `watch` replaces any previous watch and returns a function that ends it. */
export interface EdgeSource {
  watch(pins: readonly EdgeWatch[], sink: EdgeSink): () => void;
  close(): void;
}

/** What one report says about one pin (counts since the previous report). */
export interface EdgeCount {
  pin: number;
  /** The desired object that watches the pin. */
  name: string;
  count: number;
  /** Level after the last edge. */
  level: 0 | 1;
  /** Wall-clock time of the last edge (ISO 8601). */
  lastEdgeAt: string;
}

export interface EdgeReport {
  items: EdgeCount[];
  /** Events the source dropped since the previous report (its queue overflowed). */
  lost: number;
}

export interface EdgeWatcherOptions {
  source: EdgeSource;
  /** Sends a report; returns false when it could not be sent (kept for the next one). */
  send: (r: EdgeReport) => boolean;
  /** Least time between two reports, ms (default 100). */
  minIntervalMs?: number;
}

interface PinState {
  name: string;
  edge: WatchedEdge;
  count: number;
  level: 0 | 1;
  lastNs: bigint;
}

/**
 * The timing thread's polled edges as a source. One watch covers every pin with the smallest
 * debounce any of them asks for; which edges a pin wants is filtered per pin by the watcher.
 * `pollUs` is the poll period: a level that lasts less than it (plus the thread's wake-up
 * delay) can be missed, so a 10 kHz input needs a poll well under 50 us.
 */
export function engineEdgeSource(
  engine: TimingEngine,
  opts: { pollUs?: number; busyPoll?: boolean; closeEngine?: boolean } = {},
): EdgeSource {
  return {
    watch(pins, sink) {
      if (pins.length === 0) return () => {};
      const debounceUs = Math.min(...pins.map((p) => p.debounceUs));
      return engine.watchEdges(
        pins.map((p) => p.pin),
        { edge: 'both', debounceUs, pollUs: opts.pollUs ?? 500, busyPoll: opts.busyPoll ?? false },
        sink,
      );
    },
    close() {
      if (opts.closeEngine ?? true) engine.close();
    },
  };
}

/**
 * The kernel's GPIO character device as a source: one line request per pin (each with its own
 * edge and debounce), events timestamped by the kernel. Lines are requested as inputs with the
 * bias left as it is, so the pull the agent set through the registers stays.
 */
export function kernelEdgeSource(chipPath = '/dev/gpiochip0'): EdgeSource {
  let chip: CdevChip | undefined;
  return {
    watch(pins, sink) {
      chip ??= CdevChip.open(chipPath);
      const reqs: LineRequest[] = [];
      try {
        for (const p of pins) {
          const r = chip.request({
            lines: [p.pin],
            consumer: 'pi-controller-agent',
            direction: 'in',
            edge: p.edge,
            debounceUs: p.debounceUs,
          });
          reqs.push(r);
          r.watch(
            (e) => sink([e], 0),
            (o) => sink([], o.lost),
          );
        }
      } catch (err) {
        for (const r of reqs) r.close();
        throw err;
      }
      return () => {
        for (const r of reqs) r.close();
      };
    },
    close() {
      chip?.close();
      chip = undefined;
    },
  };
}

/** Whether this machine has a kernel GPIO character device (a Pi, or a kernel with gpio-sim). */
export function hasKernelGpio(chipPath = '/dev/gpiochip0'): boolean {
  return existsSync(chipPath);
}

/** The inputs of a desired snapshot that ask for edge events. */
export function edgeWatches(items: readonly DesiredItem[]): (EdgeWatch & { name: string })[] {
  const out: (EdgeWatch & { name: string })[] = [];
  for (const it of items) {
    if (it.kind !== 'gpio') continue;
    const s = it.spec;
    if (s.mode !== 'input' || !s.edge || s.edge === 'none') continue;
    out.push({ pin: s.pin, edge: s.edge, debounceUs: s.debounceMicros ?? 0, name: it.name });
  }
  return out.sort((a, b) => a.pin - b.pin);
}

/** See the module comment. */
export class EdgeWatcher {
  readonly #o: EdgeWatcherOptions;
  readonly #min: number;
  readonly #pins = new Map<number, PinState>();
  #key = '';
  #stop: (() => void) | undefined;
  #lost = 0;
  #dirty = false;
  #lastReport = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Mono ns minus wall ms * 1e6 at start: turns event timestamps (CLOCK_MONOTONIC) into wall time. */
  readonly #monoToWallNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  /** Counters for tests and health: edges seen (after the per-pin filter), reports sent. */
  readonly stats = { edges: 0, reports: 0, lost: 0 };

  constructor(opts: EdgeWatcherOptions) {
    this.#o = opts;
    this.#min = opts.minIntervalMs ?? 100;
  }

  /** Whether `pin` is watched (its level changes are reported as edges, not sampled). */
  covers(pin: number): boolean {
    return this.#pins.has(pin);
  }

  /**
   * Watches the inputs of a desired snapshot that ask for edges; restarts the source only when
   * that set changes. Counts not yet reported for a pin that stays are kept.
   */
  update(items: readonly DesiredItem[]): void {
    const want = edgeWatches(items);
    const key = JSON.stringify(want);
    if (key === this.#key) return;
    this.#key = key;
    this.#stop?.();
    this.#stop = undefined;
    const old = new Map(this.#pins);
    this.#pins.clear();
    for (const w of want) {
      const prev = old.get(w.pin);
      this.#pins.set(
        w.pin,
        prev && prev.name === w.name ? { ...prev, edge: w.edge } : { name: w.name, edge: w.edge, count: 0, level: 0, lastNs: 0n },
      );
    }
    if (want.length) this.#stop = this.#o.source.watch(want, (events, lost) => this.#onEdges(events, lost));
  }

  #onEdges(events: readonly EdgeEvent[], lost: number): void {
    this.#lost += lost;
    this.stats.lost += lost;
    for (const e of events) {
      const p = this.#pins.get(e.offset);
      if (!p || (p.edge !== 'both' && p.edge !== e.edge)) continue;
      p.count++;
      p.level = e.edge === 'rising' ? 1 : 0;
      p.lastNs = e.timestampNs;
      this.stats.edges++;
      this.#dirty = true;
    }
    if (this.#dirty || this.#lost) this.#schedule();
  }

  /** Reports now if the last report is old enough, else once it is (one timer at a time). */
  #schedule(): void {
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastReport + this.#min - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, wait);
  }

  /** Sends what was counted since the last report (nothing when there is nothing new). */
  flush(): void {
    if (!this.#dirty && !this.#lost) return;
    const items: EdgeCount[] = [];
    for (const [pin, p] of this.#pins) {
      if (p.count === 0) continue;
      const wallMs = Number((p.lastNs + this.#monoToWallNs) / 1_000_000n);
      items.push({ pin, name: p.name, count: p.count, level: p.level, lastEdgeAt: new Date(wallMs).toISOString() });
    }
    this.#lastReport = Date.now();
    if (!this.#o.send({ items, lost: this.#lost })) return; // kept: merged into the next report
    this.stats.reports++;
    for (const p of this.#pins.values()) p.count = 0;
    this.#lost = 0;
    this.#dirty = false;
  }

  /** Stops watching (the source stays open: whoever made it closes it); `update` starts again. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stop?.();
    this.#stop = undefined;
    this.#key = '';
    this.#pins.clear();
  }
}
