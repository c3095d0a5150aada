/**
 * What the agent's PWM and I2C reconcilers run on. On a Pi ({@link realBackends}): hardware PWM
 * through /dev/mem (PWM and clock manager pages) and /dev/gpiomem(0), software PWM in the native
 * timing thread, I2C through the kernel's /dev/i2c-N. Each is opened on first use, so an agent
 * with no PWM object needs no access to /dev/mem.
 *
 * The simulated hardware an agent runs on off a Pi (`--sim`), beside the GPIO model's page file:
 * - hardware PWM: the real register code of src/hw/pwm.ts over a register-page file in the state
 *   directory (`pwm.sim`: the clock manager page at 0, the PWM page at 4096) with ALT routing in
 *   the GPIO page file, so a restarted agent finds the PWM registers as the last run left them;
 * - software PWM: the native timing thread over its own behavioural GPIO block;
 * - I2C: virtual buses carrying behavioural sensor models (VirtualBme280, VirtualAds1115). They
 *   answer the real drivers' transfers as the chips would, from an environment set in the
 *   configuration; they are models, not measurements. By default bus 1 carries a BME280 at 0x76
 *   (21.5 °C, 1013.25 hPa, 45 %) and an ADS1115 at 0x48 (AIN0-3 at 0.5, 1.25, 2.5, 3.3 V).
 *   `--sim-i2c file.json` replaces that: `{ "1": { "0x76": { "type": "bme280", "temperatureC": 30 } } }`.
 *
 * Both timing engines for software PWM (here and in {@link realBackends}) are opened with
 * `recordEdges: false`: nothing in the agent reads the edge record, which would otherwise grow
 * to about 12 MB in an agent that runs a software PWM for a minute or more.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Obj } from '../src/api/common.js';
import { Validator } from '../src/api/validate.js';
import type { SocName } from '../src/hw/index.js';
import { openHardwarePwm } from '../src/hw/pwm.js';
import { TimingEngine } from '../src/hw/pwm-engine.js';
import { VirtualI2cBus, type VirtualI2cDevice } from '../src/hw/devices/register-bus.js';
import { VirtualBme280 } from '../src/hw/devices/virtual-bme280.js';
import { VirtualAds1115 } from '../src/hw/devices/ads1115.js';
import { I2cBus } from '../src/hw/i2c.js';
import type { PwmBackends } from './pwm.js';
import type { I2cBuses } from './i2c.js';
import { AgentError } from './errors.js';

const SimBme280 = Obj({
  type: Type.Literal('bme280'),
  temperatureC: Type.Optional(Type.Number({ minimum: -40, maximum: 85 })),
  pressurePa: Type.Optional(Type.Number({ minimum: 30_000, maximum: 110_000 })),
  humidityPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
});
const SimAds1115 = Obj({
  type: Type.Literal('ads1115'),
  inputs: Type.Optional(Type.Array(Type.Number({ minimum: -0.3, maximum: 5.5 }), { minItems: 4, maxItems: 4 })),
});
/** Simulated I2C devices: bus number → address ("0x76" or "118") → device. */
export const SimI2cConfig = Type.Record(
  Type.String({ pattern: '^([0-9]|[12][0-9]|3[01])$' }),
  Type.Record(Type.String({ pattern: '^(0x[0-7][0-9a-fA-F]|[0-9]{1,3})$' }), Type.Union([SimBme280, SimAds1115])),
);
export type SimI2cConfig = Static<typeof SimI2cConfig>;

const DEFAULT_SIM_I2C: SimI2cConfig = {
  1: {
    '0x76': { type: 'bme280', temperatureC: 21.5, pressurePa: 101_325, humidityPercent: 45 },
    '0x48': { type: 'ads1115', inputs: [0.5, 1.25, 2.5, 3.3] },
  },
};

/** Reads and checks a `--sim-i2c` file. @throws AgentError SIM_I2C_INVALID naming every problem. */
export function readSimI2c(file: string): SimI2cConfig {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AgentError('SIM_I2C_INVALID', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const problems = new Validator().problems(SimI2cConfig, v);
  const bad = problems.map((p) => `${p.path || '/'}: ${p.message}`);
  for (const devices of Object.values(problems.length ? {} : (v as SimI2cConfig))) {
    for (const a of Object.keys(devices)) {
      const addr = Number(a);
      if (!(addr >= 0x03 && addr <= 0x77)) bad.push(`${a}: not a 7-bit device address (0x03-0x77)`);
    }
  }
  if (bad.length) throw new AgentError('SIM_I2C_INVALID', `invalid simulated I2C devices in ${file}: ${bad.join('; ')}`);
  return v as SimI2cConfig;
}

/** Virtual buses built from a configuration; the device models stay reachable (tests change their environment). */
function simI2cBuses(config: SimI2cConfig = DEFAULT_SIM_I2C): I2cBuses & { devices: Map<string, VirtualI2cDevice> } {
  const buses = new Map<number, VirtualI2cBus>();
  const devices = new Map<string, VirtualI2cDevice>();
  for (const [b, devs] of Object.entries(config)) {
    const bus = new VirtualI2cBus();
    for (const [a, d] of Object.entries(devs)) {
      const addr = Number(a);
      let dev: VirtualI2cDevice;
      if (d.type === 'bme280') {
        dev = new VirtualBme280({
          temperatureC: d.temperatureC ?? 21.5,
          pressurePa: d.pressurePa ?? 101_325,
          humidityPercent: d.humidityPercent ?? 45,
        });
      } else {
        const adc = new VirtualAds1115();
        if (d.inputs) adc.inputs = [...d.inputs] as [number, number, number, number];
        dev = adc;
      }
      bus.attach(addr, dev);
      devices.set(`${Number(b)}:${addr}`, dev);
    }
    buses.set(Number(b), bus);
  }
  // A bus with nothing configured is still there: every address answers with no acknowledge.
  return { open: (n) => buses.get(n) ?? new VirtualI2cBus(), devices };
}

/**
 * PWM over files in `stateDir`: `pwm.sim` for the clock manager and PWM pages (created zeroed,
 * as registers are after reset) and `gpioPage` (the GPIO model's page) for the ALT routing.
 */
function simPwmBackends(stateDir: string, soc: SocName, gpioPage: string, opts: { trace?: boolean } = {}): PwmBackends {
  const pages = join(stateDir, 'pwm.sim');
  if (!existsSync(pages)) writeFileSync(pages, Buffer.alloc(8192));
  return {
    openHardware: () =>
      openHardwarePwm({ soc, memPath: pages, gpioPath: gpioPage, offsets: { cm: 0, pwm: 4096 }, trace: opts.trace ?? false }),
    openEngine: () => new TimingEngine({ soc, simulate: true, recordEdges: false }),
  };
}

/** The hardware of a Pi (see the module comment). */
export function realBackends(soc: SocName): { pwm: PwmBackends; i2c: I2cBuses } {
  return {
    pwm: { openHardware: () => openHardwarePwm({ soc }), openEngine: () => new TimingEngine({ soc, recordEdges: false }) },
    i2c: { open: (n) => I2cBus.open(n) },
  };
}

/** The simulated hardware of an agent whose GPIO model page is `gpioPage` (see the module comment). */
export function simBackends(
  stateDir: string,
  soc: SocName,
  gpioPage: string,
  i2c?: SimI2cConfig,
  opts: { trace?: boolean } = {},
): { pwm: PwmBackends; i2c: I2cBuses & { devices: Map<string, VirtualI2cDevice> } } {
  return { pwm: simPwmBackends(stateDir, soc, gpioPage, opts), i2c: simI2cBuses(i2c) };
}
