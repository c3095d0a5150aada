/**
 * Polls I2CDevice objects: raw registers at their own `pollIntervalMs` (decoded by `type`, times
 * `scale`), and/or a named decoder at `decoderIntervalMs` (default 1 s):
 * - `bme280`: forced-mode measurement, compensated as the datasheet gives it: `temperatureC`,
 *   `pressureHPa`, `humidityPercent`;
 * - `ads1115`: four single-ended single-shot conversions at ±4.096 V: `ain0Volts`..`ain3Volts`.
 * The first read of a new (or changed) object happens before it is reported, so a device that does
 * not answer is reported at once: `DeviceNotFound` for no acknowledge (ENXIO, EREMOTEIO, ENODEV),
 * `HardwareError` for anything else (a bus that cannot be opened, another chip's ID). Polling
 * goes on after a failure, so a device plugged in later turns Applied at its next poll.
 * An unknown decoder, or neither a decoder nor registers, is refused as `InvalidSpec` without
 * opening the bus. Readings changes are signalled through `onChange` (the agent rate-limits its
 * reports); a removed object stops polling, and a bus no object uses is closed.
 */
import type { AppliedItem, DesiredOf } from '../src/api/agent.js';
import type { I2cRegister, I2cSpec } from '../src/api/hardware.js';
import type { RegisterBus } from '../src/hw/devices/register-bus.js';
import { Bme280 } from '../src/hw/devices/bme280.js';
import { Ads1115, ADS1115_MUX } from '../src/hw/devices/ads1115.js';
import { DECODERS } from '../src/api/soc.js';
import { AgentError } from './errors.js';

/** How the agent reaches an I2C bus: `/dev/i2c-N` on a Pi, a virtual bus in simulated mode. */
export interface I2cBuses {
  open(bus: number): RegisterBus & { close?(): void };
}

/** Decoders the agent knows, with the 7-bit addresses each chip can have (src/api/soc.ts). */
export { DECODERS };

const SIZES: Record<Exclude<I2cRegister['type'], 'bytes'>, number> = {
  u8: 1,
  s8: 1,
  u16be: 2,
  u16le: 2,
  s16be: 2,
  s16le: 2,
  u24be: 3,
  u32be: 4,
  s32be: 4,
};
const NO_ACK = new Set(['ENXIO', 'EREMOTEIO', 'ENODEV']);
/** Readings are reported again after this long even when unchanged (so lastReadTime moves). */
const REFRESH_MS = 30_000;
/** Bound on a device's first read (an adapter stuck on a held SCL must not stall the apply). */
const FIRST_READ_MS = 2000;

/** A register's bytes as the number (or byte list) its type says, times `scale`. */
function decodeRegister(r: I2cRegister, data: Buffer): number | number[] {
  if (r.type === 'bytes') return [...data];
  const v = {
    u8: () => data.readUInt8(0),
    s8: () => data.readInt8(0),
    u16be: () => data.readUInt16BE(0),
    u16le: () => data.readUInt16LE(0),
    s16be: () => data.readInt16BE(0),
    s16le: () => data.readInt16LE(0),
    u24be: () => data.readUIntBE(0, 3),
    u32be: () => data.readUInt32BE(0),
    s32be: () => data.readInt32BE(0),
  }[r.type]();
  return r.scale === undefined ? v : v * r.scale;
}

interface Task {
  intervalMs: number;
  run(): Promise<Record<string, unknown>>;
}

interface Device {
  name: string;
  generation: number;
  spec: I2cSpec;
  key: string;
  busNo: number;
  /** Whether it holds a reference on its bus (not when opening the bus failed). */
  holdsBus: boolean;
  tasks: Task[];
  timers: NodeJS.Timeout[];
  stopped: boolean;
  readings: Record<string, unknown>;
  readAt: string | null;
  /** The last failure (cleared by a good read of every task). */
  error: { reason: string; message: string; code?: string } | null;
  /** What was last signalled, and when. */
  reported: string;
  reportedAt: number;
}

export interface I2cReconcilerOptions {
  buses?: I2cBuses;
  /** Called when a device's readings or state changed (or went unreported for 30 s). */
  onChange?: () => void;
  /** How often a decoder measures (default 1000 ms). */
  decoderIntervalMs?: number;
}

export class I2cReconciler {
  readonly #o: I2cReconcilerOptions;
  readonly #devices = new Map<string, Device>();
  readonly #buses = new Map<number, { bus: RegisterBus & { close?(): void }; users: number }>();

