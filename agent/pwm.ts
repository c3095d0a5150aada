/**
 * Applies PWMController objects: hardware PWM (the SoC's PWM block and clock) or software PWM
 * (the native timing thread), with the same "never surprise the hardware" rule as GPIO:
 * - `implementation: hardware` needs a pin routed to a PWM channel (PWM_PINS); any other pin is
 *   refused with NoHardwarePwm. `software` runs on any pin; `auto` is hardware when the pin has it.
 * - One object per PWM channel: GPIO12 and GPIO18 both drive PWM0 channel 0 on the BCM SoCs, so a
 *   second object on the channel is refused with ChannelBusy (a second object on the same pin gets
 *   PinBusy from the pin claims).
 * - Hardware PWM: before it writes, the agent reads the channel's registers (enable, mode and
 *   polarity bits, range, data, the clock's source and divisor, the pin's ALT function); when they
 *   already give what the spec asks, nothing is written. Re-applying a spec, an agent restart and a
 *   reconnect therefore write no PWM register. The achieved frequency and duty it reports are
 *   computed from the registers (bcmPwmFromRegisters / rp1PwmFromRegisters), not echoed.
 * - Software PWM cannot outlive the process that runs its thread: it is started again on every
 *   agent start, and reports the period and high time the thread runs (whole nanoseconds).
 * - `enabled: false`: the output stops and the pin is left an output at its idle level (low; high
 *   with `polarity: inversed`), not floating: a MOSFET gate or a fan driver on it stays off.
 * - A removed object, or a change of pin or implementation, releases the pin as `releasePolicy`
 *   says (from the newest spec the node knows: the changed spec, or the last one applied):
 *   `stop` (the default) as for `enabled: false`; `input` stops the output and makes the pin an
 *   input without pull (for a circuit whose own pull resistor defines "off"). The channel is free.
 * - When the agent stops, hardware PWM keeps running (the block needs no process); software PWM
 *   stops with its pins at their idle level.
 */
import { CM_REG, PWM_PINS, PWM_REG, RP1_PWM_REG, bcmPwmFromRegisters, rp1PwmFromRegisters, type HardwarePwm } from '../src/hw/pwm.js';
import type { TimingEngine } from '../src/hw/pwm-engine.js';
import type { RegisterChip, Level, Pull, SocName } from '../src/hw/index.js';
import type { AppliedItem, DesiredOf } from '../src/api/agent.js';
import type { PwmSpec } from '../src/api/hardware.js';
import { AgentError } from './errors.js';

export type PwmRelease = NonNullable<PwmSpec['releasePolicy']>;

/** How the agent reaches the PWM hardware; each is opened once, on first use. */
export interface PwmBackends {
  /** The SoC's hardware PWM (on a Pi: /dev/mem for the PWM and clock pages). */
  openHardware?: () => HardwarePwm;
  /** The timing engine for software PWM. */
  openEngine?: () => TimingEngine;
}

/** A hardware PWM channel: the block it is in and its index there. */
interface Route {
  block: string;
  channel: number;
  /** Label, e.g. `PWM0_0`. */
  id: string;
  /** Function-select value of the pin's PWM function (GPFSEL code on BCM, FUNCSEL on RP1). */
  fsel: number;
}

interface Running {
  name: string;
  pin: number;
  impl: 'hardware' | 'software';
  /** JSON of the spec it runs. */
  spec: string;
  enabled: boolean;
  inverted: boolean;
  /** What releasing the pin does (the spec's releasePolicy). */
  release: PwmRelease;
  route?: Route;
  /** Software PWM: what the thread runs. */
  soft?: { frequencyHz: number; duty: number; periodNs: number; highNs: number };
}

type Family = 'bcm2835' | 'bcm2711' | 'rp1';
const familyOf = (soc: SocName): Family => (soc === 'bcm2711' ? 'bcm2711' : soc === 'rp1' ? 'rp1' : 'bcm2835');

