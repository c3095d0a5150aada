/**
 * The GPIOPin, PWMController and I2CDevice CustomResourceDefinitions, generated from the same
 * TypeBox schemas that validate the REST API (src/api/hardware.ts): the CR spec is the REST spec
 * plus `nodeName`. `crds/*.yaml` is written by {@link writeCrds} (`npm run gen:crds`); a test
 * regenerates it and fails on any difference.
 *
 * TypeBox emits JSON Schema; a Kubernetes structural schema differs in a few ways, converted here:
 * - `additionalProperties: false` beside `properties` is refused; the API server prunes unknown
 *   fields instead. Marking `spec` `x-kubernetes-preserve-unknown-fields` would keep them for our
 *   validation to refuse, but a 1.20 API server then publishes `spec` without its properties in
 *   OpenAPI v2, so `kubectl explain` would show none of the fields. The spec therefore prunes, and
 *   fields a `kubectl apply` sent but the server dropped are found in the last-applied annotation
 *   instead ({@link droppedFields}).
 * - numeric `exclusiveMinimum: 0` (JSON Schema 2019) becomes `minimum: 0, exclusiveMinimum: true`.
 * - records (`patternProperties`) become `additionalProperties: <value schema>`, and `unknown`
 *   values `x-kubernetes-preserve-unknown-fields`.
 * Every field gets a description (`kubectl explain` teaches the API); the fields whose REST
 * schema has none are described here, and generation fails if any field is left without one.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Name, Obj, StringEnum } from '../api/common.js';
import { GpioSpec, I2cSpec, PwmSpec, type HwKind } from '../api/hardware.js';
import { stringify } from 'yaml';
import type { Problem } from '../api/errors.js';

export const GROUP = 'gpio.pi-controller.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Finalizer that holds a deleted object until its pin, channel or bus address is released. */
export const FINALIZER = `${GROUP}/release`;

/** One condition, as Kubernetes' own types carry it. */
export const Condition = Obj(
  {
    type: Type.String({ description: 'condition type; Ready is the one this controller sets' }),
    status: StringEnum(['True', 'False', 'Unknown'], { description: 'whether the condition holds' }),
    reason: Type.String({
      description:
        'machine-readable reason in CamelCase: Applied, Applying, PinBusy, ChannelBusy, NoHardwarePwm, NodeNotFound, AgentOffline, InvalidSpec, DeviceNotFound, HardwareError',
    }),
    message: Type.String({ description: 'human-readable detail' }),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'when status last changed' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'metadata.generation this condition was computed for' })),
  },
  { description: "one aspect of the object's state" },
);
export type Condition = Static<typeof Condition>;

export const Phase = StringEnum(['Pending', 'Ready', 'Failed'], {
  description:
    "Pending until the node applied this generation; Ready when it did; Failed when it cannot (see the Ready condition's reason)",
});
export type Phase = Static<typeof Phase>;

const common = {
  phase: Type.Optional(Phase),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'metadata.generation the controller last acted on' })),
  conditions: Type.Optional(Type.Array(Condition, { description: 'current conditions (Ready)' })),
  message: Type.Optional(Type.String({ description: 'detail of the current phase' })),
  updatedAt: Type.Optional(Type.String({ format: 'date-time', description: 'when the node last reported on this object' })),
};

