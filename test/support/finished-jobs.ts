/** Jobs as a runner leaves them behind, for tests of what the lifecycle replays from the job table, and the ports that start them. */
import type { ProvisionPort, SecretBox } from '../../src/core/ports.js';
import type { AgentEnrolment } from '../../src/provision/agent-unit.js';
import { join } from 'node:path';
import { openSecretBox } from '../../src/certs/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { clusterCreateKind, provisionPort } from '../../src/provision/k3s.js';
import { addNodeKind, lifecyclePort, removeNodeKind } from '../../src/provision/k3s-lifecycle.js';
import { k3sOps } from '../../src/provision/k3s-ops.js';
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
  deps: { store: Store; secrets: SecretBox; enrolment?: AgentEnrolment },
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

/**
 * An agent endpoint for {@link storedJobsOnly}: there, so requests that ask for the agent unit are
 * taken, and never used, as no job runs (it mints an unusable token, connects nobody, revokes nothing).
 */
export const unusedEnrolment: AgentEnrolment = {
  mint: () => ({ token: 'never', server: 'https://x:1' }),
  connected: () => false,
  revoke: () => [],
};

/**
 * For startServer: the provisioning routes (and the hosts of k3sOps) over a runner that knows
 * `cluster.create`, `cluster.add-node` and `cluster.remove-node` but runs nothing (no host exists),
 * so a request's job is stored as queued.
 */
export function storedJobsOnly(extra: { enrolment?: AgentEnrolment } = {}) {
  return (store: Store, dir: string) => {
    const secrets = openSecretBox(join(dir, 'secrets'));
    const deps = { store, secrets, ...extra };
    const runner = new JobRunner({
      store,
      bus: new EventBus(),
      log: silentLogger(),
      kinds: [clusterCreateKind(deps), addNodeKind(deps), removeNodeKind(deps)],
      secrets,
    });
    runner.stop();
    return { provision: provisionPorts(deps, runner), k3sOps: k3sOps({ store, runner }) };
  };
}
