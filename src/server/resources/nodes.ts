/** /api/v1/nodes */
import { Type } from '@sinclair/typebox';
import { IdParams, ListOf, Obj } from '../../api/common.js';
import { Node, NodeCreate, NodeListQuery, NodePatch, mergeLabels } from '../../api/nodes.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export const AgentStatusSchema = Obj({
  connected: Type.Boolean(),
  since: Type.Union([Type.String(), Type.Null()]),
  health: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  reason: Type.String(),
});

export function nodesResource({ store, bus, agents }: ResourceDeps): Resource {
  return {
    prefix: '/nodes',
    tag: 'nodes',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'List nodes',
        query: NodeListQuery,
        response: { status: 200, schema: ListOf(Node) },
        handler: ({ query }) => {
          const page = store.nodes.listPage(query);
          return { status: 200, json: page.json, etag: page.etag };
        },
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'operator',
        summary: 'Add a node',
        body: NodeCreate,
        response: { status: 201, schema: Node },
        audit: 'node.create',
        handler: ({ body, auditTarget }) => {
          auditTarget(body.name);
          const node = store.nodes.create(body);
          bus.emit('node.created', node);
          return { status: 201, body: node };
        },
      }),
      route({
        method: 'GET',
        path: '/:id',
        role: 'viewer',
        summary: 'Get a node by id or name',
        params: IdParams,
        response: { status: 200, schema: Node },
        handler: ({ params }) => ({ status: 200, body: store.nodes.require(params.id) }),
      }),
      route({
        method: 'PATCH',
        path: '/:id',
        role: 'operator',
        summary: 'Change a node (merge patch)',
        params: IdParams,
        body: NodePatch,
        response: { status: 200, schema: Node },
        audit: 'node.update',
        handler: ({ params, body, auditTarget }) => {
          const cur = store.nodes.require(params.id);
          auditTarget(cur.name);
          const { labels, ...rest } = body;
          const node = store.nodes.update(cur.id, labels ? { ...rest, labels: mergeLabels(cur.labels, labels) } : rest);
          bus.emit('node.updated', node);
          return { status: 200, body: node };
        },
      }),
      route({
        method: 'DELETE',
        path: '/:id',
        role: 'operator',
        summary: 'Remove a node and its desired hardware state',
        params: IdParams,
        response: { status: 204 },
        audit: 'node.delete',
        handler: ({ params, auditTarget }) => {
          const cur = store.nodes.require(params.id);
          auditTarget(cur.name);
          store.nodes.delete(cur.id);
          bus.emit('node.deleted', { id: cur.id, name: cur.name });
          return { status: 204 };
        },
      }),
      route({
        method: 'GET',
        path: '/:id/agent',
        role: 'viewer',
        summary: "The node agent's connection and health",
        params: IdParams,
        response: { status: 200, schema: AgentStatusSchema },
        handler: ({ params }) => {
          const node = store.nodes.require(params.id);
          if (!agents) return { status: 200, body: { connected: false, since: null, health: null, reason: 'NoAgentLink' } };
          const s = agents.status(node.id);
          return { status: 200, body: { ...s, reason: s.connected ? 'Connected' : 'Disconnected' } };
        },
      }),
    ],
  };
}