  constructor(opts: I2cReconcilerOptions = {}) {
    this.#o = opts;
  }

  /** Refusals among I2C items that passed the schema and claim checks (InvalidSpec). */
  check(items: DesiredOf<'i2c'>[]): Map<string, AppliedItem> {
    const refused = new Map<string, AppliedItem>();
    for (const it of items) {
      const s = it.spec;
      const problems: string[] = [];
      if (s.decoder !== undefined && !DECODERS[s.decoder])
        problems.push(`/spec/decoder: unknown decoder ${JSON.stringify(s.decoder)} (known: ${Object.keys(DECODERS).join(', ')})`);
      else if (s.decoder !== undefined && !DECODERS[s.decoder]!.addresses.includes(s.address)) {
        problems.push(
          `/spec/address: a ${s.decoder} answers at ${DECODERS[s.decoder]!.addresses.map((a) => `0x${a.toString(16)}`).join(', ')}, not 0x${s.address.toString(16)}`,
        );
      }
      if (s.decoder === undefined && !s.registers?.length) problems.push('/spec: give a decoder or at least one register to read');
      const names = new Set<string>();
      for (const [i, r] of (s.registers ?? []).entries()) {
        if (names.has(r.name)) problems.push(`/spec/registers/${i}/name: ${r.name} is used twice`);
        names.add(r.name);
        const len = r.type === 'bytes' ? (r.length ?? 1) : SIZES[r.type];
        if (r.register + len > 0x100) problems.push(`/spec/registers/${i}: ${len} bytes from register ${r.register} leave 0..255`);
      }
      if (problems.length)
        refused.set(`i2c/${it.name}`, {
          kind: 'i2c',
          name: it.name,
          generation: it.generation,
          phase: 'Failed',
          reason: 'InvalidSpec',
          actual: { message: problems.join('; ') },
        });
    }
    return refused;
  }