// BCM CTL bits per channel byte (BCM2835 peripherals 9.6): PWEN, POLA, MSEN.
const PWEN = 1,
  POLA = 1 << 4,
  MSEN = 1 << 7;
const CM_ENAB = 1 << 4;
// RP1 channel control (RP1 peripherals, PWM): mode field, invert bit.
const RP1_MODE_MASK = 0x7,
  RP1_TRAILING_MS = 0x1,
  RP1_INVERT = 1 << 3;
/** GPFSEL codes of ALT0/ALT5 (BCM2835 peripherals 6.1); RP1 FUNCSEL is the a-number. */
const BCM_ALT: Record<string, number> = { ALT0: 0b100, ALT5: 0b010 };

/** The channel a pin drives, from PWM_PINS (undefined: no hardware PWM on that pin). */
export function pwmRoute(soc: SocName, pin: number): Route | undefined {
  const fam = familyOf(soc);
  const label = PWM_PINS[fam][pin];
  const m = label ? /^PWM(\d)(?:_| ch)(\d) \((ALT\d|a\d)\)$/.exec(label) : null;
  if (!m) return undefined;
  const [, blk, ch, alt] = m;
  return {
    block: fam === 'rp1' ? `RP1_PWM${blk}` : `PWM${blk}`,
    channel: Number(ch),
    id: `PWM${blk}_${ch}`,
    fsel: fam === 'rp1' ? Number(alt.slice(1)) : (BCM_ALT[alt] ?? -1),
  };
}

const idleLevel = (inverted: boolean): Level => (inverted ? 1 : 0);

export class PwmReconciler {
  readonly #chip: RegisterChip;
  readonly #backends: PwmBackends;
  readonly #running = new Map<string, Running>();
  #hw: HardwarePwm | undefined;
  #engine: TimingEngine | undefined;

  /** Sets a pull through whoever remembers pulls (the GPIO reconciler: BCM283x pulls have no read-back). */
  readonly #pull: (pin: number, pull: Pull) => void;

  constructor(opts: { chip: RegisterChip; backends?: PwmBackends; pull?: (pin: number, pull: Pull) => void }) {
    this.#chip = opts.chip;
    this.#backends = opts.backends ?? {};
    this.#pull = opts.pull ?? ((pin, pull) => opts.chip.pull(pin, pull));
  }

