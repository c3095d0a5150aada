/**
 * Desired hardware state per node: GPIO pins, PWM channels and I2C devices.
 *
 * The `*Spec` schemas are exactly what the CRDs (`GPIOPin`, `PWMController`, `I2CDevice`)
 * will carry in `spec` (plus `nodeName`), and what the agent receives. They use only
 * constructs that a Kubernetes structural schema accepts: enums instead of anyOf of
 * literals, closed objects, integer ranges.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Id, Name, Obj, StringEnum, Timestamp } from './common.js';

/*
 * releasePolicy has no schema `default` on purpose: the API server would then write it into every
 * stored object, and an agent of an earlier release (whose closed schema does not know the field)
 * would refuse every snapshot. The default is in the description and applied by the agent.
 */

/** BCM GPIO number: 0-53 on BCM2835/2711; the Pi 5's RP1 bank 0 uses 0-27 (checked by the agent). */
export const BcmPin = Type.Integer({ minimum: 0, maximum: 53, description: 'BCM GPIO number' });

export const GpioSpec = Obj(
  {
    pin: BcmPin,
    mode: StringEnum(['input', 'output'], { description: 'direction' }),
    pull: Type.Optional(StringEnum(['none', 'up', 'down'], { default: 'none', description: 'internal pull resistor' })),
    value: Type.Optional(Type.Integer({ minimum: 0, maximum: 1, description: 'logical output value (after activeLow)' })),
    activeLow: Type.Optional(Type.Boolean({ default: false, description: 'invert the logical value' })),
    edge: Type.Optional(
      StringEnum(['none', 'rising', 'falling', 'both'], { default: 'none', description: 'edge events to report (inputs)' }),
    ),
    debounceMicros: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'ignore edges closer than this' })),
    releasePolicy: Type.Optional(
      StringEnum(['leave', 'input', 'low'], {
        description:
          'what the node does with the pin when this object lets it go (deleted, moved to another pin or node): leave (the default) keeps it as it is, an output at its level; input makes it an input without pull (high impedance); low makes it an output driven low (electrical level 0, whatever activeLow says)',
      }),
    ),
  },
  { description: 'desired state of one GPIO line' },
);
export type GpioSpec = Static<typeof GpioSpec>;

export const PwmSpec = Obj(
  {
    pin: BcmPin,
    frequencyHz: Type.Number({ exclusiveMinimum: 0, maximum: 50_000_000, description: 'PWM frequency' }),
    dutyCycle: Type.Number({ minimum: 0, maximum: 1, description: 'fraction of the period the output is active' }),
    implementation: Type.Optional(
      StringEnum(['hardware', 'software', 'auto'], {
        default: 'auto',
        description: 'hardware PWM block, software (native thread), or hardware when the pin has it',
      }),
    ),
    polarity: Type.Optional(StringEnum(['normal', 'inversed'], { default: 'normal' })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    releasePolicy: Type.Optional(
      StringEnum(['stop', 'input'], {
        description:
          'what the node does with the pin when this object lets it go (deleted, moved to another pin or node, or to another implementation): stop (the default) stops the output and leaves the pin an output at its idle level (low; high with polarity inversed); input stops it and makes the pin an input without pull (high impedance). There is no leave: an output no object owns would run on with nothing to stop it',
      }),
    ),
  },
  { description: 'desired state of one PWM output' },
);
export type PwmSpec = Static<typeof PwmSpec>;

export const I2cDataType = StringEnum(['u8', 's8', 'u16be', 'u16le', 's16be', 's16le', 'u24be', 'u32be', 's32be', 'bytes']);

export const I2cRegister = Obj({
  name: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]*$', maxLength: 63 }),
  register: Type.Integer({ minimum: 0, maximum: 255, description: 'register (command) byte' }),
  type: I2cDataType,
  length: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, description: 'bytes to read when type is bytes' })),
  pollIntervalMs: Type.Integer({ minimum: 10, maximum: 86_400_000, description: 'how often the agent reads it' }),
  scale: Type.Optional(Type.Number({ description: 'multiply the raw value by this' })),
});
export type I2cRegister = Static<typeof I2cRegister>;

export const I2cSpec = Obj(
  {
    bus: Type.Integer({ minimum: 0, maximum: 31, description: 'I2C bus number (/dev/i2c-N)' }),
    address: Type.Integer({ minimum: 0x03, maximum: 0x77, description: '7-bit address' }),
    decoder: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', maxLength: 63, description: 'named decoder, e.g. bme280' })),
    registers: Type.Optional(Type.Array(I2cRegister, { maxItems: 64 })),
    releasePolicy: Type.Optional(
      StringEnum(['stop'], {
        description:
          'what the node does when this object lets the device go (deleted, moved to another bus, address or node): stop (the only choice, and the default) stops polling and closes the bus once no object reads it; nothing is written to the device',
      }),
    ),
  },
  { description: 'an I2C device to read (raw registers or a named decoder)' },
);
export type I2cSpec = Static<typeof I2cSpec>;

export const HW_KINDS = ['gpio', 'pwm', 'i2c'] as const;
export type HwKind = (typeof HW_KINDS)[number];
export interface HwSpecs {
  gpio: GpioSpec;
  pwm: PwmSpec;
  i2c: I2cSpec;
}
export const HW_SPEC_SCHEMAS = { gpio: GpioSpec, pwm: PwmSpec, i2c: I2cSpec } as const;

/** Status reported for a desired object (filled by the agent link when it arrives). */
export const HwStatus = Obj({
  phase: StringEnum(['Pending', 'Applied', 'Failed']),
  reason: Type.String(),
  observedGeneration: Type.Integer({ minimum: 0 }),
  actual: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  updatedAt: Type.Union([Timestamp, Type.Null()]),
});
export type HwStatus = Static<typeof HwStatus>;

/** The stored object: a named spec on a node with a generation counter, like a CR. */
export function HwObject(kind: HwKind): TSchema {
  return Obj({
    id: Id,
    kind: Type.Literal(kind),
    name: Name,
    nodeId: Id,
    generation: Type.Integer({ minimum: 1 }),
    spec: HW_SPEC_SCHEMAS[kind],
    status: HwStatus,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  });
}
export interface HwObject<K extends HwKind = HwKind> {
  id: string;
  kind: K;
  name: string;
  nodeId: string;
  generation: number;
  spec: HwSpecs[K];
  status: HwStatus;
  createdAt: string;
  updatedAt: string;
}

/**
 * Request body to create one: a name and a spec. Typed with `spec: TSchema` (the static
 * spec type is `HwSpecs[kind]`) because TypeScript cannot evaluate the per-kind union here.
 */
export function HwCreate(kind: HwKind): TObject<{ name: typeof Name; spec: TSchema }> {
  return Obj({ name: Name, spec: HW_SPEC_SCHEMAS[kind] });
}
/** Request body to replace one's spec. */
export function HwReplace(kind: HwKind): TObject<{ spec: TSchema }> {
  return Obj({ spec: HW_SPEC_SCHEMAS[kind] });
}
