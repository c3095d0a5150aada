/**
 * A work queue keyed by `kind/namespace/name`: a key waits at most once (later requests merge
 * into the waiting one), at most one item per key is in flight, and up to `concurrency` keys run
 * at once. A key requested while it runs waits and runs again after it finishes, so the last
 * change is never lost and never raced.
 */
export type Work<T> = (key: string, req: T) => Promise<void>;

export class KeyedQueue<T> {
  readonly #pending = new Map<string, T>();
  readonly #order: string[] = [];
  readonly #inflight = new Set<string>();
  /** Keys requested while running: put back in line when they finish. */
  readonly #parked = new Set<string>();
  readonly #work: Work<T>;
  readonly #merge: (a: T, b: T) => T;
  readonly #concurrency: number;
  readonly #idle: (() => void)[] = [];
  readonly #onError: ((key: string, err: unknown) => void) | undefined;
  #stopped = false;

  /** `onError` receives what a work item throws (the queue itself goes on). */
  constructor(work: Work<T>, merge: (waiting: T, incoming: T) => T, concurrency = 16, onError?: (key: string, err: unknown) => void) {
    this.#work = work;
    this.#onError = onError;
    this.#merge = merge;
    this.#concurrency = concurrency;
  }

  /** Requests work on `key` (merged with a request already waiting). */
  add(key: string, req: T): void {
    if (this.#stopped) return;
    const waiting = this.#pending.get(key);
    if (waiting !== undefined) {
      this.#pending.set(key, this.#merge(waiting, req));
      return;
    }
    this.#pending.set(key, req);
    if (this.#inflight.has(key)) this.#parked.add(key);
    else this.#order.push(key);
    this.#pump();
  }

  get size(): number {
    return this.#pending.size + this.#inflight.size;
  }

  /** Resolves when nothing waits and nothing runs. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    this.#order.length = 0;
    this.#parked.clear();
  }

  #pump(): void {
    while (this.#inflight.size < this.#concurrency && this.#order.length > 0) {
      const key = this.#order.shift()!;
      const req = this.#pending.get(key);
      if (req === undefined) continue;
      this.#pending.delete(key);
      this.#inflight.add(key);
      void this.#work(key, req)
        .catch((err: unknown) => this.#onError?.(key, err))
        .finally(() => {
          this.#inflight.delete(key);
          if (this.#parked.delete(key)) this.#order.push(key);
          this.#pump();
          if (this.size === 0) for (const r of this.#idle.splice(0)) r();
        });
    }
  }
}
