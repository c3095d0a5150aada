/**
 * I2C readings go up as the last `applied` report of the current snapshot sent again, with each
 * polled device's fresh state and readings in place of its earlier report. However often the
 * readings change, such a report goes out at most once every `minIntervalMs` (default 1000 ms).
 */
import type { AppliedItem } from '../src/api/agent.js';

export interface ReadingsReporterOptions {
  /** Least time between two readings reports, ms (default 1000). */
  minIntervalMs?: number;
  /** Whether a report can be sent now (the link is up). */
  connected: () => boolean;
  /** The current report of every polled device (taking it marks them reported). */
  fresh: () => AppliedItem[];
  /** Sends the report. */
  send: (seq: number, items: AppliedItem[]) => void;
}

export class ReadingsReporter {
  readonly #o: ReadingsReporterOptions;
  /** The last applied report, sent again with fresh readings. */
  #report: { seq: number; items: AppliedItem[] } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sentAt = 0;
  #stopped = false;

  constructor(opts: ReadingsReporterOptions) {
    this.#o = opts;
  }

  /** The applied report just sent for snapshot `seq`: the base of the readings reports that follow. */
  applied(seq: number, items: AppliedItem[]): void {
    this.#report = { seq, items };
  }

  /** A readings report soon: at once, or when `minIntervalMs` has passed since the last one. */
  soon(): void {
    if (this.#timer || this.#stopped) return;
    const wait = Math.max(0, this.#sentAt + (this.#o.minIntervalMs ?? 1000) - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sendNow();
    }, wait);
    this.#timer.unref();
  }

  /** Allows reports again after {@link stop}. */
  start(): void {
    this.#stopped = false;
  }

  /** Drops a report still waiting; none is scheduled until {@link start}. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #sendNow(): void {
    const rep = this.#report;
    if (!rep || !this.#o.connected()) return;
    const fresh = new Map(this.#o.fresh().map((it) => [it.name, it]));
    const items = rep.items.map((it) => (it.kind === 'i2c' ? (fresh.get(it.name) ?? it) : it));
    this.#report = { seq: rep.seq, items };
    this.#sentAt = Date.now();
    this.#o.send(rep.seq, items);
  }
}
