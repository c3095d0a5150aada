/**
 * Hardware PWM: the BCM2835-2837/BCM2711 PWM blocks fed by the clock manager's PWM clock, and the
 * RP1's PWM0 block on a Pi 5. Given a frequency and duty cycle the native solver picks the clock
 * source, integer divisor and range that come closest (right oscillator and PLLD per SoC: 19.2 MHz
 * and 500 MHz on BCM2835-2837, 54 MHz and 750 MHz on the BCM2711; a fixed 50 MHz on RP1) and
 * reports what was actually achieved. Bad input is refused with a coded error before any register
 * is written.
 */
import { loadAddon, type LoadAddonOptions } from './addon.js';
import { HwError } from './errors.js';
import type { NativeAddon, SocName } from './native.js';

/** What a PWM request resolved to: the achieved output and the settings that give it. */
export interface PwmResult {
  /** Achieved frequency, Hz (clock / divisor / steps). */
  frequencyHz: number;
  /** Achieved duty cycle, 0..1 (highTicks / steps). */
  duty: number;
  /** Resolution: PWM clock ticks per period (duty can change in 1/steps increments). */
  steps: number;
  highTicks: number;
  /** The PWM clock after the divisor, Hz. */
  clockHz: number;
  /** Clock manager source: 'oscillator' or 'plld' (BCM); 'fixed' on RP1. */
  source: 'oscillator' | 'plld' | 'fixed';
  divisor: number;
}

/** One register access of the PWM, CM, RP1_PWM0 or GPIO blocks, in order. */
export interface PwmTraceEntry {
  seq: number;
  op: 'read' | 'write' | 'delay';
  block: string | null;
  offset: number;
  value: number;
}

/** What the behavioural models latched (simulated mode). */
export interface PwmModelState {
  clockRunning?: boolean;
  clockSource?: number;
  clockDivisor?: number;
  /** Source or divisor changed while BUSY: the datasheet's glitch warning, caught. */
  violations?: number;
  badPassword?: number;
  /** Writes to CM_PWMCTL with KILL set (the fallback stop). */
  kills?: number;
  updates?: number;
  enabled?: number;
  channels?: { ctrl: number; range: number; duty: number }[];
}

interface NativeHwPwm {
  start(pin: number, frequencyHz: number, duty: number, inverted: boolean): PwmResult;
  stop(pin: number): void;
  solve(pin: number, frequencyHz: number, duty: number): PwmResult;
  peek(block: string, offset: number): number;
  trace(): PwmTraceEntry[];
  clearTrace(): void;
  modelState(): PwmModelState | null;
  close(): void;
}

/** What the native constructor takes: the public options, with the page offsets resolved. */
type NativeHwPwmOptions = Omit<OpenHardwarePwmOptions, 'offsets' | 'addon'> & {
  cmOffset?: number;
  pwmOffset?: number;
  gpioOffset?: number;
};

/** The typed face of `exports.timing` (native/bindings/pwm.cc and engine.cc). */
export interface TimingAddon {
  HwPwm: new (opts: NativeHwPwmOptions) => NativeHwPwm;
  TimingEngine: unknown;
}

/** The timing part of the addon, loaded through {@link loadAddon}. */
export function timingAddon(options: LoadAddonOptions = {}): TimingAddon {
  const addon = loadAddon(options) as NativeAddon & { timing?: TimingAddon };
  if (!addon.timing) throw new HwError('the addon has no timing peripherals', { code: 'EADDON_LOAD', peripheral: 'pwm' });
  return addon.timing;
}

/** Register offsets, named, for readable traces and tests. */
export const PWM_REG = { CTL: 0x00, STA: 0x04, RNG1: 0x10, DAT1: 0x14, RNG2: 0x20, DAT2: 0x24 } as const;
export const CM_REG = { PWMCTL: 0xa0, PWMDIV: 0xa4 } as const;
export const CM_PASSWD = 0x5a00_0000;
export const RP1_PWM_REG = {
  GLOBAL_CTRL: 0x00,
  chanCtrl: (n: number) => 0x14 + 0x10 * n,
  range: (n: number) => 0x18 + 0x10 * n,
  phase: (n: number) => 0x1c + 0x10 * n,
  duty: (n: number) => 0x20 + 0x10 * n,
} as const;

