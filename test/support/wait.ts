import { availableParallelism, loadavg } from 'node:os';

/**
 * How many times slower than an idle machine this one runs now: the higher of the 1- and 5-minute
 * load averages per core, at least 1 and at most 8. Deadlines are stretched by it (how long a test
 * waits before it gives up), never an assertion about speed: speed lives in bench/.
 */
export function loadFactor(): number {
  const [one = 0, five = 0] = loadavg();
  return Math.min(8, Math.max(1, Math.max(one, five) / availableParallelism()));
}

/** A deadline of `ms` on an idle machine, stretched by loadFactor(). */
export function scaled(ms: number): number {
  return Math.round(ms * loadFactor());
}

/** Polls `cond()` every `pollMs` until it holds (true) or `ms` (stretched by the load) have passed (false). */
export async function waitFor(cond: () => boolean, ms: number, pollMs = 5): Promise<boolean> {
  const end = Date.now() + scaled(ms);
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}
