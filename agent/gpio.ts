/**
 * Applies desired hardware state to the chip. It never surprises the hardware:
 * - it reads a pin's function and level before it writes, and writes only what differs, so
 *   re-applying the same state (an agent restart, a reconnect) makes no level-changing write;
 * - an output is given its level (GPSET/GPCLR latch) before its function becomes output, so it
 *   comes up at the right level rather than at whatever the latch held;
 * - a pin no longer desired (its object deleted, moved to another pin or node) is released as the
 *   object's `releasePolicy` says: `leave` (the default) keeps it as it was, `input` makes it an
 *   input without pull, `low` an output driven low. The policy comes from the newest spec the node
 *   knows: the moved object's new spec, or for a deleted one the last spec applied (kept with the
 *   pin memory, so a deletion made while the agent was down is still released by its policy);
 * - a pin another object of the same snapshot takes is not released (no glitch between owners),
 *   and an object refused in this snapshot keeps the pin it held (its last valid state);
 * - one claim per pin: a second object on the same pin, a reserved pin or a pin the SoC lacks is
 *   refused with a reason, and the refused object touches nothing.
 * The pin claims and reserved-pin checks here cover every kind (a PWMController claims its pin, an
 * I2CDevice its bus and address); PWM and I2C objects are then applied by pwm.ts and i2c.ts.
 */
import type { RegisterChip, Level, Pull } from '../src/hw/index.js';
import type { AppliedItem, DesiredItem, DesiredOf } from '../src/api/agent.js';
import type { GpioSpec } from '../src/api/hardware.js';
import { RESERVED_PINS } from '../src/api/soc.js';

/** GPIO0/1 (the HAT ID EEPROM bus), never driven by the agent: the table in src/api/soc.ts. */
export { RESERVED_PINS };

export type GpioRelease = NonNullable<GpioSpec['releasePolicy']>;

/** What the reconciler remembers between runs (persisted by the agent): pulls it has set, pins it holds. */
export interface PinMemory {
  pulls: Record<string, Pull>;
  /** GPIO pins applied by the last snapshot, by pin: the object holding it and its releasePolicy. */
  held?: Record<string, { name: string; release: GpioRelease }>;
}

export interface ApplyResult {
  items: AppliedItem[];
  /** Pins whose level this apply changed (for gpio.changed events). */
  changed: { pin: number; value: Level; name: string }[];
}

export class GpioReconciler {
  readonly #chip: RegisterChip;
  readonly #memory: PinMemory;
  readonly #reserved: ReadonlySet<number>;

  constructor(opts: { chip: RegisterChip; memory: PinMemory; reserved?: ReadonlySet<number> }) {
    this.#chip = opts.chip;
    this.#memory = opts.memory;
    this.#reserved = opts.reserved ?? RESERVED_PINS;
  }

  get memory(): PinMemory {
    return this.#memory;
  }

  /**
   * Checks the claims of every item (specs already checked against their schemas) and reserved
   * pins, without touching hardware. Returns the refusals by `kind/name`; items not listed may be
   * applied.
   */
  check(items: DesiredItem[]): Map<string, AppliedItem> {
    const refused = new Map<string, AppliedItem>();
    const claims = new Map<string, string>();
    const refuse = (it: DesiredItem, reason: string, message: string) =>
      refused.set(`${it.kind}/${it.name}`, {
        kind: it.kind,
        name: it.name,
        generation: it.generation,
        phase: 'Failed',
        reason,
        actual: { message },
      });
    // Claims are given in name order, so the same snapshot always refuses the same object.
    for (const it of [...items].sort((a, b) => (a.kind + a.name < b.kind + b.name ? -1 : 1))) {
      const claim = it.kind === 'i2c' ? `i2c:${it.spec.bus}:${it.spec.address}` : `pin:${it.spec.pin}`;
      const holder = claims.get(claim);
      if (holder) {
        refuse(it, 'PinBusy', `${claim} is already claimed by ${holder}`);
        continue;
      }
      if (it.kind !== 'i2c') {
        const pin = it.spec.pin;
        if (this.#reserved.has(pin)) {
          refuse(it, 'PinReserved', `GPIO${pin} is reserved (HAT ID EEPROM bus)`);
          continue;
        }
        if (pin >= this.#chip.pinCount) {
          refuse(it, 'PinOutOfRange', `${this.#chip.soc} has GPIO 0-${this.#chip.pinCount - 1}`);
          continue;
        }
      }
      claims.set(claim, `${it.kind}/${it.name}`);
    }
    return refused;
  }

