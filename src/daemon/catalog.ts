/**
 * Which cluster a catalog request talks to. Two kinds are reachable:
 * - the one of the configured kubeconfig (`kubernetes.kubeconfig`, `serve --kubeconfig`), named
 *   `default`; a request that names no cluster means it;
 * - a cluster this control plane provisioned (src/provision/k3s.ts), by its name or id, through
 *   the admin kubeconfig kept sealed in the database.
 * A cluster record without a kubeconfig yet (declared, not provisioned, or reset) is 409
 * `CLUSTER_NOT_CONNECTED`; any other name is 404 `CLUSTER_NOT_FOUND`.
 */
import { ControllerError } from '../api/errors.js';
import type { ClusterApis, KubeApi } from '../core/ports.js';
import type { Store } from '../store/index.js';
import { kubeApi } from '../cluster/raw.js';

export const DEFAULT_CLUSTER = 'default';

/** A provisioned cluster's kubeconfig as text, or undefined when it has none (ProvisionPort.kubeconfig). */
export type StoredKubeconfig = (clusterId: string) => { kubeconfig: string } | undefined;

export function catalogClusters(store: Store, configured: KubeApi | undefined, stored?: StoredKubeconfig): ClusterApis {
  // One client per provisioned cluster, made again when its kubeconfig changes (a reset and a new create).
  const made = new Map<string, { text: string; api: KubeApi }>();
  return async (name) => {
    if (name === undefined || name === DEFAULT_CLUSTER) {
      if (!configured)
        throw new ControllerError(
          'KUBERNETES_OFF',
          503,
          'no cluster to install on: the control plane has no kubeconfig (serve --kubeconfig or kubernetes.kubeconfig)',
          { expose: true },
        );
      return { name: DEFAULT_CLUSTER, api: configured };
    }
    const rec = store.clusters.find(name);
    if (!rec)
      throw new ControllerError('CLUSTER_NOT_FOUND', 404, `cluster ${JSON.stringify(name)} not found`, { details: { cluster: name } });
    const text = stored?.(rec.id)?.kubeconfig;
    if (text === undefined)
      throw new ControllerError(
        'CLUSTER_NOT_CONNECTED',
        409,
        `cluster ${rec.name} has no kubeconfig in the control plane yet (provision it: pi-controller cluster create ${rec.name} --servers ...)`,
        { details: { cluster: rec.name } },
      );
    let m = made.get(rec.id);
    if (m?.text !== text) {
      // client-node is loaded only once a provisioned cluster is used.
      const { kubeConfigFromText } = await import('../cluster/kubeconfig.js');
      m = { text, api: kubeApi(kubeConfigFromText(text, `cluster ${rec.name}`).kubeConfig) };
      made.set(rec.id, m);
    }
    return { name: rec.name, api: m.api };
  };
}
