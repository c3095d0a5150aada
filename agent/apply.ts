/**
 * Applies a desired snapshot through one reconciler per kind, in this order: the claims of every
 * kind are checked first (gpio.ts), then PWM outputs are brought to the snapshot (pwm.ts; what it
 * releases may be a pin a GPIO object now takes), then GPIO pins, then I2C pollers (i2c.ts; the
 * first read of a new device is awaited, so a device that does not answer is reported at once).
 * The GPIO reconciler's pin memory is kept in the state directory (`pins.json`, 0600).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppliedItem, DesiredItem, DesiredOf } from '../src/api/agent.js';
import type { HwKind } from '../src/api/hardware.js';
import type { RegisterChip, Level } from '../src/hw/index.js';
import { writeSecret } from './enrol.js';
import { GpioReconciler, type ApplyResult, type PinMemory } from './gpio.js';
import { I2cReconciler, type I2cBuses } from './i2c.js';
import { PwmReconciler, type PwmBackends } from './pwm.js';

export interface ReconcilersOptions {
  chip: RegisterChip;
  /** Where the pin memory is kept. */
  stateDir: string;
  /** Hardware and software PWM; without them PWM objects fail with NoPwmAccess. */
  pwm?: PwmBackends;
  /** I2C buses; without them I2C objects fail with HardwareError. */
  i2c?: I2cBuses;
  /** How often an I2C decoder measures (default 1000 ms). */
  decoderIntervalMs?: number;
  /** Called when a polled I2C device's readings or state changed. */
  onReadings: () => void;
}

export class Reconcilers {
  readonly #memFile: string;
  readonly #gpio: GpioReconciler;
  readonly #pwm: PwmReconciler;
  readonly #i2c: I2cReconciler;
  /** The pin memory as last written. */
  #savedMemory = '';

  constructor(opts: ReconcilersOptions) {
    this.#memFile = join(opts.stateDir, 'pins.json');
    const memory: PinMemory = existsSync(this.#memFile) ? (JSON.parse(readFileSync(this.#memFile, 'utf8')) as PinMemory) : { pulls: {} };
    this.#gpio = new GpioReconciler({ chip: opts.chip, memory });
    this.#pwm = new PwmReconciler({
      chip: opts.chip,
      ...(opts.pwm ? { backends: opts.pwm } : {}),
      pull: (pin, pull) => this.#gpio.setPull(pin, pull),
    });
    this.#i2c = new I2cReconciler({
      ...(opts.i2c ? { buses: opts.i2c } : {}),
      onChange: opts.onReadings,
      ...(opts.decoderIntervalMs ? { decoderIntervalMs: opts.decoderIntervalMs } : {}),
    });
  }

  /**
   * Applies a snapshot (see the module comment for the order) and keeps the pin memory.
   * `invalid`: objects of the snapshot refused already (kept specs that fail the schema).
   * Resolves with a report per object, the invalid ones last.
   */
  async apply(items: DesiredItem[], invalid: ReadonlyMap<string, AppliedItem> = new Map()): Promise<ApplyResult> {
    const refused = new Map([...invalid, ...this.#gpio.check(items)]);
    const accepted = <K extends HwKind>(kind: K) =>
      items.filter((it): it is DesiredOf<K> => it.kind === kind && !refused.has(`${kind}/${it.name}`));
    for (const [k, v] of this.#pwm.check(accepted('pwm'))) refused.set(k, v);
    for (const [k, v] of this.#i2c.check(accepted('i2c'))) refused.set(k, v);
    const pwm = this.#pwm.apply(accepted('pwm'));
    const gpio = this.#gpio.apply(items, refused);
    const i2c = await this.#i2c.apply(accepted('i2c'));
    this.#saveMemory();
    const byKey = new Map([...refused.values(), ...pwm, ...gpio.items, ...i2c].map((it) => [`${it.kind}/${it.name}`, it]));
    return { items: [...items.map((it) => byKey.get(`${it.kind}/${it.name}`)!), ...invalid.values()], changed: gpio.changed };
  }

  /** The current level of every GPIO pin a snapshot claims. */
  levels(items: readonly DesiredItem[]): Map<number, Level> {
    return this.#gpio.levels(items);
  }

  /** The current report of every polled I2C device (marks them reported). */
  readings(): AppliedItem[] {
    return this.#i2c.reports();
  }

  /** Software PWM stops at its idle level, hardware PWM runs on; I2C polling stops. */
  close(): void {
    this.#pwm.close();
    this.#i2c.close();
  }

  /** Writes the pin memory when it changed since the last write. */
  #saveMemory(): void {
    const text = JSON.stringify(this.#gpio.memory);
    if (text === this.#savedMemory) return;
    writeSecret(this.#memFile, text);
    this.#savedMemory = text;
  }
}
