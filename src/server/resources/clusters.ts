/** /api/v1/clusters */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { IdParams, ListOf, ListQuery } from '../../api/common.js';
import {
  Cluster,
  ClusterAddNode,
  ClusterCreate,
  ClusterHost,
  JournalQuery,
  ClusterKubeconfig,
  ClusterProvision,
  ClusterRemoveNode,
  ClusterRestore,
  ClusterUpdate,
  ClusterUpgrade,
} from '../../api/clusters.js';
import { ControllerError } from '../../api/errors.js';
import { Job } from '../../api/jobs.js';
import type { K3sOpsPort, ProvisionPort } from '../../core/ports.js';
import { Node } from '../../api/nodes.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

/** The provisioner, or 503 when this control plane runs without one. */
function provisioner(port: ProvisionPort | undefined): ProvisionPort {
  if (!port) throw new ControllerError('PROVISION_UNAVAILABLE', 503, 'provisioning is not running in this control plane', { expose: true });
  return port;
}

/** The cluster hosts' SSH operations, or 503 when this control plane runs without them. */
function operations(port: K3sOpsPort | undefined): K3sOpsPort {
  if (!port) throw new ControllerError('PROVISION_UNAVAILABLE', 503, 'provisioning is not running in this control plane', { expose: true });
  return port;
}

export function clustersResource({ store, bus, provision, k3sOps }: ResourceDeps): Resource {
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
        method: 'POST',
        path: '/:id/provision',
        role: 'operator',
        summary: 'Install K3s on hosts over SSH: the first server with --cluster-init, then servers, then agents (a job)',
        params: IdParams,
        body: ClusterProvision,
        response: { status: 202, schema: Job },
        audit: 'cluster.provision',
        handler: ({ params, body, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(cur.name);
          const job = provisioner(provision).createCluster(cur.id, body, actor.name);
          return { status: 202, body: job };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/add-node',
        role: 'operator',
        summary: 'Join a host to the cluster as an agent or a server with the stored join token, and wait for its Node to be Ready (a job)',
        params: IdParams,
        body: ClusterAddNode,
        response: { status: 202, schema: Job },
        audit: 'cluster.add-node',
        handler: ({ params, body, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(`${cur.name}/${body.host}`);
          return { status: 202, body: provisioner(provision).addNode(cur.id, body, actor.name) };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/remove-node',
        role: 'operator',
        summary: 'Remove an agent: cordon, drain, delete its Node, uninstall K3s on it and check the host is clean (a job)',
        params: IdParams,
        body: ClusterRemoveNode,
        response: { status: 202, schema: Job },
        audit: 'cluster.remove-node',
        handler: ({ params, body, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(`${cur.name}/${body.host}`);
          return { status: 202, body: provisioner(provision).removeNode(cur.id, body.host, actor.name) };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/reset',
        role: 'admin',
        summary: 'Uninstall K3s from every host (agents first), check them clean, forget the kubeconfig and join token (a job)',
        params: IdParams,
        response: { status: 202, schema: Job },
        audit: 'cluster.reset',
        handler: ({ params, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(cur.name);
          return { status: 202, body: provisioner(provision).resetCluster(cur.id, actor.name) };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/upgrade',
        role: 'operator',
        summary:
          'Rolling upgrade to a K3s release: per node, servers first then agents, one at a time: cordon, drain, install, wait Ready at the version, uncordon; stops at the first failure (a job)',
        params: IdParams,
        body: ClusterUpgrade,
        response: { status: 202, schema: Job },
        audit: 'cluster.upgrade',
        handler: ({ params, body, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(`${cur.name}@${body.version}`);
          return { status: 202, body: provisioner(provision).upgradeCluster(cur.id, body, actor.name) };
        },
      }),
      route({
        method: 'POST',
        path: '/:id/restore',
        role: 'admin',
        summary:
          "Restore the cluster's etcd from a snapshot kept with a backup: upload it to the first server, stop K3s on every server, k3s server --cluster-reset --cluster-reset-restore-path there, start it, the other servers rejoin with their etcd data removed, every Node Ready again (a job). 404 SNAPSHOT_NOT_FOUND, 409 SNAPSHOT_OF_ANOTHER_CLUSTER, CLUSTER_BUSY, CLUSTER_NOT_PROVISIONED",
        params: IdParams,
        body: ClusterRestore,
        response: { status: 202, schema: Job },
        audit: 'cluster.restore',
        handler: ({ params, body, actor, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(`${cur.name}<${body.etcdSnapshot}`);
          return { status: 202, body: provisioner(provision).restoreCluster(cur.id, body, actor.name) };
        },
      }),
      route({
        method: 'GET',
        path: '/:id/kubeconfig',
        role: 'admin',
        summary: "The cluster's admin kubeconfig (server address rewritten to the first server)",
        params: IdParams,
        response: { status: 200, schema: ClusterKubeconfig },
        audit: 'cluster.kubeconfig',
        handler: ({ params, auditTarget }) => {
          const cur = store.clusters.require(params.id);
          auditTarget(cur.name);
          const kc = provisioner(provision).kubeconfig(cur.id);
          if (!kc)
            throw new ControllerError('NO_KUBECONFIG', 404, `cluster ${cur.name} has no kubeconfig yet (provision it first)`, {
              expose: true,
            });
          return { status: 200, body: kc };
        },
      }),
      route({
        method: 'GET',
        path: '/:id/hosts',
        role: 'viewer',
        summary: "The hosts provisioning made the cluster's servers and agents",
        params: IdParams,
        response: { status: 200, schema: Type.Object({ items: Type.Array(ClusterHost) }) },
        handler: ({ params }) => ({ status: 200, body: { items: operations(k3sOps).hosts(params.id) } }),
      }),
      route({
        method: 'GET',
        path: '/:id/hosts/:host/journal',
        role: 'operator',
        summary:
          "A host's service journal over SSH (journalctl -u <unit> -n <lines> -o short-iso, as root), as text/plain; follow keeps it open with new lines. 404 NOT_A_MEMBER, 400 INVALID_UNIT, 502 SSH_CONNECT_FAILED",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }), host: Type.String({ minLength: 1, maxLength: 253 }) }),
        query: JournalQuery,
        response: { status: 200, description: 'journal lines (text/plain), streamed' },
        handler: async ({ params, query, ctx }) => {
          const j = await operations(k3sOps).journal(params.id, params.host, {
            unit: query.unit ?? 'k3s',
            lines: query.lines ?? 200,
            follow: query.follow === true,
          });
          ctx.type = 'text/plain; charset=utf-8';
          ctx.set('Cache-Control', 'no-store');
          // Koa destroys the stream when the response ends or the client goes away: that stops journalctl and closes the SSH session.
          return { status: 200, body: Readable.from(j.chunks, { objectMode: false }) };
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
