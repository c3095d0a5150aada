/** Nodes: the Raspberry Pis (or other hosts) the control plane knows about. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, LABEL_KEY_PATTERN, Labels, Name, Obj, StringEnum, Timestamp } from './common.js';

export const NodeState = StringEnum(['discovered', 'provisioning', 'ready', 'notready', 'error', 'retired'], {
  description: 'life-cycle state of the node',
});
export type NodeState = Static<typeof NodeState>;

/** Host name or IPv4/IPv6 literal. */
export const Address = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$' });
export const Mac = Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$', description: 'lower-case colon-separated MAC' });

export const Node = Obj({
  id: Id,
  name: Name,
  address: Type.Union([Address, Type.Null()]),
  mac: Type.Union([Mac, Type.Null()]),
  model: Type.Union([Type.String(), Type.Null()]),
  state: NodeState,
  labels: Labels,
  clusterId: Type.Union([Id, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastSeenAt: Type.Union([Timestamp, Type.Null()]),
});
export type Node = Static<typeof Node>;

export const NodeCreate = Obj({
  name: Name,
  address: Type.Optional(Address),
  mac: Type.Optional(Mac),
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  labels: Type.Optional(Labels),
  clusterId: Type.Optional(Id),
});
export type NodeCreate = Static<typeof NodeCreate>;

export const NodeUpdate = Obj(
  {
    address: Type.Optional(Type.Union([Address, Type.Null()])),
    mac: Type.Optional(Type.Union([Mac, Type.Null()])),
    model: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()])),
    state: Type.Optional(NodeState),
    labels: Type.Optional(Labels),
    clusterId: Type.Optional(Type.Union([Id, Type.Null()])),
  },
  { description: 'merge patch: absent fields are left alone, null clears' },
);
export type NodeUpdate = Static<typeof NodeUpdate>;

/** Labels in a merge patch: a string sets the key, null removes it, keys not named are kept. */
export const LabelsPatch = Type.Record(
  Type.String({ pattern: LABEL_KEY_PATTERN }),
  Type.Union([Type.String({ maxLength: 63 }), Type.Null()]),
  { description: 'merged into the labels: a string sets the key, null removes it, keys not named are kept', additionalProperties: false },
);

/** The body of `PATCH /nodes/{id}` (JSON merge patch, RFC 7396): NodeUpdate with labels merged key by key. */
export const NodePatch = Obj(
  { ...NodeUpdate.properties, labels: Type.Optional(LabelsPatch) },
  { description: 'merge patch: absent fields are left alone, null clears; labels are merged key by key (null removes a key)' },
);
export type NodePatch = Static<typeof NodePatch>;

/** Applies a labels merge patch to `labels` (a new object; the inputs are not changed). */
export function mergeLabels(labels: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  const out = { ...labels };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

export const NodeListQuery = Obj({
  state: Type.Optional(NodeState),
  clusterId: Type.Optional(Id),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type NodeListQuery = Static<typeof NodeListQuery>;