export const GpioStatus = Obj(
  {
    ...common,
    value: Type.Optional(Type.Integer({ minimum: 0, maximum: 1, description: 'logical value the node reads back (after activeLow)' })),
    level: Type.Optional(Type.Integer({ minimum: 0, maximum: 1, description: 'electrical level the node reads back' })),
    mode: Type.Optional(StringEnum(['input', 'output'], { description: 'direction the pin is set to on the node' })),
    pull: Type.Optional(Type.String({ description: 'pull resistor the node applied' })),
    edgeCount: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'edges counted on an input whose spec sets edge (only the direction it asks for); absent for outputs and inputs with edge: none',
      }),
    ),
    lastEdgeTime: Type.Optional(Type.String({ format: 'date-time', description: 'when the last counted edge was seen' })),
  },
  { description: 'what the hardware did' },
);
export const PwmStatus = Obj(
  {
    ...common,
    achievedFrequencyHz: Type.Optional(
      Type.Number({
        description: 'frequency the output really has, in Hz: for hardware PWM computed from the clock divisor and range registers',
      }),
    ),
    achievedDutyCycle: Type.Optional(
      Type.Number({ description: 'duty cycle (0-1) the output really has: for hardware PWM data / range as the registers hold them' }),
    ),
    implementation: Type.Optional(
      Type.String({
        description: 'hardware or software: the implementation the node chose (spec auto picks hardware where the pin has it)',
      }),
    ),
    channel: Type.Optional(Type.String({ description: 'hardware PWM channel that drives the pin, e.g. PWM0_0 (block 0, channel 0)' })),
  },
  { description: 'what the hardware did' },
);
export const I2cStatus = Obj(
  {
    ...common,
    readings: Type.Optional(
      Type.Unsafe<Record<string, unknown>>({
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        description: 'last values read, by register or decoded field name',
      }),
    ),
    lastReadTime: Type.Optional(Type.String({ format: 'date-time', description: 'when the last reading was taken' })),
    addressHex: Type.Optional(Type.String({ description: 'spec.address in hex, e.g. 0x76 (for kubectl get)' })),
    lastReading: Type.Optional(
      Type.String({ description: 'the last readings on one line, name=value, values rounded to 4 decimals (for kubectl get)' }),
    ),
  },
  { description: 'what the hardware did' },
);

/**
 * The I2CDevice status fields that exist for `kubectl get` (a printer column cannot format):
 * the address in hex, and the readings on one line (name=value, numbers rounded to 4 decimals,
 * at most 200 characters).
 */
export function i2cDisplay(spec: Record<string, unknown> | undefined, readings: unknown): { addressHex?: string; lastReading?: string } {
  const out: { addressHex?: string; lastReading?: string } = {};
  if (typeof spec?.address === 'number') out.addressHex = `0x${spec.address.toString(16).padStart(2, '0')}`;
  if (readings && typeof readings === 'object' && !Array.isArray(readings)) {
    const parts = Object.entries(readings as Record<string, unknown>).map(
      ([k, v]) => `${k}=${typeof v === 'number' ? String(Math.round(v * 1e4) / 1e4) : JSON.stringify(v)}`,
    );
    const line = parts.join(' ');
    if (line) out.lastReading = line.length > 200 ? `${line.slice(0, 197)}...` : line;
  }
  return out;
}

/** The three kinds: names, columns and the REST spec each one carries. */
export interface KindInfo {
  hw: HwKind;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: TSchema;
  status: TSchema;
  columns: { name: string; type: string; jsonPath: string; description: string; priority?: number }[];
}

function withNode(spec: TSchema, description: string): TSchema {
  const props = (spec as unknown as { properties: Record<string, TSchema> }).properties;
  return Obj(
    {
      nodeName: {
        ...Name,
        description:
          'name of the node (Raspberry Pi) whose hardware this is: the name its agent enrolled with, which is also its Kubernetes Node name (lowercase letters, digits and -)',
      } as TSchema,
      ...props,
    },
    { description },
  );
}

