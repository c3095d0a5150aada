/**
 * I2C through the BSC registers of the BCM2835-2711 (memory-mapped), the alternative to the
 * kernel's /dev/i2c-N. The kernel path is the robust default: its driver works around the BSC's
 * clock-stretching bug, and the kernel and this code must never drive the same controller, so
 * opening a controller that the kernel's i2c-bcm2835 driver is bound to is refused with a reason.
 * SCL is derived from the real core clock, never from an assumed 250 MHz.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HwError } from './errors.js';
import { kernelAddon, invalid, type KernelAddon } from './kernel-addon.js';
import type { SocName } from './native.js';
import type { RegisterBus } from './devices/register-bus.js';

/** BSC controllers: bus address (0x7Exxxxxx) of each. BSC3-6 exist on the BCM2711 only. */
export const BSC_BUS_ADDRESS: Record<number, number> = {
  0: 0x7e205000,
  1: 0x7e804000,
  3: 0x7e205600,
  4: 0x7e205800,
  5: 0x7e205a00,
  6: 0x7e205c00,
};
/** ARM physical peripheral base per SoC (bus 0x7E000000 maps here). */
const PERIPHERAL_BASE: Partial<Record<SocName, number>> = {
  bcm2835: 0x20000000,
  bcm2836: 0x3f000000,
  bcm2837: 0x3f000000,
  bcm2711: 0xfe000000,
};

/** One register access of the BSC block, in order. */
export interface BscTraceEntry {
  seq: number;
  op: 'read' | 'write' | 'delay';
  offset: number;
  value: number;
}

/** Register offsets, named, for readable traces. */
export const BSC_REG = { C: 0x00, S: 0x04, DLEN: 0x08, A: 0x0c, FIFO: 0x10, DIV: 0x14, DEL: 0x18, CLKT: 0x1c } as const;

interface NativeBscBus {
  configure(coreHz: number, sclHz: number, stretchCycles: number): number;
  write(addr: number, data: Buffer): Promise<void>;
  read(addr: number, length: number): Promise<Buffer>;
  writeRead(addr: number, data: Buffer, length: number): Promise<Buffer>;
  trace(): BscTraceEntry[];
  clearTrace(): void;
  attachDevice(addr: number, regs: Buffer | null, opts?: { stretch?: boolean }): void;
  deviceRegisters(addr: number): Buffer | null;
  busLog(): string[];
}
type BscCtor = new (opts: { simulate?: boolean; path?: string; offset?: number; blockOffset?: number; trace?: boolean }) => NativeBscBus;

/**
 * Which kernel driver owns BSC `bus`, if any: the i2c-bcm2835 platform device named after the
 * controller's address (e.g. `7e804000.i2c`, or `fe804000.i2c` in 64-bit device trees).
 */
export function bscOwner(bus: number, sysfs = '/sys'): string | undefined {
  const busAddr = BSC_BUS_ADDRESS[bus];
  if (busAddr === undefined) return undefined;
  const low = (busAddr & 0x00ffffff).toString(16).padStart(6, '0');
  for (const driver of ['i2c-bcm2835', 'i2c-bcm2708']) {
    let entries: string[];
    try {
      entries = readdirSync(join(sysfs, 'bus', 'platform', 'drivers', driver));
    } catch {
      continue;
    }
    const hit = entries.find((e) => e.endsWith(`${low}.i2c`));
    if (hit) return `${driver} (${hit})`;
  }
  return undefined;
}

/**
 * The VPU ("core") clock in Hz, which clocks the BSC: from the clock framework's debugfs
 * (`clk/vpu/clk_rate`). Throws ENOCLOCK when it cannot be read; pass coreClockHz then.
 */
export function readCoreClockHz(debugfs = '/sys/kernel/debug'): number {
  const file = join(debugfs, 'clk', 'vpu', 'clk_rate');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new HwError(`ENOCLOCK: cannot read the core clock from ${file}; pass coreClockHz`, {
      code: 'ENOCLOCK',
      peripheral: 'bsc',
      path: file,
      cause,
    });
  }
  const hz = Number(text.trim());
  if (!Number.isInteger(hz) || hz <= 0)
    throw new HwError(`ENOCLOCK: ${file} holds ${text.trim()}`, { code: 'ENOCLOCK', peripheral: 'bsc', path: file });
  return hz;
}

export interface BscOpenOptions {
  /** BSC controller: 1 is the header's SDA1/SCL1 (GPIO2/3). */
  bus: number;
  soc: SocName;
  /** SCL rate in Hz. Default 100000. */
  sclHz?: number;
  /** Core clock in Hz; default: read from debugfs (never assumed). */
  coreClockHz?: number;
  /** Clock-stretch timeout in SCL cycles (CLKT.TOUT); 0 disables. Default 0x40, the reset value. */
  stretchTimeoutCycles?: number;
  /** Memory device. Default /dev/mem. */
  memPath?: string;
  /** Where sysfs and debugfs are (tests point these at fixture trees). */
  sysfs?: string;
  debugfs?: string;
  trace?: boolean;
}

/** A BSC controller driven through its registers. Implements RegisterBus for device drivers. */
export class BscI2c implements RegisterBus {
  readonly #native: NativeBscBus;
  /** The SCL rate the divider achieved, Hz. */
  readonly sclHz: number;

  private constructor(native: NativeBscBus, sclHz: number) {
    this.#native = native;
    this.sclHz = sclHz;
  }

