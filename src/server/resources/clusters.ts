/** /api/v1/clusters */
import { IdParams, ListOf, ListQuery } from '../../api/common.js';
import { Cluster, ClusterCreate, ClusterUpdate } from '../../api/clusters.js';
import { Node } from '../../api/nodes.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function clustersResource({ store, bus }: ResourceDeps): Resource {
  return {
    prefix: '/clusters',
    tag: 'clusters',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'List clusters',
        query: ListQuery,
        response: { status: 200, schema: ListOf(Cluster) },
        handler: ({ query }) => ({ status: 200, body: store.clusters.list(query.limit, query.offset) }),
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'operator',
        summary: 'Declare a cluster',
        body: ClusterCreate,
        response: { status: 201, schema: Cluster },
        audit: 'cluster.create',
        handler: ({ body, auditTarget }) => {
          auditTarget(body.name);
          const c = store.clusters.create(body);
          bus.emit('cluster.created', c);
          return { status: 201, body: c };
        },
      }),
      route({
        method: 'GET',
        path: '/:id',
        role: 'viewer',
        summary: 'Get a cluster by id or name',
        params: IdParams,
        response: { status: 200, schema: Cluster },
        handler: ({ params }) => ({ status: 200, body: store.clusters.require(params.id) }),
      }),
      route({
        method: 'PATCH',
        path: '/:id',
        role: 'operator',
        summary: 'Change a cluster',
        params: IdParams,
        body: ClusterUpdate,
        response: { status: 200, schema: Cluster },
        audit: 'cluster.update',
        handler: ({ params, body, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(cur.name);
          const c = store.clusters.update(cur.id, body);
          bus.emit('cluster.updated', c);
          return { status: 200, body: c };
        },
      }),
      route({
        method: 'DELETE',
        path: '/:id',
        role: 'admin',
        summary: 'Forget a cluster (its nodes stay, unassigned)',
        params: IdParams,
        response: { status: 204 },
        audit: 'cluster.delete',
        handler: ({ params, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(cur.name);
          store.clusters.delete(cur.id);
          bus.emit('cluster.deleted', { id: cur.id, name: cur.name });
          return { status: 204 };
        },
      }),
      route({
        method: 'GET',
        path: '/:id/nodes',
        role: 'viewer',
        summary: "A cluster's nodes",
        params: IdParams,
        response: { status: 200, schema: ListOf(Node) },
        handler: ({ params }) => ({
          status: 200,
          body: store.nodes.list({ clusterId: store.clusters.require(params.id).id, limit: 1000 }),
        }),
      }),
    ],
  };
}
