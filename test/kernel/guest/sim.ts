/**
 * Guest-side helpers: a gpio-sim chip made through configfs, and the i2c-stub bus. Only usable
 * inside the rig's guest kernel (test/support/kernel-rig), where both modules are loaded.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CONFIGFS = '/sys/kernel/config/gpio-sim';

/** A live gpio-sim chip: its /dev path and the sysfs folder of its simulated lines. */
export interface SimChip {
  dev: string;
  sysfs: string;
  lines: number;
  /** Drives an input from "outside" the way a pull resistor would. */
  pull(line: number, level: 'pull-up' | 'pull-down'): void;
  /** The level the chip's output drives, as the simulator sees it. */
  value(line: number): 0 | 1;
  remove(): void;
}

/** Creates a gpio-sim chip with `lines` lines; `names` names some of them. */
export function createSimChip(name: string, lines: number, names: Record<number, string> = {}): SimChip {
  const dir = join(CONFIGFS, name);
  const bank = join(dir, 'bank0');
  mkdirSync(dir);
  mkdirSync(bank);
  writeFileSync(join(bank, 'num_lines'), String(lines));
  writeFileSync(join(bank, 'label'), `${name}-bank0`);
  for (const [line, n] of Object.entries(names)) {
    mkdirSync(join(bank, `line${line}`));
    writeFileSync(join(bank, `line${line}`, 'name'), n);
  }
  writeFileSync(join(dir, 'live'), '1');
  const devName = readFileSync(join(dir, 'dev_name'), 'utf8').trim();
  const chipName = readFileSync(join(bank, 'chip_name'), 'utf8').trim();
  const sysfs = join('/sys/devices/platform', devName, chipName);
  return {
    dev: join('/dev', chipName),
    sysfs,
    lines,
    pull(line, level) {
      writeFileSync(join(sysfs, `sim_gpio${line}`, 'pull'), level);
    },
    value(line) {
      return readFileSync(join(sysfs, `sim_gpio${line}`, 'value'), 'utf8').trim() === '1' ? 1 : 0;
    },
    remove() {
      writeFileSync(join(dir, 'live'), '0');
      for (const n of Object.keys(names)) rmdirSync(join(bank, `line${n}`));
      rmdirSync(bank);
      rmdirSync(dir);
    },
  };
}

/** The /dev path of the i2c-stub bus (adapter name set by the rig's patch). */
export function stubBus(): string {
  const base = '/sys/class/i2c-adapter';
  for (const a of readdirSync(base)) {
    const name = readFileSync(join(base, a, 'name'), 'utf8').trim();
    if (name.startsWith('SMBus stub driver')) return join('/dev', a);
  }
  throw new Error('no i2c-stub adapter: not inside the kernel rig');
}

/** True inside the rig's guest (both simulators present). */
export function inGuest(): boolean {
  return existsSync(CONFIGFS) && existsSync('/sys/class/i2c-adapter');
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * How much the guest's waits stretch: the host's load factor when it started the VM (PC_WAIT_SCALE,
 * from the kernel command line; 1 to 8). Under TCG on a loaded host the guest's CPUs get less time.
 */
export function waitScale(): number {
  const s = Number(process.env.PC_WAIT_SCALE ?? '1');
  return Number.isFinite(s) ? Math.min(8, Math.max(1, s)) : 1;
}

/** Waits until `cond()` holds or `ms` (stretched by {@link waitScale}) pass; returns whether it held. Bounded in time. */
export async function waitFor(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms * waitScale();
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}
