/**
 * What device drivers and decoders need from a bus: register reads and writes on an address.
 * {@link I2cBus} (the kernel's i2c-dev) and {@link VirtualI2cBus} (the simulator) both provide it.
 */
import { HwError } from '../errors.js';

export interface RegisterBus {
  /** Reads `length` bytes starting at register `reg` of the device at `addr`. */
  readRegisters(addr: number, reg: number, length: number): Promise<Buffer>;
  /** Writes bytes starting at register `reg` of the device at `addr`. */
  writeRegisters(addr: number, reg: number, data: Buffer | number[]): Promise<void>;
}

/** A simulated I2C device: it sees the bytes of each message, as a real one would. */
export interface VirtualI2cDevice {
  /** A write message (the first byte is usually the register pointer). */
  write(data: Buffer): void;
  /** A read message of `length` bytes. */
  read(length: number): Buffer;
}

/**
 * A simulated bus of virtual devices. Absent addresses answer like a real adapter with no ACK
 * (`ENXIO`). Used by the simulated hardware mode and by tests off-Pi.
 */
export class VirtualI2cBus implements RegisterBus {
  readonly #devices = new Map<number, VirtualI2cDevice>();

  /** Puts `device` on the bus at `addr` (7-bit). */
  attach(addr: number, device: VirtualI2cDevice): this {
    if (!Number.isInteger(addr) || addr < 0x03 || addr > 0x77)
      throw new HwError(`EINVAL: address ${addr} is not a 7-bit device address`, { code: 'EINVAL', peripheral: 'i2c' });
    this.#devices.set(addr, device);
    return this;
  }

  /** Addresses that would acknowledge, ascending (what a scan finds). */
  scan(): number[] {
    return [...this.#devices.keys()].sort((a, b) => a - b);
  }

  #device(addr: number): VirtualI2cDevice {
    const d = this.#devices.get(addr);
    if (!d)
      throw new HwError(`ENXIO: no device acknowledged address 0x${addr.toString(16)}`, {
        code: 'ENXIO',
        errno: 6,
        syscall: 'ioctl(I2C_RDWR)',
        peripheral: 'i2c',
      });
    return d;
  }

  /** A combined transfer, like I2cBus.transfer: resolves with the data of the read messages. */
  async transfer(msgs: Array<{ addr: number; write: Buffer | number[] } | { addr: number; read: number }>): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const m of msgs) {
      const d = this.#device(m.addr);
      if ('read' in m) out.push(d.read(m.read));
      else d.write(Buffer.from(m.write));
    }
    return out;
  }

  async readRegisters(addr: number, reg: number, length: number): Promise<Buffer> {
    const [data] = await this.transfer([
      { addr, write: [reg] },
      { addr, read: length },
    ]);
    return data as Buffer;
  }

  async writeRegisters(addr: number, reg: number, data: Buffer | number[]): Promise<void> {
    await this.transfer([{ addr, write: Buffer.concat([Buffer.from([reg]), Buffer.from(data)]) }]);
  }
}
