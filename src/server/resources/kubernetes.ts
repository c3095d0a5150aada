/** /api/v1/kubernetes: the state of Kubernetes reconciliation (src/cluster/runner.ts). */
import { KUBERNETES_OFF, KubernetesOverview } from '../../api/kubernetes.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function kubernetesResource({ kubernetes }: ResourceDeps): Resource {
  return {
    prefix: '/kubernetes',
    tag: 'kubernetes',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary:
          "Kubernetes reconciliation: off, starting, running or retrying; connected, synced, queue depth; each provisioned cluster's under managed",
        response: { status: 200, schema: KubernetesOverview },
        handler: () => ({ status: 200, body: kubernetes?.status() ?? KUBERNETES_OFF }),
      }),
    ],
  };
}
