/**
 * The GPIOPin, PWMController and I2CDevice CustomResourceDefinitions, generated from the same
 * TypeBox schemas that validate the REST API (src/api/hardware.ts): the CR spec is the REST spec
 * plus `nodeName`. `crds/*.yaml` is written by {@link writeCrds} (`npm run gen:crds`); a test
 * regenerates it and fails on any difference.
 *
 * TypeBox emits JSON Schema; a Kubernetes structural schema differs in a few ways, converted here:
 * - `additionalProperties: false` beside `properties` is refused. Left at that, the API server
 *   would prune unknown fields, so a misspelt spec field (`valu: 1`) would vanish silently (1.20
 *   has no strict field validation). Every object in `spec` is therefore marked
 *   `x-kubernetes-preserve-unknown-fields` (still structural): the field is kept as written, and
 *   our own validation (validate.ts, the closed TypeBox schema) refuses it with InvalidSpec and
 *   its path. `status` is ours and keeps pruning.
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
    achievedFrequencyHz: Type.Optional(Type.Number({ description: 'frequency the clock divider really gives' })),
    achievedDutyCycle: Type.Optional(Type.Number({ description: 'duty cycle the range and data registers really give' })),
    implementation: Type.Optional(Type.String({ description: 'hardware or software, as chosen on the node' })),
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
  },
  { description: 'what the hardware did' },
);

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
    { nodeName: { ...Name, description: 'name of the node (Raspberry Pi) whose hardware this is' } as TSchema, ...props },
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
  priority: 1,
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
      { name: 'Mode', type: 'string', jsonPath: '.spec.implementation', description: 'hardware, software or auto' },
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
      { name: 'Address', type: 'integer', jsonPath: '.spec.address', description: '7-bit address' },
      { name: 'Decoder', type: 'string', jsonPath: '.spec.decoder', description: 'named decoder' },
      PHASE,
      REASON,
      AGE,
    ],
  },
};

/** Descriptions for fields whose REST schema carries none, by property name. */
const FALLBACK: Record<string, string> = {
  polarity: 'normal: active high; inversed: the output is low for the duty part of the period',
  enabled: 'false stops the output and leaves the pin low (inactive)',
  registers: 'registers to read, each with its own poll interval and data type',
  name: 'name the reading is reported under in status.readings',
  scale: 'factor the raw value is multiplied by before it is reported',
  type: 'how the bytes read are decoded: unsigned/signed, 8-32 bits, big/little endian, or raw bytes',
};

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

/** Marks every object schema under `s` (itself included) to keep unknown fields; see the module comment. */
export function keepUnknown(s: Json): Json {
  const out: Json = { ...s };
  if (out.type === 'object') out['x-kubernetes-preserve-unknown-fields'] = true;
  if (out.properties)
    out.properties = Object.fromEntries(Object.entries(out.properties as Record<string, Json>).map(([k, v]) => [k, keepUnknown(v)]));
  if (out.items) out.items = keepUnknown(out.items as Json);
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
                spec: keepUnknown(toStructural(k.spec, '/spec')),
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
