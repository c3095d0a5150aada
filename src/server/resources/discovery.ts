/** /api/v1/discovery: hosts that discovery found (or an operator added by hand), and adopting them as nodes. */
import { IdParams, ListOf, ListQuery } from '../../api/common.js';
import { AdoptBody, DiscoveryInput, DiscoveryResult, ScanReport, ScanRequest } from '../../api/discovery.js';
import { Node } from '../../api/nodes.js';
import type { DiscoveryDefaults } from '../../discovery/config.js';
import { DiscoveryError } from '../../discovery/errors.js';
import { DiscoveryService, type RunOptions } from '../../discovery/service.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

const NO_DEFAULTS: DiscoveryDefaults = { interfaceAddress: null, cidr: null, leases: [], timeoutMs: 1500, ssh: null };

/** A run's options: the request's, else the configured defaults. */
function runOptions(req: ScanRequest, d: DiscoveryDefaults): RunOptions {
  const timeoutMs = req.timeoutMs ?? d.timeoutMs;
  const cidr = req.cidr ?? d.cidr;
  const iface = d.interfaceAddress ? { interfaceAddress: d.interfaceAddress } : {};
  return {
    mdns: req.mdns === false ? false : { ...iface, timeoutMs },
    scan: cidr ? { cidr, timeoutMs, ...(d.interfaceAddress ? { localAddress: d.interfaceAddress } : {}) } : false,
    leases: req.leases === false ? [] : d.leases,
  };
}

export function discoveryResource({ store, bus, log }: ResourceDeps, defaults: DiscoveryDefaults = NO_DEFAULTS): Resource {
  const service = new DiscoveryService({ store: store.discovery, bus, log: log.child({ component: 'discovery' }) });
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
          const opts = runOptions(body, defaults);
          auditTarget(opts.scan ? opts.scan.cidr : 'mdns');
          return { status: 200, body: await service.run(opts) };
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
          if (!defaults.ssh) throw new DiscoveryError('DISCOVERY_UNAVAILABLE', 'no SSH key is configured for the probe (discovery.sshKey)');
          return { status: 200, body: await service.probe(r.id, { ...defaults.ssh, timeoutMs: 20_000 }) };
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
