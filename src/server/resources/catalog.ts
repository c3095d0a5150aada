/**
 * /api/v1/catalog: the service catalog's entries, and installs on a cluster (`?cluster=`, or the
 * `cluster` of the install body; none means the configured kubeconfig's cluster, `default`).
 * Installs and removals need the admin role: they create and delete objects in the cluster.
 */
import { ListOf } from '../../api/common.js';
import {
  CatalogInstall,
  CatalogItem,
  CatalogNameParams,
  ClusterQuery,
  InstallRequest,
  InstallResult,
  RemoveResult,
} from '../../api/catalog.js';
import { ControllerError, ValidationError } from '../../api/errors.js';
import type { CatalogPort } from '../../core/ports.js';
import { route, type Resource } from '../routes.js';

/** The port, or 503 when this control plane runs without the catalog. */
function need(port: CatalogPort | undefined): CatalogPort {
  if (!port)
    throw new ControllerError('CATALOG_UNAVAILABLE', 503, 'the service catalog is not running in this control plane', { expose: true });
  return port;
}

export function catalogResource(catalog: CatalogPort | undefined): Resource {
  return {
    prefix: '/catalog',
    tag: 'catalog',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'The catalog entries: name, version, images, whether they keep data',
        response: { status: 200, schema: ListOf(CatalogItem) },
        handler: () => {
          const items = need(catalog).list();
          return { status: 200, body: { items, total: items.length } };
        },
      }),
      route({
        method: 'GET',
        path: '/installs',
        role: 'viewer',
        summary: 'Installs on a cluster, with their workloads (ready/desired replicas, node affinity)',
        query: ClusterQuery,
        response: { status: 200, schema: ListOf(CatalogInstall) },
        transactional: false,
        handler: async ({ query }) => {
          const items = await need(catalog).status(query.cluster);
          return { status: 200, body: { items, total: items.length } };
        },
      }),
      route({
        method: 'GET',
        path: '/installs/:name',
        role: 'viewer',
        summary: 'One install on a cluster',
        params: CatalogNameParams,
        query: ClusterQuery,
        response: { status: 200, schema: CatalogInstall },
        transactional: false,
        handler: async ({ params, query }) => ({ status: 200, body: (await need(catalog).status(query.cluster, params.name))[0]! }),
      }),
      route({
        method: 'POST',
        path: '/installs',
        role: 'admin',
        summary:
          "Install an entry: every image is resolved and its platforms checked against the cluster's nodes first (409 PLATFORM_UNSUPPORTED when no node can run one)",
        body: InstallRequest,
        response: { status: 201, schema: InstallResult },
        audit: 'catalog.install',
        transactional: false,
        handler: async ({ body, auditTarget }) => {
          if (body.name === undefined)
            throw new ValidationError([{ path: '/body/name', code: 'required', message: 'name the catalog entry to install' }]);
          auditTarget(body.name);
          return { status: 201, body: await need(catalog).install(body.name, body) };
        },
      }),
      route({
        method: 'DELETE',
        path: '/installs/:name',
        role: 'admin',
        summary: 'Remove an install: deletes exactly the objects it created, then its namespace',
        params: CatalogNameParams,
        query: ClusterQuery,
        response: { status: 200, schema: RemoveResult },
        audit: 'catalog.remove',
        transactional: false,
        handler: async ({ params, query, auditTarget }) => {
          auditTarget(params.name);
          return { status: 200, body: await need(catalog).remove(params.name, query.cluster) };
        },
      }),
    ],
  };
}