  /**
   * Applies the GPIO items of a snapshot; returns what was applied (or refused) per GPIO item.
   * Other kinds are left to their reconcilers. `refused`: the result of {@link check}, and any
   * other refusal of this snapshot (a refused GPIO object keeps the pin it held).
   */
  apply(items: DesiredItem[], refused: Map<string, AppliedItem> = this.check(items)): ApplyResult {
    const out: AppliedItem[] = [];
    const changed: ApplyResult['changed'] = [];
    const held = this.#releaseFreed(items, refused, changed);
    for (const it of items) {
      if (it.kind !== 'gpio') continue;
      const r = refused.get(`${it.kind}/${it.name}`);
      if (r) {
        out.push(r);
        continue;
      }
      held[String(it.spec.pin)] = { name: it.name, release: it.spec.releasePolicy ?? 'leave' };
      try {
        out.push(this.#applyGpio(it, changed));
      } catch (err) {
        const e = err as { code?: string; message: string };
        out.push({
          kind: 'gpio',
          name: it.name,
          generation: it.generation,
          phase: 'Failed',
          reason: e.code ?? 'HardwareError',
          actual: { message: e.message },
        });
      }
    }
    this.#memory.held = held;
    return { items: out, changed };
  }

  /**
   * Releases the held pins no accepted item of `items` uses, each by its policy (see the module
   * comment); returns what stays held (pins of objects refused in this snapshot).
   */
  #releaseFreed(items: DesiredItem[], refused: Map<string, AppliedItem>, changed: ApplyResult['changed']): NonNullable<PinMemory['held']> {
    const accepted = items.filter((it) => !refused.has(`${it.kind}/${it.name}`));
    const used = new Set(accepted.flatMap((it) => (it.kind === 'i2c' ? [] : [it.spec.pin])));
    const keptNames = new Set([...refused.keys()].filter((k) => k.startsWith('gpio/')).map((k) => k.slice('gpio/'.length)));
    const kept: NonNullable<PinMemory['held']> = {};
    for (const [p, h] of Object.entries(this.#memory.held ?? {})) {
      const pin = Number(p);
      if (used.has(pin)) continue; // another object (or this one) takes it in this snapshot
      if (keptNames.has(h.name)) {
        kept[p] = h;
        continue;
      }
      const now = accepted.find((it): it is DesiredOf<'gpio'> => it.kind === 'gpio' && it.name === h.name);
      const policy = now ? (now.spec.releasePolicy ?? 'leave') : h.release;
      try {
        this.#release(pin, policy, h.name, changed);
      } catch {
        // A pin that cannot be released now is left as it is; nothing else depends on it.
      }
    }
    return kept;
  }

  /** Lets a pin go as `policy` says, writing only what differs (latch before direction for `low`). */
  #release(pin: number, policy: GpioRelease, name: string, changed: ApplyResult['changed']): void {
    if (policy === 'leave') return;
    const chip = this.#chip;
    const before = chip.read(pin);
    const mode = chip.getMode(pin);
    if (policy === 'low') {
      if (mode !== 'output') {
        chip.write(pin, 0);
        chip.mode(pin, 'output');
      } else if (before !== 0) chip.write(pin, 0);
    } else {
      if (mode !== 'input') chip.mode(pin, 'input');
      this.#pull(pin, 'none');
    }
    const after = chip.read(pin);
    if (after !== before) changed.push({ pin, value: after, name });
  }

  #applyGpio(it: DesiredOf<'gpio'>, changed: ApplyResult['changed']): AppliedItem {
    const chip = this.#chip;
    const s = it.spec;
    const pin = s.pin;
    const pull = s.pull ?? 'none';
    const mode = chip.getMode(pin);
    if (s.mode === 'output') {
      const level = ((s.value ?? 0) ^ (s.activeLow ? 1 : 0)) as Level;
      const before = chip.read(pin);
      if (mode !== 'output') {
        // Latch first, then direction: the pin leaves input already at its level.
        chip.write(pin, level);
        chip.mode(pin, 'output');
      } else if (before !== level) {
        chip.write(pin, level);
      }
      this.#pull(pin, pull);
      const now = chip.read(pin);
      if (now !== before || mode !== 'output') changed.push({ pin, value: now, name: it.name });
      return {
        kind: 'gpio',
        name: it.name,
        generation: it.generation,
        phase: now === level ? 'Applied' : 'Failed',
        reason: now === level ? 'Applied' : 'LevelMismatch',
        actual: { mode: 'output', level: now, value: now ^ (s.activeLow ? 1 : 0), pull },
      };
    }
    if (mode !== 'input') chip.mode(pin, 'input');
    this.#pull(pin, pull);
    const level = chip.read(pin);
    return {
      kind: 'gpio',
      name: it.name,
      generation: it.generation,
      phase: 'Applied',
      reason: 'Applied',
      actual: { mode: 'input', level, value: level ^ (s.activeLow ? 1 : 0), pull },
    };
  }

  /** Sets a pin's pull through the memory (for the other kinds' reconcilers, e.g. a PWM pin released as an input). */
  setPull(pin: number, pull: Pull): void {
    this.#pull(pin, pull);
  }

  /** Pulls have no read-back register on BCM283x: the agent remembers what it set and writes only a change. */
  #pull(pin: number, pull: Pull): void {
    const key = String(pin);
    const known = this.#memory.pulls[key];
    if (known === pull) return;
    this.#chip.pull(pin, pull);
    this.#memory.pulls[key] = pull;
  }

  /** Reads the current level of every pin a snapshot claims (for health and events). */
  levels(items: readonly DesiredItem[]): Map<number, Level> {
    const m = new Map<number, Level>();
    for (const it of items) {
      if (it.kind !== 'gpio') continue;
      const pin = it.spec.pin;
      if (!this.#reserved.has(pin) && pin < this.#chip.pinCount) m.set(pin, this.#chip.read(pin));
    }
    return m;
  }
}

/**
 * Drives the given levels as outputs, writing only what differs (latch before direction): the
 * agent's configured safe state, applied only when asked for (message `safe-state`, or the CLI).
 */
export function driveSafeState(chip: RegisterChip, levels: Readonly<Record<string, Level>>): void {
  for (const [p, level] of Object.entries(levels)) {
    const pin = Number(p);
    if (chip.getMode(pin) !== 'output') {
      chip.write(pin, level);
      chip.mode(pin, 'output');
    } else if (chip.read(pin) !== level) chip.write(pin, level);
  }
}
