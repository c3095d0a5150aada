/**
 * When the reconciler writes a status that only the agents' reports changed. Two rules keep a
 * burst of reports from becoming a burst of writes to the API server:
 *
 * - A change sent to a connected agent is usually reported within milliseconds, so `Applying`
 *   is written only when the report is later than {@link PENDING_GRACE_MS}: one status write per
 *   change instead of two.
 * - New readings and edge counts are folded into status at most once per `minReportIntervalMs`
 *   per object.
 */

/** How long an object may wait for its agent's report before Pending/Applying is written. */
export const PENDING_GRACE_MS = 1000;

export class ReportThrottle {
  /**
   * Keys waiting for their node's agent to report on the stored generation, with when they
   * started waiting (-1 once a Pending status was written).
   */
  readonly #awaiting = new Map<string, number>();
  /** Keys with readings or edges not yet written (rate limited). */
  readonly #reports = new Set<string>();
  readonly #minMs: number;

  constructor(minReportIntervalMs: number) {
    this.#minMs = minReportIntervalMs;
  }

  /** A new desired state for `k` was stored and sent to its agent. */
  sent(k: string): void {
    this.#awaiting.set(k, Date.now());
  }

  /** `k` is gone: nothing to wait for. */
  forget(k: string): void {
    this.#awaiting.delete(k);
  }

  /** `k` has new readings or edges to write (at most once per interval). */
  report(k: string): void {
    this.#reports.add(k);
  }

  /** The first key waiting for a report that `matches`, no longer waiting; undefined when none. */
  takeAwaiting(matches: (k: string) => boolean): string | undefined {
    for (const k of this.#awaiting.keys()) {
      if (!matches(k)) continue;
      this.#awaiting.delete(k);
      return k;
    }
    return undefined;
  }

  /** Whether a status with this Ready reason is held back: `Applying`, sent moments ago, its report about to come. */
  holdApplying(k: string, reason: string | undefined): boolean {
    const since = this.#awaiting.get(k);
    return reason === 'Applying' && since !== undefined && since >= 0 && Date.now() - since < PENDING_GRACE_MS;
  }

  /** Whether a change in readings or edges alone comes too soon after the last write (it is left to {@link poll}). */
  tooSoon(writtenAt: number): boolean {
    return Date.now() - writtenAt < this.#minMs;
  }

  /**
   * The keys whose status should be written now: reports that arrived (or are late), and
   * readings or edges whose interval has passed. `awaiting(k)` says where a waiting key stands
   * (`gone`: not on a node any more); `writtenAt(k)` when its status was last written
   * (undefined: the key is gone).
   */
  poll(awaiting: (k: string) => 'gone' | 'reported' | 'waiting', writtenAt: (k: string) => number | undefined): string[] {
    const due: string[] = [];
    for (const k of this.#awaiting.keys()) {
      const s = awaiting(k);
      if (s === 'waiting') continue;
      this.#awaiting.delete(k);
      if (s === 'reported') due.push(k);
    }
    const now = Date.now();
    for (const [k, since] of this.#awaiting) {
      if (since >= 0 && now - since >= PENDING_GRACE_MS) {
        this.#awaiting.set(k, -1);
        due.push(k);
      }
    }
    for (const k of this.#reports) {
      const at = writtenAt(k);
      if (at === undefined || now - at >= this.#minMs) {
        this.#reports.delete(k);
        if (at !== undefined) due.push(k);
      }
    }
    return due;
  }
}
