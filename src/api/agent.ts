/**
 * The agent link protocol: JSON messages over a mutual-TLS WebSocket, each carrying the
 * protocol version `v` and a `type`. Every message is validated against its schema on
 * receipt; a message that fails is refused with a reason and changes nothing.
 *
 * Down (control plane → agent): `desired` (the full desired snapshot of the node),
 * `renewed` (a renewed certificate), `safe-state` (apply the agent's configured safe state),
 * `logs` (send recent log lines).
 * Up (agent → control plane): `hello`, `applied`, `health`, `event`, `edges`, `renew`, `refused`, `log-lines`.
 */
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Name, Obj, StringEnum, Timestamp } from './common.js';
import { HW_KINDS, HW_SPEC_SCHEMAS, HwStatus, type HwKind, type HwSpecs } from './hardware.js';
import type { Problem } from './errors.js';
import type { Validator } from './validate.js';

/** Protocol version spoken by this build. */
export const PROTOCOL_VERSION = 1;
/** WebSocket path of the agent endpoint. */
export const AGENT_PATH = '/agent/v1';
/** WebSocket close codes the endpoint and agent use. */
export const CLOSE = { refused: 4401, revoked: 4403, protocol: 4400, replaced: 4409 } as const;

const V = Type.Literal(PROTOCOL_VERSION);
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/**
 * One desired object as it travels in a `desired` message. The message schema leaves `spec` open:
 * the agent checks it against its kind's schema ({@link checkDesiredSpec}) before it uses it, so a
 * bad spec is refused with every problem and its path.
 */
export const DesiredItem = Obj({
  kind: StringEnum([...HW_KINDS]),
  name: Name,
  generation: Type.Integer({ minimum: 1 }),
  spec: Type.Record(Type.String(), Type.Unknown()),
});
/** A desired object as it comes off the wire (or out of the agent's file), its spec not yet checked. */
export type WireDesiredItem = Static<typeof DesiredItem>;

/** A desired object whose spec passed its kind's schema: `spec` is typed by `kind`. */
export type DesiredItem = { [K in HwKind]: { kind: K; name: string; generation: number; spec: HwSpecs[K] } }[HwKind];
/** The desired objects of one kind. */
export type DesiredOf<K extends HwKind> = Extract<DesiredItem, { kind: K }>;

/**
 * Checks a desired object's spec against its kind's schema. True when it passes: the object is
 * then a {@link DesiredItem}. Otherwise every problem (its path under `prefix`) is appended to
 * `problems`.
 */
export function checkDesiredSpec(v: Validator, item: WireDesiredItem, problems: Problem[], prefix: string): item is DesiredItem {
  const found = v.problems(HW_SPEC_SCHEMAS[item.kind], item.spec, prefix);
  problems.push(...found);
  return found.length === 0;
}

export const DesiredMsg = Obj({ v: V, type: Type.Literal('desired'), seq: Seq, items: Type.Array(DesiredItem, { maxItems: 512 }) });
export const RenewedMsg = Obj({ v: V, type: Type.Literal('renewed'), cert: Type.String({ maxLength: 16384 }) });
export const SafeStateMsg = Obj({ v: V, type: Type.Literal('safe-state') });
/** Asks for the agent's own recent log lines after `after` (its ring buffer; at most `limit`). */
export const LogsMsg = Obj({
  v: V,
  type: Type.Literal('logs'),
  id: Type.String({ minLength: 1, maxLength: 64 }),
  after: Seq,
  limit: Type.Integer({ minimum: 1, maximum: 1000 }),
});

