/** /api/v1/nodes/:node/{gpio,pwm,i2c}: desired hardware state, the same objects the CRDs carry. */
import { Type } from '@sinclair/typebox';
import { ListOf, Name, NodeParams, Obj } from '../../api/common.js';
import { HW_KINDS, HwCreate, HwObject, HwReplace, type HwKind, type HwSpecs } from '../../api/hardware.js';
import { route, type Resource, type RouteSpec } from '../routes.js';
import type { AgentPresence } from '../../core/ports.js';
import type { ResourceDeps } from '../deps.js';

const ItemParams = Obj({ node: Type.String({ minLength: 1, maxLength: 128 }), name: Name });

/**
 * An object as the API shows it. Until the node's agent reports on the current generation, the
 * stored status (from the last report, or `NoAgent` from creation) is not the news: the object
 * is `Pending`, `Applying` when the agent is connected (the change is sent to it on commit) and
 * `NoAgent` when it is not. The stored row keeps what the agent last reported.
 */
export function presented<K extends HwKind>(obj: HwObject<K>, agents: AgentPresence | undefined): HwObject<K> {
  if (obj.status.observedGeneration === obj.generation) return obj;
  const connected = agents?.status(obj.nodeId).connected ?? false;
  return { ...obj, status: { ...obj.status, phase: 'Pending', reason: connected ? 'Applying' : 'NoAgent' } };
}

function kindRoutes<K extends HwKind>(kind: K, { store, bus, agents }: ResourceDeps): RouteSpec[] {
  const changed = (nodeId: string, name: string, generation: number, deleted: boolean) =>
    bus.emit('hw.changed', { nodeId, kind, name, generation, deleted });
  const show = (obj: HwObject<K>) => presented(obj, agents);
  return [
    route({
      method: 'GET',
      path: `/${kind}`,
      role: 'viewer',
      summary: `List desired ${kind} objects of a node`,
      params: NodeParams,
      response: { status: 200, schema: ListOf(HwObject(kind)) },
      handler: ({ params }) => {
        const items = store.hardware.list(store.nodes.require(params.node).id, kind).map(show);
        return { status: 200, body: { items, total: items.length } };
      },
    }),
    route({
      method: 'POST',
      path: `/${kind}`,
      role: 'operator',
      summary: `Create a desired ${kind} object`,
      params: NodeParams,
      body: HwCreate(kind),
      response: { status: 201, schema: HwObject(kind) },
      audit: `${kind}.create`,
      handler: ({ params, body, auditTarget }) => {
        const node = store.nodes.require(params.node);
        auditTarget(`${node.name}/${body.name}`);
        const obj = store.hardware.create(node.id, kind, body.name, body.spec as HwSpecs[K]);
        changed(node.id, obj.name, obj.generation, false);
        return { status: 201, body: show(obj) };
      },
    }),
    route({
      method: 'GET',
      path: `/${kind}/:name`,
      role: 'viewer',
      summary: `Get a desired ${kind} object`,
      params: ItemParams,
      response: { status: 200, schema: HwObject(kind) },
      handler: ({ params }) => ({
        status: 200,
        body: show(store.hardware.require(store.nodes.require(params.node).id, kind, params.name)),
      }),
    }),
    route({
      method: 'PUT',
      path: `/${kind}/:name`,
      role: 'operator',
      summary: `Set the spec of a desired ${kind} object, creating it (201) when absent: PUT /nodes/:node/gpio/17 with a spec for pin 17`,
      params: ItemParams,
      body: HwReplace(kind),
      response: { status: 200, schema: HwObject(kind) },
      audit: `${kind}.replace`,
      handler: ({ params, body, auditTarget }) => {
        const node = store.nodes.require(params.node);
        auditTarget(`${node.name}/${params.name}`);
        const existing = store.hardware.list(node.id, kind).find((o) => o.name === params.name);
        if (!existing) {
          const created = store.hardware.create(node.id, kind, params.name, body.spec as HwSpecs[K]);
          changed(node.id, created.name, created.generation, false);
          return { status: 201, body: show(created) };
        }
        const before = existing;
        const obj = store.hardware.replace(node.id, kind, params.name, body.spec as HwSpecs[K]);
        if (obj.generation !== before.generation) changed(node.id, obj.name, obj.generation, false);
        return { status: 200, body: show(obj) };
      },
    }),
    route({
      method: 'DELETE',
      path: `/${kind}/:name`,
      role: 'operator',
      summary: `Delete a desired ${kind} object (the agent releases the hardware)`,
      params: ItemParams,
      response: { status: 204 },
      audit: `${kind}.delete`,
      handler: ({ params, auditTarget }) => {
        const node = store.nodes.require(params.node);
        auditTarget(`${node.name}/${params.name}`);
        const obj = store.hardware.delete(node.id, kind, params.name);
        changed(node.id, obj.name, obj.generation, true);
        return { status: 204 };
      },
    }),
  ];
}

export function hardwareResource(deps: ResourceDeps): Resource {
  return { prefix: '/nodes/:node', tag: 'hardware', routes: HW_KINDS.flatMap((k) => kindRoutes(k, deps)) };
}
