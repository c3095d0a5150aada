/**
 * Desired-state writes that come in the same event-loop turn share one SQLite transaction (one
 * commit, so one fsync, for a burst of changes instead of one each); each runs in a savepoint
 * of its own, so one that fails rolls back alone.
 */
import type { Store } from '../store/index.js';

interface Pending {
  fn: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class TxBatcher {
  readonly #store: Pick<Store, 'tx'>;
  #batch: Pending[] = [];

  constructor(store: Pick<Store, 'tx'>) {
    this.#store = store;
  }

  /** Runs `fn` in the next batch's transaction; resolves once the batch has committed (rejects with `fn`'s error). */
  run(fn: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#batch.push({ fn, resolve, reject });
      if (this.#batch.length === 1) setImmediate(() => this.#commit());
    });
  }

  #commit(): void {
    const batch = this.#batch.splice(0);
    const failed = new Map<number, unknown>();
    try {
      this.#store.tx(() =>
        batch.forEach((b, i) => {
          try {
            this.#store.tx(b.fn);
          } catch (err) {
            failed.set(i, err);
          }
        }),
      );
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => (failed.has(i) ? b.reject(failed.get(i)) : b.resolve()));
  }
}
