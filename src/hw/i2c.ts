/**
 * I2C through the kernel's i2c-dev interface (`/dev/i2c-N`).
 *
 * Every transfer runs on a worker thread in the addon and returns a promise; transfers on one bus
 * are serialised in the addon (per device, across every open handle). Errors keep their errno as
 * `code`: `ENXIO`/`EREMOTEIO`/`ENODEV` when nobody acknowledges, `ETIMEDOUT`, `EOPNOTSUPP` when the
 * adapter cannot do that kind of transfer.
 */
import { HwError } from './errors.js';
import { kernelAddon, invalid, type KernelAddon, type NativeI2cBus, type NativeXferOptions } from './kernel-addon.js';

/** I2C_FUNC_* bits from <linux/i2c.h>. */
export const I2C_FUNC = {
  I2C: 0x00000001,
  TENBIT_ADDR: 0x00000002,
  PROTOCOL_MANGLING: 0x00000004,
  SMBUS_PEC: 0x00000008,
  NOSTART: 0x00000010,
  SMBUS_BLOCK_PROC_CALL: 0x00008000,
  SMBUS_QUICK: 0x00010000,
  SMBUS_READ_BYTE: 0x00020000,
  SMBUS_WRITE_BYTE: 0x00040000,
  SMBUS_READ_BYTE_DATA: 0x00080000,
  SMBUS_WRITE_BYTE_DATA: 0x00100000,
  SMBUS_READ_WORD_DATA: 0x00200000,
  SMBUS_WRITE_WORD_DATA: 0x00400000,
  SMBUS_PROC_CALL: 0x00800000,
  SMBUS_READ_BLOCK_DATA: 0x01000000,
  SMBUS_WRITE_BLOCK_DATA: 0x02000000,
  SMBUS_READ_I2C_BLOCK: 0x04000000,
  SMBUS_WRITE_I2C_BLOCK: 0x08000000,
  SMBUS_HOST_NOTIFY: 0x10000000,
} as const;

export type I2cFunctionality = { -readonly [K in keyof typeof I2C_FUNC]: boolean } & { raw: number };

/** Message flags for {@link I2cBus.transfer} (I2C_M_* in <linux/i2c.h>). */
const I2C_M_RD = 0x0001;
const I2C_M_TEN = 0x0010;

// SMBus transaction kinds (I2C_SMBUS_* sizes) and directions.
const SMBUS_READ = 1;
const SMBUS_WRITE = 0;
const SZ = { QUICK: 0, BYTE: 1, BYTE_DATA: 2, WORD_DATA: 3, PROC_CALL: 4, BLOCK_DATA: 5, I2C_BLOCK_DATA: 8 } as const;
/** SMBus block transfers carry at most 32 bytes. */
export const SMBUS_BLOCK_MAX = 32;

/** One message of a combined transfer: a write of `data`, or a read of `length` bytes. */
export type I2cMessage =
  { addr: number; write: Buffer | Uint8Array | number[]; tenBit?: boolean } | { addr: number; read: number; tenBit?: boolean };

export interface I2cOptions {
  /** Adapter timeout for each transfer, in ms (rounded up to 10 ms steps by the kernel). Default: the adapter's. */
  timeoutMs?: number;
  /** Retries the adapter makes on arbitration loss. Default: the adapter's. */
  retries?: number;
  /** Talk to an address even if a kernel driver claims it (I2C_SLAVE_FORCE). Default false. */
  force?: boolean;
}

export interface I2cScanOptions extends I2cOptions {
  /** First address probed. Default 0x08 (0x00-0x07 are reserved). */
  first?: number;
  /** Last address probed. Default 0x77 (0x78-0x7f are reserved). */
  last?: number;
  /** 'auto' probes like i2cdetect: read byte at 0x30-0x37 and 0x50-0x5f, quick write elsewhere. Default 'auto'. */
  mode?: 'auto' | 'quick' | 'read';
}

export interface I2cScanResult {
  /** Addresses that acknowledged. */
  present: number[];
  /** Addresses claimed by a kernel driver (i2cdetect's "UU"); not probed. */
  busy: number[];
}

function checkAddr(addr: number, tenBit = false): void {
  const max = tenBit ? 0x3ff : 0x7f;
  if (!Number.isInteger(addr) || addr < 0 || addr > max) throw invalid('i2c', `address ${addr} is outside 0..0x${max.toString(16)}`);
}