const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'time since creation' };
const PHASE = { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Ready or Failed' };
const NODE = { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', description: 'node that owns the hardware' };
const PIN = { name: 'Pin', type: 'integer', jsonPath: '.spec.pin', description: 'BCM GPIO number' };
const REASON = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'why it is (not) Ready',
};

export const KINDS: Record<HwKind, KindInfo> = {
  gpio: {
    hw: 'gpio',
    kind: 'GPIOPin',
    plural: 'gpiopins',
    singular: 'gpiopin',
    shortNames: ['gpin', 'gpio'],
    description: 'One GPIO line of a node: direction, pull, output value, edge detection. Status shows what the pin really does.',
    spec: withNode(GpioSpec, 'desired state of one GPIO line on a node'),
    status: GpioStatus,
    columns: [
      NODE,
      PIN,
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'input or output' },
      { name: 'Value', type: 'integer', jsonPath: '.status.value', description: 'value read back from the pin' },
      PHASE,
      REASON,
      AGE,
    ],
  },
  pwm: {
    hw: 'pwm',
    kind: 'PWMController',
    plural: 'pwmcontrollers',
    singular: 'pwmcontroller',
    shortNames: ['pwm'],
    description:
      'One PWM output of a node: frequency, duty cycle, hardware or software. Status shows the frequency and duty the hardware achieves.',
    spec: withNode(PwmSpec, 'desired state of one PWM output on a node'),
    status: PwmStatus,
    columns: [
      NODE,
      PIN,
      {
        name: 'Implementation',
        type: 'string',
        jsonPath: '.status.implementation',
        description: 'hardware or software, as the node chose',
      },
      { name: 'Channel', type: 'string', jsonPath: '.status.channel', description: 'hardware PWM channel, e.g. PWM0_0' },
      { name: 'Frequency', type: 'number', jsonPath: '.status.achievedFrequencyHz', description: 'achieved frequency (Hz)' },
      { name: 'Duty', type: 'number', jsonPath: '.status.achievedDutyCycle', description: 'achieved duty cycle' },
      PHASE,
      REASON,
      AGE,
    ],
  },
  i2c: {
    hw: 'i2c',
    kind: 'I2CDevice',
    plural: 'i2cdevices',
    singular: 'i2cdevice',
    shortNames: ['i2cd', 'i2c'],
    description: 'One device on an I2C bus of a node: registers to poll or a named decoder. Status shows the last readings.',
    spec: withNode(I2cSpec, 'an I2C device on a node to read (raw registers or a named decoder)'),
    status: I2cStatus,
    columns: [
      NODE,
      { name: 'Bus', type: 'integer', jsonPath: '.spec.bus', description: 'I2C bus number' },
      { name: 'Address', type: 'string', jsonPath: '.status.addressHex', description: '7-bit address, in hex' },
      { name: 'Decoder', type: 'string', jsonPath: '.spec.decoder', description: 'named decoder' },
      { name: 'Reading', type: 'string', jsonPath: '.status.lastReading', description: 'the last readings' },
      PHASE,
      REASON,
      AGE,
    ],
  },
};

/** Descriptions for fields whose REST schema carries none, by property name (none left: src/api describes every field). */
const FALLBACK: Record<string, string> = {};

type Json = Record<string, unknown>;

/** JSON Schema (TypeBox) to a Kubernetes structural schema; see the module comment. */
export function toStructural(schema: TSchema, path = ''): Json {
  const s = JSON.parse(JSON.stringify(schema)) as Json;
  return convert(s, path);
}

function convert(s: Json, path: string): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'additionalProperties' && v === false) continue;
    if (k === 'exclusiveMinimum' && typeof v === 'number') {
      out.minimum = v;
      out.exclusiveMinimum = true;
      continue;
    }
    if (k === 'exclusiveMaximum' && typeof v === 'number') {
      out.maximum = v;
      out.exclusiveMaximum = true;
      continue;
    }
    if (k === 'patternProperties') {
      const values = Object.values(v as Record<string, Json>);
      out.additionalProperties = values[0] ? convert(values[0], `${path}/*`) : {};
      continue;
    }
    if (k === 'properties') {
      const props: Json = {};
      for (const [name, sub] of Object.entries(v as Record<string, Json>)) {
        const c = convert(sub, `${path}/${name}`);
        if (c.description === undefined && FALLBACK[name]) c.description = FALLBACK[name];
        if (c.description === undefined) throw new Error(`CRD schema: field ${path}/${name} has no description`);
        c.description = withFacts(c);
        props[name] = c;
      }
      out.properties = props;
      continue;
    }
    if (k === 'items') {
      out.items = convert(v as Json, `${path}[]`);
      continue;
    }
    out[k] = v;
  }
  // An object without declared properties (a record of unknowns) keeps what it is given.
  if (out.type === undefined && out.anyOf === undefined && out.enum === undefined) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

/**
 * A field's description followed by what its schema allows, in words: kubectl explain (against
 * a 1.20 API server, OpenAPI v2) shows only the type and the description, not enum, range or
 * default. Generated from the schema so the words cannot drift from the checks.
 */
