/**
 * The typed face of the addon's kernel interfaces (`exports.kernel`): I2C through i2c-dev and GPIO
 * through the character device. Hand-written to match native/kernel/*.cc.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An error from the kernel interfaces: `code` is the errno name ("ENXIO") or a project code. */
export class KernelError extends Error {
  declare code: string;
  declare errno?: number;
  declare syscall?: string;
  declare peripheral?: string;
  constructor(message: string, props?: { code: string; errno?: number; syscall?: string; peripheral?: string }) {
    super(message);
    this.name = 'KernelError';
    if (props) Object.assign(this, props);
  }
}

/** A coded error raised in TS before any native call (bad input changes nothing). */
export function invalid(peripheral: string, message: string): KernelError {
  return new KernelError(`EINVAL: ${message}`, { code: 'EINVAL', peripheral });
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

export interface NativeGpioChip {
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
  GpioChip: new (path: string) => NativeGpioChip;
  LineRequest: new (fd: number, lines: number) => NativeLineRequest;
  setErrorClass(cls: typeof KernelError): void;
}

let cached: KernelAddon | undefined;

/**
 * Loads the addon (build/Release, or a prebuild through node-gyp-build; PI_CONTROLLER_ADDON names
 * a specific binary) and returns its kernel part, with KernelError installed as its error class.
 */
export function kernelAddon(): KernelAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const explicit = process.env.PI_CONTROLLER_ADDON;
  const mod = (explicit ? require(explicit) : (require('node-gyp-build') as (dir: string) => unknown)(root)) as {
    kernel?: KernelAddon;
  };
  if (!mod.kernel) throw new KernelError('the addon has no kernel interfaces', { code: 'ENOSYS', peripheral: 'addon' });
  mod.kernel.setErrorClass(KernelError);
  cached = mod.kernel;
  return cached;
}