function checkByte(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw invalid('i2c', `${what} ${v} is not a byte`);
}

function toBuffer(data: Buffer | Uint8Array | number[], what: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (const b of data) checkByte(b, what);
  return Buffer.from(data);
}

/** An open I2C bus. Create with {@link I2cBus.open}; close with {@link I2cBus.close}. */
export class I2cBus {
  readonly path: string;
  readonly #native: NativeI2cBus;
  readonly #defaults: I2cOptions;
  #funcs: number | undefined;

  private constructor(path: string, native: NativeI2cBus, defaults: I2cOptions) {
    this.path = path;
    this.#native = native;
    this.#defaults = defaults;
  }

  /**
   * Opens `/dev/i2c-<bus>` (or the given device path).
   * @param bus bus number or device path
   * @param defaults options applied to every transfer unless overridden
   * @param addon the addon's kernel part (injectable for tests)
   */
  static open(bus: number | string, defaults: I2cOptions = {}, addon: KernelAddon = kernelAddon()): I2cBus {
    if (typeof bus === 'number' && (!Number.isInteger(bus) || bus < 0)) throw invalid('i2c', `bus ${bus} is not a bus number`);
    const path = typeof bus === 'number' ? `/dev/i2c-${bus}` : bus;
    return new I2cBus(path, new addon.I2cBus(path), defaults);
  }

  #opts(o?: I2cOptions): NativeXferOptions {
    return { ...this.#defaults, ...o };
  }

  /** What the adapter can do (I2C_FUNCS). Cached after the first call. */
  functionality(): I2cFunctionality {
    this.#funcs ??= this.#native.funcs();
    const raw = this.#funcs;
    const out = { raw } as I2cFunctionality;
    for (const [k, bit] of Object.entries(I2C_FUNC)) out[k as keyof typeof I2C_FUNC] = (raw & bit) !== 0;
    return out;
  }

  /**
   * One combined transfer (I2C_RDWR): the messages go out with a repeated start between them and a
   * single stop at the end. Resolves with the data of the read messages, in order.
   */
  async transfer(msgs: I2cMessage[], opts?: I2cOptions): Promise<Buffer[]> {
    if (msgs.length === 0 || msgs.length > 42) throw invalid('i2c', 'a transfer has 1 to 42 messages');
    const native = msgs.map((m) => {
      checkAddr(m.addr, m.tenBit);
      const flags = m.tenBit ? I2C_M_TEN : 0;
      if ('read' in m) {
        if (!Number.isInteger(m.read) || m.read < 1 || m.read > 8192) throw invalid('i2c', `read length ${m.read} is outside 1..8192`);
        return { addr: m.addr, flags: flags | I2C_M_RD, length: m.read };
      }
      return { addr: m.addr, flags, data: toBuffer(m.write, 'data byte') };
    });
    return this.#native.transfer(native, this.#opts(opts));
  }

  /** Writes `write` then reads `length` bytes with a repeated start between (e.g. register reads). */
  async writeRead(addr: number, write: Buffer | number[], length: number, opts?: I2cOptions): Promise<Buffer> {
    const [data] = await this.transfer(
      [
        { addr, write },
        { addr, read: length },
      ],
      opts,
    );
    return data as Buffer;
  }

  /** A plain read of `length` bytes (start, address+R, data, stop). */
  async read(addr: number, length: number, opts?: I2cOptions & { tenBit?: boolean }): Promise<Buffer> {
    checkAddr(addr, opts?.tenBit);
    if (!Number.isInteger(length) || length < 1 || length > 8192) throw invalid('i2c', `read length ${length} is outside 1..8192`);
    return this.#native.read(addr, length, this.#opts(opts));
  }

  /** A plain write (start, address+W, data, stop). */
  async write(addr: number, data: Buffer | number[], opts?: I2cOptions & { tenBit?: boolean }): Promise<void> {
    checkAddr(addr, opts?.tenBit);
    const buf = toBuffer(data, 'data byte');
    if (buf.length > 8192) throw invalid('i2c', 'write length is above 8192');
    return this.#native.write(addr, buf, this.#opts(opts));
  }