export function withFacts(c: Json): string {
  const desc = String(c.description).replace(/\.?$/, '.');
  const facts: string[] = [];
  if (Array.isArray(c.enum))
    facts.push(c.enum.length === 1 ? `Allowed value: ${String(c.enum[0])}.` : `Allowed values: ${c.enum.join(', ')}.`);
  const min = c.minimum as number | undefined;
  const max = c.maximum as number | undefined;
  const lo = min === undefined ? undefined : c.exclusiveMinimum === true ? `greater than ${min}` : `${min}`;
  if (lo !== undefined && max !== undefined)
    facts.push(c.exclusiveMinimum === true ? `Range: ${lo}, at most ${max}.` : `Range: ${lo} to ${max}.`);
  else if (lo !== undefined) facts.push(c.exclusiveMinimum === true ? `Range: ${lo}.` : `At least ${lo}.`);
  else if (max !== undefined) facts.push(`At most ${max}.`);
  if (typeof c.maxLength === 'number') facts.push(`At most ${c.maxLength} characters.`);
  if (typeof c.maxItems === 'number') facts.push(`At most ${c.maxItems} items.`);
  if (c.default !== undefined) facts.push(`Default: ${JSON.stringify(c.default).replace(/^"(.*)"$/, '$1')}.`);
  return facts.length ? `${desc} ${facts.join(' ')}` : desc;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Spec fields a `kubectl apply` sent that the schema does not have: the API server dropped them
 * (structural pruning; 1.20 has no strict field validation), but kubectl keeps what it applied in
 * the last-applied-configuration annotation. Reported only while that annotation still describes
 * the object (each field it sets that the schema knows has the value the object has), so a later
 * patch or edit by other means is not judged by a stale file. Objects written without kubectl
 * apply carry no annotation: their unknown fields are dropped unseen.
 */
export function droppedFields(hw: HwKind, obj: { metadata?: { annotations?: Record<string, string> }; spec?: unknown }): Problem[] {
  const text = obj.metadata?.annotations?.[LAST_APPLIED];
  if (!text) return [];
  let applied: unknown;
  try {
    applied = (JSON.parse(text) as { spec?: unknown }).spec;
  } catch {
    return [];
  }
  const problems: Problem[] = [];
  const known = prune(applied, KINDS[hw].spec as unknown as Json, '/spec', problems);
  if (!problems.length || !isObj(known) || !isObj(obj.spec)) return [];
  const now = obj.spec;
  for (const [k, v] of Object.entries(known)) if (JSON.stringify(v) !== JSON.stringify(now[k])) return [];
  return problems;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `value` without the fields `schema` lacks (each one recorded as a problem), as the API server prunes. */
function prune(value: unknown, schema: Json, path: string, problems: Problem[]): unknown {
  if (Array.isArray(value)) return schema.items ? value.map((v, i) => prune(v, schema.items as Json, `${path}/${i}`, problems)) : value;
  if (!isObj(value) || !isObj(schema.properties)) return value;
  const props = schema.properties as Record<string, Json>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (props[k]) out[k] = prune(v, props[k], `${path}/${k}`, problems);
    else
      problems.push({
        path: `${path}/${k}`,
        code: 'unknown-field',
        message: `unknown field ${JSON.stringify(k)}: the API server dropped it (kubectl apply sent it); fix or remove it and apply again`,
      });
  }
  return out;
}

/** The CustomResourceDefinition object of one kind. */
export function crdFor(hw: HwKind): Json {
  const k = KINDS[hw];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'pi-controller' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
        categories: ['pi-controller', 'hardware'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'versioned schema of this object: gpio.pi-controller.io/v1alpha1' },
                kind: { type: 'string', description: `kind of this object: ${k.kind}` },
                metadata: { type: 'object' },
                spec: toStructural(k.spec, '/spec'),
                status: toStructural(k.status, '/status'),
              },
            },
          },
        },
      ],
    },
  };
}

/** The YAML text of one CRD file, as written to crds/<plural>.yaml. */
export function crdYaml(hw: HwKind): string {
  return `# Generated from src/api/hardware.ts by src/cluster/crds.ts (npm run gen:crds); do not edit.\n${stringify(crdFor(hw), { lineWidth: 0 })}`;
}

/** File name and text of every CRD. */
export function crdFiles(): { file: string; text: string }[] {
  return (['gpio', 'pwm', 'i2c'] as const).map((hw) => ({ file: `${KINDS[hw].plural}.yaml`, text: crdYaml(hw) }));
}
