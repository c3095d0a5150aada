/**
 * The typed face of the addon's kernel interfaces (`exports.kernel`): I2C through i2c-dev and GPIO
 * through the character device. Hand-written to match native/bindings/i2c.cc, gpiochip.cc and bsc.cc.
 */
import { loadAddon, type LoadAddonOptions } from './addon.js';
import { HwError } from './errors.js';
import type { NativeAddon } from './native.js';

/** A coded error raised in TS before any native call (bad input changes nothing). */
export function invalid(peripheral: string, message: string): HwError {
  return new HwError(`EINVAL: ${message}`, { code: 'EINVAL', peripheral });
}

export interface NativeI2cMessage {
  addr: number;
  flags: number;
  data?: Buffer;
  length?: number;
}

export interface NativeXferOptions {
  timeoutMs?: number;
  retries?: number;
  force?: boolean;
}

export interface NativeI2cBus {
  funcs(): number;
  transfer(msgs: NativeI2cMessage[], opts?: NativeXferOptions): Promise<Buffer[]>;
  smbus(addr: number, readWrite: number, command: number, size: number, data: Buffer | null, opts?: NativeXferOptions): Promise<Buffer>;
  read(addr: number, length: number, opts?: NativeXferOptions): Promise<Buffer>;
  write(addr: number, data: Buffer, opts?: NativeXferOptions): Promise<void>;
  scan(first: number, last: number, mode: number, opts?: NativeXferOptions): Promise<{ present: number[]; busy: number[] }>;
  close(): void;
}

export interface NativeLineInfo {
  offset: number;
  name: string;
  consumer: string;
  flags: number;
  debounceUs: number;
}

export interface NativeLineConfig {
  flags: number;
  debounceUs?: number;
  /** Bits over request line indices. */
  outputMask?: number;
  outputValues?: number;
}

export interface NativeCdevChip {
  info(): { name: string; label: string; lines: number };
  lineInfo(offset: number): NativeLineInfo;
  request(offsets: number[], config: NativeLineConfig, consumer: string, eventBufferSize: number): number;
  close(): void;
}

export interface NativeLineEvent {
  offset: number;
  edge: 'rising' | 'falling';
  timestampNs: bigint;
  seqno: number;
  lineSeqno: number;
}

export interface NativeLineRequest {
  getValues(): number;
  setValues(mask: number, bits: number): void;
  reconfigure(config: NativeLineConfig): void;
  watch(cb: (events: NativeLineEvent[], lost: number) => void): void;
  unwatch(): void;
  close(): void;
}

export interface KernelAddon {
  I2cBus: new (path: string) => NativeI2cBus;
  GpioChip: new (path: string) => NativeCdevChip;
  LineRequest: new (fd: number, lines: number) => NativeLineRequest;
  /** The BSC register master (typed in i2c-bsc.ts, its only user). */
  BscBus: unknown;
}

/**
 * The kernel part of the addon (`exports.kernel`), loaded through {@link loadAddon} so errors are
 * HwError instances with `code`, `errno`, `syscall`, `peripheral` and `path`.
 */
export function kernelAddon(options: LoadAddonOptions = {}): KernelAddon {
  const addon = loadAddon(options) as NativeAddon & { kernel?: KernelAddon };
  if (!addon.kernel)
    throw new HwError('the addon has no kernel interfaces (I2C/GPIO character device)', { code: 'EADDON_LOAD', peripheral: 'addon' });
  return addon.kernel;
}