/** Clock sources per SoC family, Hz. */
export const PWM_CLOCKS: Record<'bcm2835' | 'bcm2711' | 'rp1', { oscillator: number; plld: number }> = {
  bcm2835: { oscillator: 19.2e6, plld: 500e6 },
  bcm2711: { oscillator: 54e6, plld: 750e6 },
  rp1: { oscillator: 50e6, plld: 50e6 },
};

function family(soc: SocName): 'bcm2835' | 'bcm2711' | 'rp1' {
  return soc === 'bcm2711' ? 'bcm2711' : soc === 'rp1' ? 'rp1' : 'bcm2835';
}

/**
 * Output of a BCM PWM channel in M/S mode computed from its register values alone: the clock
 * (CM_PWMCTL source, CM_PWMDIV integer part) over RNG, and DAT/RNG.
 */
export function bcmPwmFromRegisters(
  soc: SocName,
  regs: { cmCtl: number; cmDiv: number; rng: number; dat: number },
): { frequencyHz: number; duty: number } {
  const clocks = PWM_CLOCKS[family(soc)];
  const src = regs.cmCtl & 0xf;
  const hz = src === 1 ? clocks.oscillator : src === 6 ? clocks.plld : NaN;
  const divi = (regs.cmDiv >>> 12) & 0xfff;
  return { frequencyHz: hz / divi / regs.rng, duty: Math.min(regs.dat, regs.rng) / regs.rng };
}

/** Output of an RP1 PWM channel from its latched RANGE and DUTY (a period is RANGE + 1 ticks). */
export function rp1PwmFromRegisters(regs: { range: number; duty: number }): { frequencyHz: number; duty: number } {
  const ticks = regs.range + 1;
  return { frequencyHz: 50e6 / ticks, duty: Math.min(regs.duty, ticks) / ticks };
}

/** Physical addresses of the PWM-related pages, per SoC (BCM bus 0x7E000000 maps to the base). */
const PHYS: Record<'bcm2835' | 'bcm2836' | 'bcm2837' | 'bcm2711' | 'rp1', { cm?: number; pwm: number }> = {
  bcm2835: { cm: 0x2010_1000, pwm: 0x2020_c000 },
  bcm2836: { cm: 0x3f10_1000, pwm: 0x3f20_c000 },
  bcm2837: { cm: 0x3f10_1000, pwm: 0x3f20_c000 },
  bcm2711: { cm: 0xfe10_1000, pwm: 0xfe20_c000 },
  // RP1 PWM0 at RP1 0x40098000, i.e. BAR1 0x1F_0000_0000 + 0x98000.
  rp1: { pwm: 0x1f_0009_8000 },
};

/** PWM pins per family: GPIO → channel label (a pure table in src/api/soc.ts, shared with the control plane). */
export { PWM_PINS } from '../api/soc.js';

export interface OpenHardwarePwmOptions {
  soc: SocName;
  /** Behavioural models over anonymous pages instead of the device (no Pi needed). */
  simulate?: boolean;
  /** Record every register access (see {@link HardwarePwm.trace}). */
  trace?: boolean;
  /**
   * Simulated mode only: a clock generator that does not stop. `'untilKill'`: clearing ENAB never
   * clears BUSY, KILL does; `'always'`: BUSY never clears (a retune then fails with ETIMEDOUT).
   * Default: BUSY clears two reads after the stop, as a healthy generator finishing its cycle.
   */
  modelBusyStuck?: 'untilKill' | 'always';
  /** Stop the channels on close (default: outputs are left running). */
  stopOnClose?: boolean;
  /** Where the PWM and clock manager pages are mapped from. Default /dev/mem. */
  memPath?: string;
  /** The GPIO window for ALT routing. Default /dev/gpiomem (BCM) or /dev/gpiomem0 (RP1). */
  gpioPath?: string;
  /**
   * Where in `memPath` the clock manager and PWM pages are (default: the SoC's physical
   * addresses). A register-page file for the simulator puts them at `{ cm: 0, pwm: 4096 }`.
   */
  offsets?: { cm?: number; pwm?: number };
  addon?: LoadAddonOptions;
}