  static #configure(n: NativeBscBus, core: number, scl: number, stretch: number): BscI2c {
    if (!Number.isInteger(scl) || scl < 1000 || scl > 3_400_000) throw invalid('bsc', `sclHz ${scl} is outside 1 kHz..3.4 MHz`);
    if (!Number.isInteger(stretch) || stretch < 0 || stretch > 0xffff) throw invalid('bsc', 'stretchTimeoutCycles is 0..65535');
    return new BscI2c(n, n.configure(core, scl, stretch));
  }

  /**
   * Maps the controller and sets its clock. Refuses with EBUSY when the kernel's driver owns the
   * controller, ENOTSUP on the Pi 5 (its RP1 I2C is a DesignWare block, not a BSC).
   */
  static open(opts: BscOpenOptions, addon: KernelAddon = kernelAddon()): BscI2c {
    const base = PERIPHERAL_BASE[opts.soc];
    if (base === undefined)
      throw new HwError(`ENOTSUP: ${opts.soc} has no BSC controller (use I2cBus on /dev/i2c-N)`, { code: 'ENOTSUP', peripheral: 'bsc' });
    const busAddr = BSC_BUS_ADDRESS[opts.bus];
    if (busAddr === undefined || (opts.bus >= 3 && opts.soc !== 'bcm2711'))
      throw invalid('bsc', `BSC${opts.bus} does not exist on ${opts.soc}`);
    const owner = bscOwner(opts.bus, opts.sysfs);
    if (owner) {
      throw new HwError(
        `EBUSY: BSC${opts.bus} is owned by the kernel driver ${owner}; use I2cBus (/dev/i2c-N) or unbind the driver first`,
        { code: 'EBUSY', peripheral: 'bsc' },
      );
    }
    const core = opts.coreClockHz ?? readCoreClockHz(opts.debugfs);
    const phys = base + (busAddr - 0x7e000000);
    const page = phys - (phys % 4096);
    const Ctor = (addon as KernelAddon & { BscBus: BscCtor }).BscBus;
    const n = new Ctor({ path: opts.memPath ?? '/dev/mem', offset: page, blockOffset: phys - page, trace: opts.trace ?? false });
    return BscI2c.#configure(n, core, opts.sclHz ?? 100_000, opts.stretchTimeoutCycles ?? 0x40);
  }

  /** A BSC over the behavioural model (no hardware), answering from virtual register devices. */
  static simulate(
    opts: { coreClockHz?: number; sclHz?: number; stretchTimeoutCycles?: number; trace?: boolean } = {},
    addon: KernelAddon = kernelAddon(),
  ): BscI2c {
    const Ctor = (addon as KernelAddon & { BscBus: BscCtor }).BscBus;
    const n = new Ctor({ simulate: true, trace: opts.trace ?? false });
    return BscI2c.#configure(n, opts.coreClockHz ?? 500_000_000, opts.sclHz ?? 100_000, opts.stretchTimeoutCycles ?? 0x40);
  }

  static #addr(addr: number): void {
    if (!Number.isInteger(addr) || addr < 0 || addr > 0x7f) throw invalid('bsc', `address ${addr} is outside 0..0x7f`);
  }

  /** A write with its own start and stop. Rejects ENXIO (no ACK) or ETIMEDOUT (clock stretch). */
  async write(addr: number, data: Buffer | number[]): Promise<void> {
    BscI2c.#addr(addr);
    const b = Buffer.from(data);
    if (b.length > 0xffff) throw invalid('bsc', 'a transfer is at most 65535 bytes');
    return this.#native.write(addr, b);
  }

  /** A read of `length` bytes (any length up to 65535, through the 16-byte FIFO). */
  async read(addr: number, length: number): Promise<Buffer> {
    BscI2c.#addr(addr);
    if (!Number.isInteger(length) || length < 1 || length > 0xffff) throw invalid('bsc', `read length ${length} is outside 1..65535`);
    return this.#native.read(addr, length);
  }

  /** Write (1..16 bytes) then read with a repeated start. */
  async writeRead(addr: number, data: Buffer | number[], length: number): Promise<Buffer> {
    BscI2c.#addr(addr);
    const b = Buffer.from(data);
    if (b.length < 1 || b.length > 16) throw invalid('bsc', 'a combined write is 1..16 bytes (the FIFO)');
    if (!Number.isInteger(length) || length < 1 || length > 0xffff) throw invalid('bsc', `read length ${length} is outside 1..65535`);
    return this.#native.writeRead(addr, b, length);
  }

  async readRegisters(addr: number, reg: number, length: number): Promise<Buffer> {
    return this.writeRead(addr, [reg], length);
  }

  async writeRegisters(addr: number, reg: number, data: Buffer | number[]): Promise<void> {
    return this.write(addr, Buffer.concat([Buffer.from([reg]), Buffer.from(data)]));
  }

  /** Register accesses since the last clearTrace (needs trace: true). */
  trace(): BscTraceEntry[] {
    return this.#native.trace();
  }

  clearTrace(): void {
    this.#native.clearTrace();
  }

  /** Simulated only: puts a register device (256 bytes) on the bus; `stretch` holds SCL low. */
  attachDevice(addr: number, registers?: Uint8Array, opts: { stretch?: boolean } = {}): void {
    BscI2c.#addr(addr);
    this.#native.attachDevice(addr, registers ? Buffer.from(registers) : null, opts);
  }

  /** Simulated only: a device's registers as the bus left them. */
  deviceRegisters(addr: number): Buffer | null {
    return this.#native.deviceRegisters(addr);
  }

  /** Simulated only: what happened on the wires ("S 76W", "W:f4", "Sr 76R", "R:60", "NACK", "P"). */
  busLog(): string[] {
    return this.#native.busLog();
  }
}