  /** Which implementation a spec gets on this SoC; null when it asks for hardware the pin lacks. */
  implementationOf(s: PwmSpec): 'hardware' | 'software' | null {
    const routed = pwmRoute(this.#chip.soc, s.pin) !== undefined;
    const want = s.implementation ?? 'auto';
    if (want === 'software') return 'software';
    if (want === 'hardware') return routed ? 'hardware' : null;
    return routed ? 'hardware' : 'software';
  }

  /**
   * Refusals among PWM items that passed the schema and pin checks: NoHardwarePwm, and
   * ChannelBusy for a second object on one hardware channel (claims in name order, as for pins).
   */
  check(items: DesiredOf<'pwm'>[]): Map<string, AppliedItem> {
    const refused = new Map<string, AppliedItem>();
    const channels = new Map<string, DesiredOf<'pwm'>>();
    const refuse = (it: DesiredOf<'pwm'>, reason: string, message: string) =>
      refused.set(`pwm/${it.name}`, {
        kind: 'pwm',
        name: it.name,
        generation: it.generation,
        phase: 'Failed',
        reason,
        actual: { message },
      });
    for (const it of [...items].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const s = it.spec;
      const impl = this.implementationOf(s);
      if (impl === null) {
        const pins = Object.keys(PWM_PINS[familyOf(this.#chip.soc)]).join(', ');
        refuse(
          it,
          'NoHardwarePwm',
          `GPIO${s.pin} has no hardware PWM on ${this.#chip.soc} (PWM pins: ${pins}); use implementation software or auto`,
        );
        continue;
      }
      if (impl !== 'hardware') continue;
      const r = pwmRoute(this.#chip.soc, s.pin)!;
      const holder = channels.get(r.id);
      if (holder) {
        refuse(it, 'ChannelBusy', `${r.id} (GPIO${s.pin}) is already driven by PWMController ${holder.name} on GPIO${holder.spec.pin}`);
        continue;
      }
      channels.set(r.id, it);
    }
    return refused;
  }

  /**
   * Brings the running outputs to `items` (accepted PWM items only): stops what is no longer
   * wanted first (so a channel or pin can move between objects), then starts or keeps the rest.
   */
  apply(items: DesiredOf<'pwm'>[]): AppliedItem[] {
    const want = new Map(items.map((it) => [it.name, it]));
    for (const [name, r] of [...this.#running]) {
      const s = want.get(name)?.spec;
      if (!s || s.pin !== r.pin || this.implementationOf(s) !== r.impl) this.#release(r, s ? (s.releasePolicy ?? 'stop') : r.release);
    }
    return items.map((it) => {
      try {
        return this.#applyOne(it);
      } catch (err) {
        const e = err as { code?: string; message: string };
        return {
          kind: 'pwm',
          name: it.name,
          generation: it.generation,
          phase: 'Failed',
          reason: reasonOf(e.code),
          actual: { message: e.message, ...(e.code ? { code: e.code } : {}) },
        };
      }
    });
  }

  #applyOne(it: DesiredOf<'pwm'>): AppliedItem {
    const s = it.spec;
    const impl = this.implementationOf(s)!;
    const inverted = s.polarity === 'inversed';
    const enabled = s.enabled ?? true;
    const release = s.releasePolicy ?? 'stop';
    // What the output runs: releasePolicy is left out, so changing only it restarts nothing.
    const { releasePolicy: _release, ...runs } = s;
    const key = JSON.stringify(runs);
    const prev = this.#running.get(it.name);
    const ok = (actual: Record<string, unknown>): AppliedItem => ({
      kind: 'pwm',
      name: it.name,
      generation: it.generation,
      phase: 'Applied',
      reason: 'Applied',
      actual,
    });
    if (impl === 'software') {
      if (!enabled) {
        // The thread is not started for an output that is off.
        if (prev?.enabled) this.#engine?.stopPwm(s.pin, { level: idleLevel(inverted) });
        this.#idle(s.pin, inverted);
        this.#running.set(it.name, { name: it.name, pin: s.pin, impl, spec: key, enabled, inverted, release });
        return ok({ implementation: 'software', enabled: false, level: this.#chip.read(s.pin) });
      }
      let soft = prev?.spec === key ? prev.soft : undefined;
      if (!soft) {
        // The pin leaves input at its idle level, like a GPIO output; the thread takes it from there.
        this.#idle(s.pin, inverted);
        // The thread drives the electrical level: inversed polarity is the complement duty.
        const r = this.#engineOpen().pwm(s.pin, s.frequencyHz, inverted ? 1 - s.dutyCycle : s.dutyCycle);
        soft = { frequencyHz: r.frequencyHz, duty: inverted ? 1 - r.duty : r.duty, periodNs: r.periodNs, highNs: r.highNs };
      }
      this.#running.set(it.name, { name: it.name, pin: s.pin, impl, spec: key, enabled, inverted, release, soft });
      return ok({
        implementation: 'software',
        enabled: true,
        polarity: inverted ? 'inversed' : 'normal',
        frequencyHz: soft.frequencyHz,
        dutyCycle: soft.duty,
        periodNs: soft.periodNs,
        activeNs: inverted ? soft.periodNs - soft.highNs : soft.highNs,
      });
    }
    const hw = this.#hardwareOpen();
    const route = pwmRoute(this.#chip.soc, s.pin)!;
    if (!enabled) {
      if (this.#channelEnabled(hw, route)) hw.stop(s.pin);
      this.#idle(s.pin, inverted);
      this.#running.set(it.name, { name: it.name, pin: s.pin, impl, spec: key, enabled, inverted, release, route });
      return ok({ implementation: 'hardware', channel: route.id, enabled: false, level: this.#chip.read(s.pin) });
    }
    if (!this.#hwMatches(hw, s.pin, route, s.frequencyHz, s.dutyCycle, inverted)) hw.start(s.pin, s.frequencyHz, s.dutyCycle, { inverted });
    this.#running.set(it.name, { name: it.name, pin: s.pin, impl, spec: key, enabled, inverted, release, route });
    return ok({
      implementation: 'hardware',
      channel: route.id,
      enabled: true,
      polarity: inverted ? 'inversed' : 'normal',
      ...this.#readBack(hw, route),
    });
  }

  /** Achieved output of a hardware channel, from its registers alone. */
  #readBack(hw: HardwarePwm, r: Route): { frequencyHz: number; dutyCycle: number; range: number; data: number } {
    if (r.block.startsWith('RP1')) {
      const range = hw.peek(r.block, RP1_PWM_REG.range(r.channel)),
        data = hw.peek(r.block, RP1_PWM_REG.duty(r.channel));
      const got = rp1PwmFromRegisters({ range, duty: data });
      return { frequencyHz: got.frequencyHz, dutyCycle: got.duty, range: range + 1, data };
    }
    const range = hw.peek(r.block, r.channel ? PWM_REG.RNG2 : PWM_REG.RNG1),
      data = hw.peek(r.block, r.channel ? PWM_REG.DAT2 : PWM_REG.DAT1);
    const got = bcmPwmFromRegisters(this.#chip.soc, {
      cmCtl: hw.peek('CM', CM_REG.PWMCTL),
      cmDiv: hw.peek('CM', CM_REG.PWMDIV),
      rng: range,
      dat: data,
    });
    return { frequencyHz: got.frequencyHz, dutyCycle: got.duty, range, data };
  }

  #channelEnabled(hw: HardwarePwm, r: Route): boolean {
    if (r.block.startsWith('RP1')) return ((hw.peek(r.block, RP1_PWM_REG.GLOBAL_CTRL) >>> r.channel) & 1) === 1;
    return ((hw.peek(r.block, PWM_REG.CTL) >>> (8 * r.channel)) & PWEN) === PWEN;
  }

  /**
   * Whether the registers already give this output: channel on in mark-space mode with this
   * polarity, the pin on its PWM function, and range/data (and on BCM a running clock) equal to
   * what start() would write. When another BCM channel runs on the shared clock, start() keeps
   * that clock and accepts a result within 0.1 %, so the same tolerance applies here.
   */
  #hwMatches(hw: HardwarePwm, pin: number, r: Route, f: number, duty: number, inverted: boolean): boolean {
    let want;
    try {
      want = hw.solve(pin, f, duty);
    } catch {
      return false; // start() throws the coded error
    }
    if (r.block.startsWith('RP1')) {
      const ctrl = hw.peek(r.block, RP1_PWM_REG.chanCtrl(r.channel));
      return (
        this.#channelEnabled(hw, r) &&
        (ctrl & RP1_MODE_MASK) === RP1_TRAILING_MS &&
        ((ctrl & RP1_INVERT) !== 0) === inverted &&
        (hw.peek('IO_BANK0', 8 * pin + 4) & 0x1f) === r.fsel &&
        hw.peek(r.block, RP1_PWM_REG.range(r.channel)) === want.steps - 1 &&
        hw.peek(r.block, RP1_PWM_REG.duty(r.channel)) === want.highTicks
      );
    }
    const byte = (hw.peek(r.block, PWM_REG.CTL) >>> (8 * r.channel)) & 0xff;
    const fsel = (hw.peek('GPIO', 4 * Math.floor(pin / 10)) >>> (3 * (pin % 10))) & 7;
    const cm = hw.peek('CM', CM_REG.PWMCTL);
    if (byte !== (MSEN | PWEN | (inverted ? POLA : 0)) || fsel !== r.fsel || (cm & CM_ENAB) === 0) return false;
    const got = this.#readBack(hw, r);
    if (got.range === want.steps && got.data === want.highTicks && Math.abs(got.frequencyHz - want.frequencyHz) <= 1e-9 * f) return true;
    return (
      this.#otherChannelRuns(hw, r) &&
      Math.abs(got.frequencyHz - f) / f <= 1e-3 &&
      got.data === Math.min(got.range, Math.round(duty * got.range))
    );
  }

  /** Another BCM channel (either block) is enabled: the PWM clock is shared with it. */
  #otherChannelRuns(hw: HardwarePwm, r: Route): boolean {
    const blocks = familyOf(this.#chip.soc) === 'bcm2711' ? ['PWM0', 'PWM1'] : ['PWM0'];
    for (const b of blocks) {
      const ctl = hw.peek(b, PWM_REG.CTL);
      for (const ch of [0, 1]) if ((b !== r.block || ch !== r.channel) && (ctl >>> (8 * ch)) & PWEN) return true;
    }
    return false;
  }

  /** Leaves `pin` an output at its idle level, writing only what differs (latch before direction). */
  #idle(pin: number, inverted: boolean): void {
    const level = idleLevel(inverted);
    if (this.#chip.getMode(pin) !== 'output') {
      this.#chip.write(pin, level);
      this.#chip.mode(pin, 'output');
    } else if (this.#chip.read(pin) !== level) this.#chip.write(pin, level);
  }

  /** Stops a running output; its pin is left at the idle level (`stop`) or an input without pull (`input`). The channel is free again. */
  #release(r: Running, policy: PwmRelease): void {
    this.#running.delete(r.name);
    try {
      if (r.impl === 'software') {
        if (r.enabled) this.#engine?.stopPwm(r.pin, { level: idleLevel(r.inverted) });
      } else if (this.#hw && r.route && this.#channelEnabled(this.#hw, r.route)) {
        this.#hw.stop(r.pin);
      }
      if (policy === 'input') {
        if (this.#chip.getMode(r.pin) !== 'input') this.#chip.mode(r.pin, 'input');
        this.#pull(r.pin, 'none');
      } else this.#idle(r.pin, r.inverted);
    } catch {
      // A pin that cannot be released now is left as it is; nothing else depends on it.
    }
  }

  /** Names of the objects with a running (or deliberately stopped) output, for tests. */
  get running(): string[] {
    return [...this.#running.keys()];
  }

  #hardwareOpen(): HardwarePwm {
    if (this.#hw) return this.#hw;
    if (!this.#backends.openHardware) throw new AgentError('ENOPWM', 'this agent has no hardware PWM access');
    return (this.#hw = this.#backends.openHardware());
  }

  #engineOpen(): TimingEngine {
    if (this.#engine) return this.#engine;
    if (!this.#backends.openEngine) throw new AgentError('ENOPWM', 'this agent has no timing engine for software PWM');
    return (this.#engine = this.#backends.openEngine());
  }

  /**
   * On agent stop: software PWM ends (its pins go to their idle level), hardware PWM keeps
   * running as the registers hold it, and both are unmapped.
   */
  close(): void {
    for (const r of this.#running.values()) {
      if (r.impl === 'software' && r.enabled) {
        try {
          this.#engine?.stopPwm(r.pin, { level: idleLevel(r.inverted) });
          this.#idle(r.pin, r.inverted);
        } catch {
          // closing anyway
        }
      }
    }
    this.#running.clear();
    this.#engine?.close();
    this.#engine = undefined;
    this.#hw?.close();
    this.#hw = undefined;
  }
}

/** Reason for a PWM error code from src/hw. */
function reasonOf(code: string | undefined): string {
  switch (code) {
    case 'EPWM_FREQ':
    case 'EPWM_DUTY':
      return 'Unreachable';
    case 'EPWM_CLOCK':
      return 'ClockBusy';
    case 'ENOPWM':
      return 'NoPwmAccess';
    default:
      return 'HardwareError';
  }
}
