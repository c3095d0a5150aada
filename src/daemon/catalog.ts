/**
 * Which cluster a catalog request talks to. Until the control plane keeps kubeconfigs of the
 * clusters it provisions, one cluster is reachable: the one of the configured kubeconfig
 * (`kubernetes.kubeconfig`, `serve --kubeconfig`), named `default`; a request that names no
 * cluster means it. A name of a cluster record (src/store/clusters.ts) is known but not
 * reachable yet (409 `CLUSTER_NOT_CONNECTED`); any other name is 404 `CLUSTER_NOT_FOUND`.
 */
import { ControllerError } from '../api/errors.js';
import type { ClusterApis, KubeApi } from '../core/ports.js';
import type { Store } from '../store/index.js';

export const DEFAULT_CLUSTER = 'default';

export function catalogClusters(store: Store, configured: KubeApi | undefined): ClusterApis {
  return (name) => {
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
    throw new ControllerError(
      'CLUSTER_NOT_CONNECTED',
      409,
      `cluster ${rec.name} has no kubeconfig in the control plane yet; the configured kubeconfig's cluster is "${DEFAULT_CLUSTER}"`,
      { details: { cluster: rec.name } },
    );
  };
}
