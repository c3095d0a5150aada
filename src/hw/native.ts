/**
 * The addon as TypeScript sees it: one hand-written interface over native/addon.cc and
 * native/bindings/gpio.cc. Nothing else in src/hw touches the untyped module.
 */

/** SoC families the GPIO core drives. */
export type SocName = 'bcm2835' | 'bcm2836' | 'bcm2837' | 'bcm2711' | 'rp1';

/** Register blocks named in a trace: the BCM GPIO page, or RP1's sub-blocks of gpiomem0. */
export type RegisterBlock =
  'GPIO' | 'IO_BANK0' | 'IO_BANK1' | 'IO_BANK2' | 'SYS_RIO0' | 'SYS_RIO1' | 'SYS_RIO2' | 'PADS_BANK0' | 'PADS_BANK1' | 'PADS_BANK2';

/** One register access (or datasheet wait) in the order the chip made it. */
export interface TraceEntry {
  /** Position in the access order, from 0 after each clearTrace(). */
  seq: number;
  op: 'read' | 'write' | 'delay';
  /** The block; null for a delay. */
  block: RegisterBlock | null;
  /** Byte offset inside the block (RP1 atomic aliases included: +0x1000 XOR, +0x2000 SET, +0x3000 CLR). */
  offset: number;
  /** Value read or written; for a delay, microseconds. */
  value: number;
}

export interface NativeGpioOptions {
  soc: SocName;
  /** Device or file to map; absent with simulate means anonymous memory. */
  path?: string;
  simulate?: boolean;
  trace?: boolean;
  allowReserved?: boolean;
}

export interface NativeGpioInfo {
  soc: SocName;
  pinCount: number;
  mapSize: number;
  padControl: boolean;
  simulated: boolean;
  tracing: boolean;
  open: boolean;
  banks: { first: number; width: number }[];
}

/** Native GpioChip. write/read/setMask/clearMask/readBank are plain N-API functions (the hot path). */
export interface NativeRegisterChip {
  write(pin: number, value: number): void;
  read(pin: number): number;
  setMask(mask: number, bank?: number): void;
  clearMask(mask: number, bank?: number): void;
  readBank(bank?: number): number;
  /**
   * Argument slots for the zero-argument mailbox functions: [0] pin or mask, [1] value or bank,
   * [2] result. Absent where the runtime forbids external buffers.
   */
  mailbox?: Int32Array;
  /** This chip's slot on the process-wide fast path, when it has one. */
  fastSlot?: number;
  mailboxWrite(): void;
  mailboxRead(): void;
  mailboxSetMask(): void;
  mailboxClearMask(): void;
  mailboxReadBank(): void;
  info(): NativeGpioInfo;
  setFunction(pin: number, mode: string): void;
  getFunction(pin: number): string;
  setPull(pin: number, pull: string): void;
  setDrive(pin: number, milliamps: number): void;
  setSlew(pin: number, slew: string): void;
  readRegister(block: RegisterBlock, offset: number): number;
  writeRegister(block: RegisterBlock, offset: number, value: number): void;
  trace(): TraceEntry[];
  clearTrace(): void;
  simDrive(pin: number, level: number | null): void;
  /** Native set/clear loop of `iterations` pairs; returns elapsed nanoseconds. */
  benchToggle(pin: number, iterations: number): number;
  close(): void;
}

/**
 * The process-wide fast path, present in the first JS environment that loaded the addon: one
 * mailbox [pin|mask, value|bank, result, chip slot] and functions that take no JS arguments.
 */
export interface NativeGpioFastPath {
  mailbox: Int32Array;
  write(): void;
  read(): void;
  setMask(): void;
  clearMask(): void;
  readBank(): void;
}

export interface NativeAddon {
  gpioFastPath?: NativeGpioFastPath;
  version(): string;
  /** A call that does nothing: the baseline of the benchmarks. */
  noop(): void;
  setErrorClass(cls: new (message: string, props: { code: string }) => Error): void;
  GpioChip: new (options: NativeGpioOptions) => NativeRegisterChip;
}
