/** /api/v1/discovery: hosts that discovery found (or an operator added by hand), and adopting them as nodes. */
import { IdParams, ListOf, ListQuery } from '../../api/common.js';
import { AdoptBody, DiscoveryInput, DiscoveryResult } from '../../api/discovery.js';
import { Node } from '../../api/nodes.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function discoveryResource({ store, bus }: ResourceDeps): Resource {
  return {
    prefix: '/discovery',
    tag: 'discovery',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'List discovered hosts',
        query: ListQuery,
        response: { status: 200, schema: ListOf(DiscoveryResult) },
        handler: ({ query }) => ({ status: 200, body: store.discovery.list(query.limit, query.offset) }),
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'operator',
        summary: 'Record a host by hand',
        body: DiscoveryInput,
        response: { status: 201, schema: DiscoveryResult },
        audit: 'discovery.record',
        handler: ({ body, auditTarget }) => {
          auditTarget(body.address);
          const r = store.discovery.upsert(body);
          bus.emit('discovery.found', r);
          return { status: 201, body: r };
        },
      }),
      route({
        method: 'DELETE',
        path: '/:id',
        role: 'operator',
        summary: 'Forget a discovered host',
        params: IdParams,
        response: { status: 204 },
        audit: 'discovery.delete',
        handler: ({ params, auditTarget }) => {
          const r = store.discovery.require(params.id);
          auditTarget(r.address);
          store.discovery.delete(r.id);
          return { status: 204 };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/adopt',
        role: 'operator',
        summary: 'Make a discovered host a node',
        params: IdParams,
        body: AdoptBody,
        response: { status: 201, schema: Node },
        audit: 'discovery.adopt',
        handler: ({ params, body, auditTarget }) => {
          const node = store.tx(() => {
            const r = store.discovery.require(params.id);
            auditTarget(r.address);
            const n = store.nodes.create({
              name: body.name,
              address: r.address,
              ...(r.mac ? { mac: r.mac } : {}),
              ...(r.model ? { model: r.model } : {}),
              ...(body.labels ? { labels: body.labels } : {}),
            });
            store.discovery.link(r.id, n.id);
            return n;
          });
          bus.emit('node.created', node);
          return { status: 201, body: node };
        },
      }),
    ],
  };
}
