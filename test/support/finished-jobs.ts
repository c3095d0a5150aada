/** Jobs as a runner leaves them behind, for tests of what the lifecycle replays from the job table, and the ports that start them. */
import type { ProvisionPort, SecretBox } from '../../src/core/ports.js';
import type { JobRunner } from '../../src/provision/jobs.js';
import { provisionPort } from '../../src/provision/k3s.js';
import { lifecyclePort } from '../../src/provision/k3s-lifecycle.js';
import { restorePort, type StoredSnapshot } from '../../src/provision/k3s-restore.js';
import { upgradePort } from '../../src/provision/k3s-upgrade.js';
import type { Store } from '../../src/store/index.js';

/** A host's SSH login as a lifecycle job's parameters hold it. */
export const login = (host: string) => ({ host, user: 'pi' });

/** A job of `kind` stored as finished in `state` (what a runner leaves behind). */
export function finished(store: Store, kind: string, params: Record<string, unknown>, state: 'succeeded' | 'failed' = 'succeeded') {
  const job = store.jobs.create({ kind, params }, 'test');
  store.jobs.setState(job.id, 'running');
  return store.jobs.setState(job.id, state);
}

/** Every part of the ProvisionPort on `runner`, joined as the daemon joins them; `snapshots` finds a backup's etcd snapshots. */
export function provisionPorts(
  deps: { store: Store; secrets: SecretBox },
  runner: JobRunner,
  snapshots: (ref: string) => StoredSnapshot[] = () => [],
): ProvisionPort {
  return {
    ...provisionPort({ ...deps, runner }),
    ...lifecyclePort({ ...deps, runner }),
    ...upgradePort({ ...deps, runner }),
    ...restorePort({ ...deps, runner, snapshots }),
  };
}