/** What the agent reports for one desired object. */
export const AppliedItem = Obj({
  kind: StringEnum([...HW_KINDS]),
  name: Name,
  generation: Type.Integer({ minimum: 1 }),
  phase: HwStatus.properties.phase,
  reason: Type.String({ maxLength: 512 }),
  actual: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type AppliedItem = Static<typeof AppliedItem>;

/**
 * Teaches TypeBox's compiler the one string format the protocol uses (timestamps). Idempotent
 * and configuration-free, like StringEnum's checker; called where the schemas are built.
 */
function dateTimeFormat(): void {
  if (!FormatRegistry.Has('date-time'))
    FormatRegistry.Set(
      'date-time',
      (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)),
    );
}
dateTimeFormat();

export const Health = Obj({
  agentVersion: Type.String({ maxLength: 64 }),
  simulated: Type.Boolean(),
  socTempC: Type.Union([Type.Number(), Type.Null()]),
  /** The firmware's get_throttled bits decoded; null where the file does not exist. */
  throttled: Type.Union([
    Obj({
      raw: Type.Integer({ minimum: 0 }),
      underVoltage: Type.Boolean(),
      frequencyCapped: Type.Boolean(),
      throttled: Type.Boolean(),
      softTempLimit: Type.Boolean(),
      underVoltageOccurred: Type.Boolean(),
      frequencyCappedOccurred: Type.Boolean(),
      throttledOccurred: Type.Boolean(),
      softTempLimitOccurred: Type.Boolean(),
    }),
    Type.Null(),
  ]),
  memTotalBytes: Type.Integer({ minimum: 0 }),
  memAvailableBytes: Type.Integer({ minimum: 0 }),
  load1: Type.Number(),
  load5: Type.Number(),
  load15: Type.Number(),
  uptimeSec: Type.Number({ minimum: 0 }),
  agentRssBytes: Type.Integer({ minimum: 0 }),
  at: Timestamp,
});
export type Health = Static<typeof Health>;

export const HelloMsg = Obj({
  v: V,
  type: Type.Literal('hello'),
  node: Name,
  agentVersion: Type.String({ maxLength: 64 }),
  soc: Type.String({ maxLength: 32 }),
  simulated: Type.Boolean(),
  pinCount: Type.Integer({ minimum: 0, maximum: 128 }),
  /** The board's short model from its revision code ('4B', 'Zero 2 W', '5'); absent when simulated or not a known Pi. */
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export const AppliedMsg = Obj({ v: V, type: Type.Literal('applied'), seq: Seq, items: Type.Array(AppliedItem, { maxItems: 512 }) });
export const HealthMsg = Obj({ v: V, type: Type.Literal('health'), health: Health });
export const EventMsg = Obj({
  v: V,
  type: Type.Literal('event'),
  event: StringEnum(['gpio.changed']),
  pin: Type.Integer({ minimum: 0, maximum: 127 }),
  value: Type.Integer({ minimum: 0, maximum: 1 }),
  name: Type.Union([Name, Type.Null()]),
});
/**
 * Edges counted on watched inputs since the agent's previous `edges` message (at most 10 a
 * second per agent, whatever the input's rate): per pin the count, the level after the last edge
 * and its time; `lost` is how many events the edge source dropped meanwhile.
 */
export const EdgesMsg = Obj({
  v: V,
  type: Type.Literal('edges'),
  items: Type.Array(
    Obj({
      pin: Type.Integer({ minimum: 0, maximum: 127 }),
      name: Name,
      count: Type.Integer({ minimum: 0 }),
      level: Type.Integer({ minimum: 0, maximum: 1 }),
      lastEdgeAt: Timestamp,
    }),
    { maxItems: 128 },
  ),
  lost: Type.Integer({ minimum: 0 }),
});
export const RenewMsg = Obj({ v: V, type: Type.Literal('renew'), csr: Type.String({ maxLength: 16384 }) });
/** The answer to `logs`: JSON log lines, numbered; `first` is the oldest the agent still keeps, `last` the newest it wrote. */
export const LogLinesMsg = Obj({
  v: V,
  type: Type.Literal('log-lines'),
  id: Type.String({ minLength: 1, maxLength: 64 }),
  lines: Type.Array(Obj({ seq: Seq, line: Type.String({ maxLength: 8192 }) }), { maxItems: 1000 }),
  first: Seq,
  last: Seq,
});
/** An agent's log lines as REST gives them. */
export const AgentLogLines = Obj({
  node: Name,
  lines: Type.Array(Obj({ seq: Seq, line: Type.String() })),
  first: Seq,
  last: Seq,
});
export type AgentLogLines = Static<typeof AgentLogLines>;
export const RefusedMsg = Obj({
  v: V,
  type: Type.Literal('refused'),
  refType: Type.String({ maxLength: 64 }),
  seq: Type.Union([Seq, Type.Null()]),
  reason: Type.String({ maxLength: 64 }),
  message: Type.String({ maxLength: 4096 }),
  problems: Type.Array(Obj({ path: Type.String(), message: Type.String(), code: Type.String() }), { maxItems: 100 }),
});

/** Per type, the schema of a message the agent accepts. */
export const DOWN_SCHEMAS: Record<string, TSchema> = {
  desired: DesiredMsg,
  renewed: RenewedMsg,
  'safe-state': SafeStateMsg,
  logs: LogsMsg,
};
/** Per type, the schema of a message the control plane accepts. */
export const UP_SCHEMAS: Record<string, TSchema> = {
  hello: HelloMsg,
  applied: AppliedMsg,
  health: HealthMsg,
  event: EventMsg,
  edges: EdgesMsg,
  renew: RenewMsg,
  refused: RefusedMsg,
  'log-lines': LogLinesMsg,
};

export type DesiredMsg = Static<typeof DesiredMsg>;
export type HelloMsg = Static<typeof HelloMsg>;
export type AppliedMsg = Static<typeof AppliedMsg>;
export type HealthMsg = Static<typeof HealthMsg>;
export type EventMsg = Static<typeof EventMsg>;
export type EdgesMsg = Static<typeof EdgesMsg>;
export type RenewMsg = Static<typeof RenewMsg>;
export type RefusedMsg = Static<typeof RefusedMsg>;
export type RenewedMsg = Static<typeof RenewedMsg>;
export type LogsMsg = Static<typeof LogsMsg>;
export type LogLinesMsg = Static<typeof LogLinesMsg>;

/** Enrolment request (HTTPS POST /enrol on the agent endpoint) and its answer. */
export const EnrolRequest = Obj({
  token: Type.String({ minLength: 1, maxLength: 256 }),
  csr: Type.String({ minLength: 1, maxLength: 16384 }),
});
export type EnrolRequest = Static<typeof EnrolRequest>;
export interface EnrolResponse {
  node: string;
  cert: string;
  ca: string;
}

/** What REST shows about one agent. */
export const AgentInfo = Obj({
  node: Name,
  nodeId: Type.String(),
  connected: Type.Boolean(),
  since: Type.Union([Timestamp, Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  simulated: Type.Union([Type.Boolean(), Type.Null()]),
  health: Type.Union([Health, Type.Null()]),
  applied: Type.Array(AppliedItem),
  certificates: Type.Array(Obj({ serial: Type.String(), notAfter: Timestamp, revoked: Type.Boolean() })),
});
export type AgentInfo = Static<typeof AgentInfo>;

/** Parses a raw message: `{ ok, msg }` or `{ ok: false, reason, problems }` (checked against `schemas`). */
export type Parsed<T> =
  | { ok: true; msg: T }
  | {
      ok: false;
      type: string;
      seq: number | null;
      reason: string;
      message: string;
      problems: { path: string; message: string; code: string }[];
    };

/**
 * Parses and validates one raw WebSocket message against the schema of its type. Never throws:
 * bad JSON, an unknown version or type, and schema failures come back as a refusal with a reason.
 */
export function parseMessage<T>(validator: Validator, schemas: Record<string, TSchema>, raw: string): Parsed<T> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { ok: false, type: 'unknown', seq: null, reason: 'BadJson', message: (err as Error).message, problems: [] };
  }
  const o = (value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  const type = typeof o.type === 'string' ? o.type.slice(0, 64) : 'unknown';
  const seq = typeof o.seq === 'number' && Number.isSafeInteger(o.seq) && o.seq >= 0 ? o.seq : null;
  if (o.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      type,
      seq,
      reason: 'UnsupportedVersion',
      message: `protocol version ${JSON.stringify(o.v)} is not ${PROTOCOL_VERSION}`,
      problems: [],
    };
  }
  const schema = schemas[type];
  if (!schema)
    return { ok: false, type, seq, reason: 'UnknownType', message: `unknown message type ${JSON.stringify(o.type)}`, problems: [] };
  const problems = validator.problems(schema, value);
  if (problems.length)
    return {
      ok: false,
      type,
      seq,
      reason: 'InvalidMessage',
      message: `${type} message failed validation`,
      problems: problems.slice(0, 100),
    };
  return { ok: true, msg: value as T };
}
