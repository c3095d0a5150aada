/**
 * A generic register-map device with an 8-bit register pointer, the behaviour most I2C sensors
 * share: the first byte of a write sets the pointer, further bytes are written at the pointer
 * (which then advances), and reads return bytes from the pointer onwards. Registers can be made
 * read-only, and writes can trigger device behaviour through `onWrite`.
 */
import type { VirtualI2cDevice } from './register-bus.js';

export interface RegisterMapOptions {
  /** Initial contents (register -> byte). Unlisted registers read 0. */
  initial?: Record<number, number> | Array<[number, number]>;
  /** Registers a bus write does not change (e.g. ID, calibration, measurement results). */
  readOnly?: Iterable<number>;
  /** Called after each byte the bus writes, with the register and the new value. */
  onWrite?: (reg: number, value: number) => void;
  /** Called before each byte the bus reads (lets a device refresh a status register). */
  onRead?: (reg: number) => void;
}

export class RegisterMapDevice implements VirtualI2cDevice {
  /** The device's registers; the simulator writes here directly (bus writes respect readOnly). */
  readonly regs = new Uint8Array(256);
  readonly #readOnly: Set<number>;
  readonly #onWrite: ((reg: number, value: number) => void) | undefined;
  readonly #onRead: ((reg: number) => void) | undefined;
  #pointer = 0;

  constructor(opts: RegisterMapOptions = {}) {
    const init = Array.isArray(opts.initial)
      ? opts.initial
      : Object.entries(opts.initial ?? {}).map(([k, v]) => [Number(k), v] as [number, number]);
    for (const [r, v] of init) this.regs[r & 0xff] = v;
    this.#readOnly = new Set(opts.readOnly ?? []);
    this.#onWrite = opts.onWrite;
    this.#onRead = opts.onRead;
  }

  /** The register pointer (set by the first byte of the last write). */
  get pointer(): number {
    return this.#pointer;
  }

  write(data: Buffer): void {
    if (data.length === 0) return;
    this.#pointer = data[0] as number;
    for (const b of data.subarray(1)) {
      const r = this.#pointer;
      if (!this.#readOnly.has(r)) {
        this.regs[r] = b;
        this.#onWrite?.(r, b);
      }
      this.#pointer = (r + 1) & 0xff;
    }
  }

  read(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      this.#onRead?.(this.#pointer);
      out[i] = this.regs[this.#pointer] as number;
      this.#pointer = (this.#pointer + 1) & 0xff;
    }
    return out;
  }
}
