/** Jobs as a runner leaves them behind, for tests of what the lifecycle replays from the job table. */
import type { Store } from '../../src/store/index.js';

/** A host's SSH login as a lifecycle job's parameters hold it. */
export const login = (host: string) => ({ host, user: 'pi' });

/** A job of `kind` stored as finished in `state` (what a runner leaves behind). */
export function finished(store: Store, kind: string, params: Record<string, unknown>, state: 'succeeded' | 'failed' = 'succeeded') {
  const job = store.jobs.create({ kind, params }, 'test');
  store.jobs.setState(job.id, 'running');
  return store.jobs.setState(job.id, state);
}