  /**
   * Brings the pollers to `items` (accepted I2C items only): removed or changed objects stop
   * polling, new ones are opened and read once; resolves with each item's report.
   */
  async apply(items: DesiredOf<'i2c'>[]): Promise<AppliedItem[]> {
    const want = new Map(items.map((it) => [it.name, it]));
    for (const d of [...this.#devices.values()]) {
      const it = want.get(d.name);
      if (!it || JSON.stringify(it.spec) !== d.key) this.#remove(d);
    }
    const started: Device[] = [];
    for (const it of items) {
      const d = this.#devices.get(it.name);
      if (d) d.generation = it.generation;
      else started.push(this.#add(it));
    }
    await Promise.all(started.map((d) => this.#first(d)));
    return items.map((it) => this.#report(this.#devices.get(it.name)!));
  }

  /** The current report of every device (for the agent's readings reports). */
  reports(): AppliedItem[] {
    const now = Date.now();
    return [...this.#devices.values()].map((d) => {
      const r = this.#report(d);
      d.reported = this.#signature(d);
      d.reportedAt = now;
      return r;
    });
  }

  /** Names of the devices being polled. */
  get polling(): string[] {
    return [...this.#devices.keys()];
  }

  #report(d: Device): AppliedItem {
    const base = { kind: 'i2c' as const, name: d.name, generation: d.generation };
    const actual: Record<string, unknown> = { bus: d.busNo, address: d.spec.address, readings: d.readings, readAt: d.readAt };
    if (d.spec.decoder) actual.decoder = d.spec.decoder;
    if (d.error)
      return {
        ...base,
        phase: 'Failed',
        reason: d.error.reason,
        actual: { ...actual, message: d.error.message, ...(d.error.code ? { code: d.error.code } : {}) },
      };
    return { ...base, phase: 'Applied', reason: 'Applied', actual };
  }

  #signature(d: Device): string {
    return JSON.stringify([d.error, d.readings]);
  }

  #add(it: DesiredOf<'i2c'>): Device {
    const spec = it.spec;
    const d: Device = {
      name: it.name,
      generation: it.generation,
      spec,
      key: JSON.stringify(it.spec),
      busNo: spec.bus,
      holdsBus: false,
      tasks: [],
      timers: [],
      stopped: false,
      readings: {},
      readAt: null,
      error: null,
      reported: '',
      reportedAt: 0,
    };
    this.#devices.set(it.name, d);
    let bus: RegisterBus | undefined;
    try {
      bus = this.#openBus(spec.bus);
    } catch (err) {
      const e = err as { code?: string; message: string };
      d.error = { reason: 'HardwareError', message: `cannot open I2C bus ${spec.bus}: ${e.message}`, ...(e.code ? { code: e.code } : {}) };
      return d;
    }
    d.holdsBus = true;
    if (spec.decoder === 'bme280') {
      const chip = new Bme280(bus, spec.address);
      d.tasks.push({
        intervalMs: this.#o.decoderIntervalMs ?? 1000,
        run: async () => {
          const m = await chip.measure();
          return { temperatureC: m.temperatureC, pressureHPa: m.pressurePa / 100, humidityPercent: m.humidityPercent };
        },
      });
    } else if (spec.decoder === 'ads1115') {
      const adc = new Ads1115(bus, spec.address);
      d.tasks.push({
        intervalMs: this.#o.decoderIntervalMs ?? 1000,
        run: async () => {
          const out: Record<string, number> = {};
          for (const [i, mux] of ADS1115_MUX.slice(4).entries()) out[`ain${i}Volts`] = await adc.read(mux, 4.096);
          return out;
        },
      });
    }
    for (const r of spec.registers ?? []) {
      const len = r.type === 'bytes' ? (r.length ?? 1) : SIZES[r.type];
      d.tasks.push({
        intervalMs: r.pollIntervalMs,
        run: async () => ({ [r.name]: decodeRegister(r, await bus.readRegisters(spec.address, r.register, len)) }),
      });
    }
    return d;
  }

  #openBus(n: number): RegisterBus {
    const have = this.#buses.get(n);
    if (have) {
      have.users++;
      return have.bus;
    }
    if (!this.#o.buses) throw new AgentError('ENOI2C', 'this agent has no I2C access');
    const bus = this.#o.buses.open(n);
    this.#buses.set(n, { bus, users: 1 });
    return bus;
  }

  /** Runs one task and records its outcome. */
  async #run(d: Device, task: Task): Promise<void> {
    try {
      const values = await task.run();
      if (d.stopped) return;
      Object.assign(d.readings, values);
      d.readAt = new Date().toISOString();
      d.error = null;
    } catch (err) {
      if (d.stopped) return;
      const e = err as { code?: string; message: string };
      const addr = `0x${d.spec.address.toString(16)}`;
      d.error =
        e.code && NO_ACK.has(e.code)
          ? { reason: 'DeviceNotFound', message: `no device acknowledged ${addr} on I2C bus ${d.busNo} (${e.code})`, code: e.code }
          : {
              reason: 'HardwareError',
              message: `reading ${addr} on I2C bus ${d.busNo}: ${e.message}`,
              ...(e.code ? { code: e.code } : {}),
            };
    }
  }

  /** The first read of every task (bounded), then each task on its own interval. */
  async #first(d: Device): Promise<void> {
    if (!d.tasks.length) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>(
      (done) =>
        (timer = setTimeout(() => {
          d.error ??= { reason: 'HardwareError', message: `the first read took longer than ${FIRST_READ_MS} ms` };
          done();
        }, FIRST_READ_MS)),
    );
    await Promise.race([Promise.all(d.tasks.map((task) => this.#run(d, task))), late]);
    clearTimeout(timer);
    d.reported = this.#signature(d);
    d.reportedAt = Date.now();
    for (const task of d.tasks) this.#schedule(d, task);
  }

  /** One timer per task; the next read is scheduled after this one ends, so reads never pile up. */
  #schedule(d: Device, task: Task): void {
    if (d.stopped) return;
    const t = setTimeout(() => {
      d.timers = d.timers.filter((x) => x !== t);
      void this.#run(d, task).then(() => {
        if (d.stopped) return;
        if (this.#signature(d) !== d.reported || Date.now() - d.reportedAt >= REFRESH_MS) this.#o.onChange?.();
        this.#schedule(d, task);
      });
    }, task.intervalMs);
    t.unref();
    d.timers.push(t);
  }

  #remove(d: Device): void {
    d.stopped = true;
    for (const t of d.timers) clearTimeout(t);
    d.timers = [];
    this.#devices.delete(d.name);
    const b = this.#buses.get(d.busNo);
    if (!b || !d.holdsBus) return;
    d.holdsBus = false;
    if (--b.users === 0) {
      this.#buses.delete(d.busNo);
      b.bus.close?.();
    }
  }

  /** Stops every poller and closes the buses. */
  close(): void {
    for (const d of [...this.#devices.values()]) this.#remove(d);
    for (const b of this.#buses.values()) b.bus.close?.();
    this.#buses.clear();
  }
}
