/**
 * Node health: SoC temperature, the firmware's throttling and under-voltage flags, memory, load,
 * uptime and the agent's own footprint. Read from files under a configurable root (`/` on a Pi),
 * so simulated mode and tests read fixture trees with the same code.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Health } from '../src/api/agent.js';

/** Where the firmware exposes get_throttled (raspberrypi-hwmon / firmware driver), first match wins. */
const THROTTLED_FILES = [
  'sys/devices/platform/soc/soc:firmware/get_throttled',
  'sys/devices/platform/soc/soc:firmware/raspberrypi-hwmon/get_throttled',
];

function read(root: string, rel: string): string | undefined {
  const f = join(root, rel);
  try {
    return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes get_throttled: bits 0-3 now, bits 16-19 since boot (Raspberry Pi firmware documentation). */
export function decodeThrottled(raw: number): NonNullable<Health['throttled']> {
  const b = (n: number) => (raw & (1 << n)) !== 0;
  return {
    raw,
    underVoltage: b(0),
    frequencyCapped: b(1),
    throttled: b(2),
    softTempLimit: b(3),
    underVoltageOccurred: b(16),
    frequencyCappedOccurred: b(17),
    throttledOccurred: b(18),
    softTempLimitOccurred: b(19),
  };
}

/**
 * Reads health: /sys files under `root` (default '/'), /proc files under `procRoot` (default `root`).
 * Missing files give null fields, never an error.
 */
export function readHealth(opts: { root?: string; procRoot?: string; agentVersion: string; simulated: boolean }): Health {
  const root = opts.root ?? '/';
  const proc = opts.procRoot ?? root;
  const temp = read(root, 'sys/class/thermal/thermal_zone0/temp');
  const thr = THROTTLED_FILES.map((f) => read(root, f)).find((s) => s !== undefined);
  const mem = read(proc, 'proc/meminfo') ?? '';
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(mem)?.[1] ?? 0) * 1024;
  const load = (read(proc, 'proc/loadavg') ?? '0 0 0').trim().split(/\s+/).map(Number);
  const up = Number((read(proc, 'proc/uptime') ?? '0').trim().split(/\s+/)[0]);
  const thrNum = thr === undefined ? NaN : Number.parseInt(thr.trim(), /^0x/i.test(thr.trim()) ? 16 : 10);
  return {
    agentVersion: opts.agentVersion,
    simulated: opts.simulated,
    socTempC: temp === undefined || !Number.isFinite(Number(temp)) ? null : Math.round(Number(temp) / 100) / 10,
    throttled: Number.isFinite(thrNum) && thrNum >= 0 ? decodeThrottled(thrNum) : null,
    memTotalBytes: kb('MemTotal'),
    memAvailableBytes: kb('MemAvailable'),
    load1: load[0] ?? 0,
    load5: load[1] ?? 0,
    load15: load[2] ?? 0,
    uptimeSec: Number.isFinite(up) ? up : 0,
    agentRssBytes: process.memoryUsage.rss(),
    at: new Date().toISOString(),
  };
}

/** Whether two reports differ in what matters for an immediate report (flags, temperature by 2 C). */
export function healthChanged(a: Health | undefined, b: Health): boolean {
  if (!a) return true;
  if ((a.throttled?.raw ?? -1) !== (b.throttled?.raw ?? -1)) return true;
  if ((a.socTempC === null) !== (b.socTempC === null)) return true;
  return a.socTempC !== null && b.socTempC !== null && Math.abs(a.socTempC - b.socTempC) >= 2;
}

/** Writes a simulated node's /sys fixture (SoC temperature 47.2 C, no throttling) under `dir`. */
export function writeSimSysFixture(dir: string): void {
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  put('sys/class/thermal/thermal_zone0/temp', '47200\n');
  put(THROTTLED_FILES[0]!, '0x0\n');
}

export interface HealthReporterOptions {
  agentVersion: string;
  simulated: boolean;
  /** /sys root (default '/'). */
  root?: string;
  /** /proc root (default `root`). */
  procRoot?: string;
  /** Report period, ms: a report goes out at least this often while sampled (default 5000). */
  intervalMs?: number;
  send: (h: Health) => void;
}

/**
 * Health reports: health is sampled often (cheap file reads), and a report goes out when it is
 * asked for, when something that matters changed ({@link healthChanged}), or once a period.
 */
export class HealthReporter {
  readonly #o: HealthReporterOptions;
  #last: Health | undefined;
  #sentAt = 0;

  constructor(opts: HealthReporterOptions) {
    this.#o = opts;
  }

  /** Reads health and sends it when `force`d, changed, or due. */
  sample(force: boolean): void {
    const h = readHealth({
      agentVersion: this.#o.agentVersion,
      simulated: this.#o.simulated,
      ...(this.#o.root ? { root: this.#o.root } : {}),
      ...(this.#o.procRoot ? { procRoot: this.#o.procRoot } : {}),
    });
    const changed = healthChanged(this.#last, h);
    this.#last = h;
    const now = Date.now();
    if (force || changed || now - this.#sentAt >= (this.#o.intervalMs ?? 5000)) {
      this.#sentAt = now;
      this.#o.send(h);
    }
  }
}