  async #smbus(addr: number, rw: number, cmd: number, size: number, data: Buffer | null, opts?: I2cOptions): Promise<Buffer> {
    checkAddr(addr);
    checkByte(cmd, 'command');
    return this.#native.smbus(addr, rw, cmd, size, data, this.#opts(opts));
  }

  /** SMBus quick command: just the address with the R/W bit `bit`. */
  async quick(addr: number, bit: 0 | 1 = 0, opts?: I2cOptions): Promise<void> {
    await this.#smbus(addr, bit, 0, SZ.QUICK, null, opts);
  }

  /** SMBus receive byte. */
  async receiveByte(addr: number, opts?: I2cOptions): Promise<number> {
    return (await this.#smbus(addr, SMBUS_READ, 0, SZ.BYTE, null, opts))[0] as number;
  }

  /** SMBus send byte. */
  async sendByte(addr: number, byte: number, opts?: I2cOptions): Promise<void> {
    checkByte(byte, 'byte');
    await this.#smbus(addr, SMBUS_WRITE, byte, SZ.BYTE, null, opts);
  }

  /** SMBus read byte data: the byte of register `cmd`. */
  async readByte(addr: number, cmd: number, opts?: I2cOptions): Promise<number> {
    return (await this.#smbus(addr, SMBUS_READ, cmd, SZ.BYTE_DATA, null, opts))[0] as number;
  }

  /** SMBus write byte data. */
  async writeByte(addr: number, cmd: number, byte: number, opts?: I2cOptions): Promise<void> {
    checkByte(byte, 'byte');
    await this.#smbus(addr, SMBUS_WRITE, cmd, SZ.BYTE_DATA, Buffer.from([byte]), opts);
  }

  /** SMBus read word data (little-endian on the wire, as SMBus defines it). */
  async readWord(addr: number, cmd: number, opts?: I2cOptions): Promise<number> {
    return (await this.#smbus(addr, SMBUS_READ, cmd, SZ.WORD_DATA, null, opts)).readUInt16LE(0);
  }

  /** SMBus write word data. */
  async writeWord(addr: number, cmd: number, word: number, opts?: I2cOptions): Promise<void> {
    if (!Number.isInteger(word) || word < 0 || word > 0xffff) throw invalid('i2c', `word ${word} is outside 0..0xffff`);
    const b = Buffer.alloc(2);
    b.writeUInt16LE(word, 0);
    await this.#smbus(addr, SMBUS_WRITE, cmd, SZ.WORD_DATA, b, opts);
  }

  /** SMBus process call: writes a word, reads a word back. */
  async processCall(addr: number, cmd: number, word: number, opts?: I2cOptions): Promise<number> {
    if (!Number.isInteger(word) || word < 0 || word > 0xffff) throw invalid('i2c', `word ${word} is outside 0..0xffff`);
    const b = Buffer.alloc(2);
    b.writeUInt16LE(word, 0);
    return (await this.#smbus(addr, SMBUS_WRITE, cmd, SZ.PROC_CALL, b, opts)).readUInt16LE(0);
  }

  /** SMBus block read: the device sends the count (at most 32) then the bytes. */
  async readBlock(addr: number, cmd: number, opts?: I2cOptions): Promise<Buffer> {
    const raw = await this.#smbus(addr, SMBUS_READ, cmd, SZ.BLOCK_DATA, null, opts);
    const n = Math.min(raw[0] as number, SMBUS_BLOCK_MAX);
    return Buffer.from(raw.subarray(1, 1 + n));
  }

  /** SMBus block write: the count then up to 32 bytes. */
  async writeBlock(addr: number, cmd: number, data: Buffer | number[], opts?: I2cOptions): Promise<void> {
    const buf = toBuffer(data, 'data byte');
    if (buf.length < 1 || buf.length > SMBUS_BLOCK_MAX) throw invalid('i2c', `block length ${buf.length} is outside 1..32`);
    await this.#smbus(addr, SMBUS_WRITE, cmd, SZ.BLOCK_DATA, Buffer.concat([Buffer.from([buf.length]), buf]), opts);
  }

  /** I2C block read through SMBus (no count byte on the wire): `length` bytes from register `cmd`. */
  async readI2cBlock(addr: number, cmd: number, length: number, opts?: I2cOptions): Promise<Buffer> {
    if (!Number.isInteger(length) || length < 1 || length > SMBUS_BLOCK_MAX)
      throw invalid('i2c', `block length ${length} is outside 1..32`);
    const req = Buffer.from([length]);
    const raw = await this.#smbus(addr, SMBUS_READ, cmd, SZ.I2C_BLOCK_DATA, req, opts);
    return Buffer.from(raw.subarray(1, 1 + length));
  }

  /** I2C block write through SMBus: up to 32 bytes to register `cmd`. */
  async writeI2cBlock(addr: number, cmd: number, data: Buffer | number[], opts?: I2cOptions): Promise<void> {
    const buf = toBuffer(data, 'data byte');
    if (buf.length < 1 || buf.length > SMBUS_BLOCK_MAX) throw invalid('i2c', `block length ${buf.length} is outside 1..32`);
    await this.#smbus(addr, SMBUS_WRITE, cmd, SZ.I2C_BLOCK_DATA, Buffer.concat([Buffer.from([buf.length]), buf]), opts);
  }

  /**
   * Reads `length` bytes starting at register `reg` of a register-pointer device. Uses one
   * combined I2C transfer when the adapter can; otherwise falls back to SMBus I2C-block reads
   * (32 bytes at a time), then to SMBus byte reads.
   */
  async readRegisters(addr: number, reg: number, length: number, opts?: I2cOptions): Promise<Buffer> {
    checkByte(reg, 'register');
    if (!Number.isInteger(length) || length < 1 || reg + length > 0x100)
      throw invalid('i2c', `length ${length} from register ${reg} leaves 0..0xff`);
    const f = this.functionality();
    if (f.I2C) return this.writeRead(addr, [reg], length, opts);
    const parts: Buffer[] = [];
    if (f.SMBUS_READ_I2C_BLOCK) {
      for (let off = 0; off < length; off += SMBUS_BLOCK_MAX)
        parts.push(await this.readI2cBlock(addr, reg + off, Math.min(SMBUS_BLOCK_MAX, length - off), opts));
    } else if (f.SMBUS_READ_BYTE_DATA) {
      for (let i = 0; i < length; i++) parts.push(Buffer.from([await this.readByte(addr, reg + i, opts)]));
    } else {
      throw new HwError(`EOPNOTSUPP: ${this.path} can do neither plain I2C nor SMBus register reads`, {
        code: 'EOPNOTSUPP',
        peripheral: 'i2c',
      });
    }
    return Buffer.concat(parts);
  }

  /** Writes bytes starting at register `reg`, with the same fallbacks as {@link readRegisters}. */
  async writeRegisters(addr: number, reg: number, data: Buffer | number[], opts?: I2cOptions): Promise<void> {
    checkByte(reg, 'register');
    const buf = toBuffer(data, 'data byte');
    if (buf.length < 1 || reg + buf.length > 0x100) throw invalid('i2c', `length ${buf.length} from register ${reg} leaves 0..0xff`);
    const f = this.functionality();
    if (f.I2C) {
      await this.transfer([{ addr, write: Buffer.concat([Buffer.from([reg]), buf]) }], opts);
    } else if (f.SMBUS_WRITE_I2C_BLOCK) {
      for (let off = 0; off < buf.length; off += SMBUS_BLOCK_MAX)
        await this.writeI2cBlock(addr, reg + off, buf.subarray(off, off + SMBUS_BLOCK_MAX), opts);
    } else if (f.SMBUS_WRITE_BYTE_DATA) {
      for (let i = 0; i < buf.length; i++) await this.writeByte(addr, reg + i, buf[i] as number, opts);
    } else {
      throw new HwError(`EOPNOTSUPP: ${this.path} can do neither plain I2C nor SMBus register writes`, {
        code: 'EOPNOTSUPP',
        peripheral: 'i2c',
      });
    }
  }

  /** Probes addresses like `i2cdetect -y` and reports which acknowledged. */
  async scan(opts: I2cScanOptions = {}): Promise<I2cScanResult> {
    const first = opts.first ?? 0x08;
    const last = opts.last ?? 0x77;
    checkAddr(first);
    checkAddr(last);
    if (first > last) throw invalid('i2c', 'scan range is empty');
    const mode = { auto: 0, quick: 1, read: 2 }[opts.mode ?? 'auto'];
    if (mode === undefined) throw invalid('i2c', `unknown scan mode ${String(opts.mode)}`);
    return this.#native.scan(first, last, mode, this.#opts(opts));
  }

  /** Closes the bus; transfers already queued still finish. */
  close(): void {
    this.#native.close();
  }
}