/** Hardware PWM of one SoC. Not for channels the kernel's pwm driver owns (use sysfs PWM then). */
export class HardwarePwm {
  readonly soc: SocName;
  readonly #native: NativeHwPwm;

  constructor(options: OpenHardwarePwmOptions) {
    this.soc = options.soc;
    const phys = PHYS[options.soc as keyof typeof PHYS];
    if (phys === undefined)
      throw new HwError(`EINVAL: no hardware PWM known for ${String(options.soc)}`, { code: 'EINVAL', peripheral: 'pwm' });
    const { HwPwm } = timingAddon(options.addon);
    this.#native = new HwPwm({
      soc: options.soc,
      simulate: options.simulate ?? false,
      trace: options.trace ?? false,
      stopOnClose: options.stopOnClose ?? false,
      ...(options.modelBusyStuck === undefined ? {} : { modelBusyStuck: options.modelBusyStuck }),
      memPath: options.memPath ?? '/dev/mem',
      ...(options.gpioPath === undefined ? {} : { gpioPath: options.gpioPath }),
      ...(phys.cm === undefined ? {} : { cmOffset: options.offsets?.cm ?? phys.cm }),
      pwmOffset: options.offsets?.pwm ?? phys.pwm,
      gpioOffset: 0,
    });
  }

  /**
   * Starts (or retunes) PWM on `pin`: the achieved frequency, duty and resolution.
   * @throws HwError EPWM_PIN (no hardware PWM on that pin), EPWM_FREQ (0, negative or above
   *   25 MHz, or unreachable), EPWM_DUTY (outside 0..1), EPWM_CLOCK (the shared BCM clock runs
   *   for another channel and cannot reach this frequency); nothing is written then. ETIMEDOUT
   *   when the BCM clock generator does not stop for a new divisor, neither on ENAB cleared nor
   *   on KILL (the channel is left disabled).
   */
  start(pin: number, frequencyHz: number, duty: number, options: { inverted?: boolean } = {}): PwmResult {
    return this.#native.start(pin, frequencyHz, duty, options.inverted ?? false);
  }

  /** The settings {@link start} would choose, computed without touching a register. */
  solve(pin: number, frequencyHz: number, duty: number): PwmResult {
    return this.#native.solve(pin, frequencyHz, duty);
  }

  /** Disables the channel of `pin`; the pin keeps its ALT function. */
  stop(pin: number): void {
    this.#native.stop(pin);
  }

  /** A register's current value ('PWM0', 'PWM1', 'CM', 'RP1_PWM0', 'GPIO'...), untraced. */
  peek(block: string, offset: number): number {
    return this.#native.peek(block, offset);
  }

  trace(): PwmTraceEntry[] {
    return this.#native.trace();
  }

  clearTrace(): void {
    this.#native.clearTrace();
  }

  /** What the simulated clock manager / RP1 PWM latched; null on hardware. */
  modelState(): PwmModelState | null {
    return this.#native.modelState();
  }

  /** Unmaps (and stops the channels with stopOnClose). Idempotent. */
  close(): void {
    this.#native.close();
  }
}

/** Opens hardware PWM for a SoC (see {@link OpenHardwarePwmOptions}). */
export function openHardwarePwm(options: OpenHardwarePwmOptions): HardwarePwm {
  return new HardwarePwm(options);
}
