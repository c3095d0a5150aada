/** /api/v1/discovery: hosts that discovery found (or an operator added by hand), and adopting them as nodes. */
import { IdParams, ListOf, ListQuery } from '../../api/common.js';
import { AdoptBody, DiscoveryInput, DiscoveryResult, ScanReport, ScanRequest } from '../../api/discovery.js';
import { Node } from '../../api/nodes.js';
import { ControllerError } from '../../api/errors.js';
import type { DiscoveryPort } from '../../core/ports.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

/** The port, or 503 when this control plane runs without discovery. */
function need(port: DiscoveryPort | undefined): DiscoveryPort {
  if (!port) throw new ControllerError('DISCOVERY_UNAVAILABLE', 503, 'discovery is not running in this control plane', { expose: true });
  return port;
}

export function discoveryResource({ store, bus }: ResourceDeps, discovery?: DiscoveryPort): Resource {
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
        path: '/scans',
        role: 'operator',
        summary: 'Run discovery now (mDNS, SSH scan, DHCP leases) and answer with what it found',
        body: ScanRequest,
        response: { status: 200, schema: ScanReport },
        audit: 'discovery.scan',
        transactional: false,
        handler: async ({ body, auditTarget }) => {
          auditTarget(body.cidr ?? 'configured');
          return { status: 200, body: await need(discovery).run(body) };
        },
      }),
      route({
        method: 'GET',
        path: '/:id',
        role: 'viewer',
        summary: 'Show one discovered machine',
        params: IdParams,
        response: { status: 200, schema: DiscoveryResult },
        handler: ({ params }) => ({ status: 200, body: store.discovery.require(params.id) }),
      }),
      route({
        method: 'POST',
        path: '/:id/probe',
        role: 'operator',
        summary: "Read a discovered machine's capabilities over SSH",
        params: IdParams,
        response: { status: 200, schema: DiscoveryResult },
        audit: 'discovery.probe',
        transactional: false,
        handler: async ({ params, auditTarget }) => {
          const r = store.discovery.require(params.id);
          auditTarget(r.address);
          return { status: 200, body: await need(discovery).probe(r.id) };
        },
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
