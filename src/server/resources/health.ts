/** /api/v1/health-history: each Pi's recent health (SoC temperature, throttling, under-voltage) as a bounded series. */
import { Type } from '@sinclair/typebox';
import { NodeParams, Obj } from '../../api/common.js';
import { HealthHistoryQuery, NodeHealthHistory } from '../../api/health.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function healthResource({ store }: ResourceDeps): Resource {
  return {
    prefix: '/health-history',
    tag: 'agents',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: "Every node's latest health samples, oldest first (nodes without samples are left out)",
        query: HealthHistoryQuery,
        response: { status: 200, schema: Obj({ items: Type.Array(NodeHealthHistory) }) },
        handler: ({ query }) => ({ status: 200, body: { items: store.health.all(query.samples ?? 60) } }),
      }),
      route({
        method: 'GET',
        path: '/:node',
        role: 'viewer',
        summary: "One node's latest health samples, oldest first",
        params: NodeParams,
        query: HealthHistoryQuery,
        response: { status: 200, schema: NodeHealthHistory },
        handler: ({ params, query }) => {
          const n = store.nodes.require(params.node);
          return { status: 200, body: { node: n.name, nodeId: n.id, samples: store.health.ofNode(n.id, query.samples ?? 60) } };
        },
      }),
    ],
  };
}
