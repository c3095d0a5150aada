/**
 * Desired hardware state per node: GPIO pins, PWM channels and I2C devices.
 *
 * The `*Spec` schemas are exactly what the CRDs (`GPIOPin`, `PWMController`, `I2CDevice`)
 * carry in `spec` (plus `nodeName`), and what the agent receives. They use only
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

/**
 * BCM GPIO number: 0-53 on BCM2835-2837 and the Pi 5's RP1, 0-57 on BCM2711. The schema allows
 * the widest; the node's SoC decides (a pin it lacks is refused with a reason).
 */
export const BcmPin = bcmPin(
  "BCM GPIO number (not the physical header pin): 0-53 on BCM2835-2837 (Pi 1-3, Zero) and on the Pi 5 (RP1), 0-57 on BCM2711 (Pi 4, 400, CM4); the 40-pin header carries GPIO2-27. A pin the node's SoC lacks, and GPIO0/1 (the HAT ID EEPROM bus), are refused with a reason in status",
);
function bcmPin(description: string) {
  return Type.Integer({ minimum: 0, maximum: 57, description });
}

export const GpioSpec = Obj(
  {
    pin: BcmPin,
    mode: StringEnum(['input', 'output'], {
      description: 'direction: input (status shows the level read) or output (driven to value)',
    }),
    pull: Type.Optional(
      StringEnum(['none', 'up', 'down'], {
        default: 'none',
        description: 'internal pull resistor (about 50 kOhm): up to 3.3 V, down to ground, or none; for inputs and outputs alike',
      }),
    ),
    value: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1,
        description: 'logical level to drive, after activeLow; only for outputs (mode: output); an output without it is driven to 0',
      }),
    ),
    activeLow: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'invert the logical value: value 1 drives the pin low, and an input that reads low shows value 1 in status',
      }),
    ),
    edge: Type.Optional(
      StringEnum(['none', 'rising', 'falling', 'both'], {
        default: 'none',
        description: 'which level changes to count into status.edgeCount (and report as events); only for inputs (mode: input)',
      }),
    ),
    debounceMicros: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description:
          'ignore an edge closer than this to the one before, in microseconds (1000000 = 1 s); only for inputs with edge rising, falling or both',
      }),
    ),
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
    pin: bcmPin(
      'BCM GPIO number (0-57, as for GPIOPin). Hardware PWM exists on GPIO12, 13, 18 and 19 on every Pi (also 40, 41 on BCM2711; 40, 41, 45 on BCM2835-2837; 14, 15 on the Pi 5); software PWM runs on any pin',
    ),
    frequencyHz: Type.Number({
      exclusiveMinimum: 0,
      maximum: 50_000_000,
      description:
        'PWM frequency in Hz (1000 = 1 kHz); software PWM up to 100000 (100 kHz). status.achievedFrequencyHz shows what the clock divider gives',
    }),
    dutyCycle: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'fraction of each period the output is active: 0 (always off) to 1 (always on), e.g. 0.25 for 25 %',
    }),
    implementation: Type.Optional(
      StringEnum(['hardware', 'software', 'auto'], {
        default: 'auto',
        description:
          "hardware: the SoC's PWM block (only on PWM pins, else NoHardwarePwm); software: the agent's native timing thread, any pin, up to 100 kHz; auto: hardware where the pin has it, else software. status.implementation shows the choice",
      }),
    ),
    polarity: Type.Optional(
      StringEnum(['normal', 'inversed'], {
        default: 'normal',
        description:
          'normal: the output is high for the duty part of each period and idles low; inversed: low for the duty part, idles high',
      }),
    ),
    enabled: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'false stops the output and leaves the pin an output at its idle level (low; high with polarity inversed)',
      }),
    ),
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

export const I2cDataType = StringEnum(['u8', 's8', 'u16be', 'u16le', 's16be', 's16le', 'u24be', 'u32be', 's32be', 'bytes'], {
  description:
    'how the bytes read are decoded: u8/s8 (1 byte), u16be/u16le/s16be/s16le (2), u24be (3), u32be/s32be (4): u unsigned, s signed, be big endian (first byte most significant), le little endian; bytes: length raw bytes, reported as a list',
});

export const I2cRegister = Obj(
  {
    name: Type.String({
      pattern: '^[a-zA-Z][a-zA-Z0-9_]*$',
      maxLength: 63,
      description: 'name the value is reported under in status.readings: a letter, then letters, digits or _ (at most 63)',
    }),
    register: Type.Integer({ minimum: 0, maximum: 255, description: 'register (command) byte the read starts at, 0-255 (0x00-0xff)' }),
    type: I2cDataType,
    length: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 32, description: 'bytes to read, 1-32; only for type bytes, and required there' }),
    ),
    pollIntervalMs: Type.Integer({
      minimum: 10,
      maximum: 86_400_000,
      description: 'how often the agent reads it, in milliseconds (1000 = 1 s; 86400000 = 1 day)',
    }),
    scale: Type.Optional(
      Type.Number({
        description: 'factor the decoded value is multiplied by before it is reported (e.g. 0.01); not applied to type bytes',
      }),
    ),
  },
  { description: 'one register (or run of registers) to read' },
);
export type I2cRegister = Static<typeof I2cRegister>;

export const I2cSpec = Obj(
  {
    bus: Type.Integer({
      minimum: 0,
      maximum: 31,
      description: "I2C bus number N, the node's /dev/i2c-N (0-31); bus 1 is the one on the 40-pin header (GPIO2 SDA, GPIO3 SCL)",
    }),
    address: Type.Integer({
      minimum: 0x03,
      maximum: 0x77,
      description: '7-bit device address, 3-119 (0x03-0x77); YAML takes hex as written (address: 0x76)',
    }),
    decoder: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9-]*$',
        maxLength: 63,
        description:
          "named decoder that measures and converts the chip's values every second: bme280 (address 0x76 or 0x77; temperatureC, pressureHPa, humidityPercent) or ads1115 (0x48-0x4b; ain0Volts-ain3Volts). Give a decoder, registers, or both",
      }),
    ),
    registers: Type.Optional(
      Type.Array(I2cRegister, {
        maxItems: 64,
        description: 'raw registers to read, at most 64, each with its own poll interval and data type. Give registers, a decoder, or both',
      }),
    ),
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
