/**
 * GPIO through the SoC's registers: the typed face of the addon's native `GpioChip` class.
 *
 * Every call is synchronous: a write is one register store, cheaper than any promise. Arguments
 * are checked here before the native call and again in native code; a bad argument throws a
 * coded RangeError/TypeError and touches no register.
 */
import { existsSync } from 'node:fs';
import { loadAddon } from './addon.js';
import { detectBoard, type BoardInfo } from './detect.js';
import { HwError, rangeError, typeError } from './errors.js';
import type {
  NativeRegisterChip,
  NativeGpioFastPath,
  NativeGpioInfo,
  NativeGpioOptions,
  RegisterBlock,
  SocName,
  TraceEntry,
} from './native.js';

export type { SocName, TraceEntry, RegisterBlock } from './native.js';

/** Pin functions. `alt6`-`alt8` and `none` exist on RP1 only; `alt5` on BCM only (on RP1 a5 is plain GPIO). */
export type PinMode = 'input' | 'output' | 'alt0' | 'alt1' | 'alt2' | 'alt3' | 'alt4' | 'alt5' | 'alt6' | 'alt7' | 'alt8' | 'none';
export type Pull = 'none' | 'up' | 'down';
export type Level = 0 | 1;
/** RP1 pad drive strength in mA. */
export type DriveStrength = 2 | 4 | 8 | 12;
export type Slew = 'slow' | 'fast';

const SOCS: readonly SocName[] = ['bcm2835', 'bcm2836', 'bcm2837', 'bcm2711', 'rp1'];
const BCM_MODES: ReadonlySet<string> = new Set(['input', 'output', 'alt0', 'alt1', 'alt2', 'alt3', 'alt4', 'alt5']);
const RP1_MODES: ReadonlySet<string> = new Set(['input', 'output', 'alt0', 'alt1', 'alt2', 'alt3', 'alt4', 'alt6', 'alt7', 'alt8', 'none']);
const ALL_MODES: ReadonlySet<string> = new Set([...BCM_MODES, ...RP1_MODES]);
const PULLS: ReadonlySet<string> = new Set(['none', 'up', 'down']);
/** GPIO0/1 (ID_SD/ID_SC) carry the HAT ID EEPROM bus on every board. */
const RESERVED_PINS = 2;

export interface OpenChipOptions {
  /** The SoC, or 'auto' (default) to detect it from the device tree under `root`. */
  soc?: SocName | 'auto';
  /** Root of the files detection reads (default '/'). */
  root?: string;
  /**
   * The device (or a file of the right size) to map. Default: `/dev/gpiomem`, or `/dev/gpiomem0`
   * on RP1. With `simulate`, the model's backing page: absent means anonymous memory.
   */
  gpiomem?: string;
  /** Run over the behavioural model of the chip instead of the device (default false). */
  simulate?: boolean;
  /** Record every register access for {@link RegisterChip.trace} (default false). */
  trace?: boolean;
  /** Allow GPIO0 and GPIO1, the HAT ID EEPROM bus (default false). */
  allowReserved?: boolean;
  /** An explicit addon binary (default: PI_CONTROLLER_ADDON, then the package's own). */
  addon?: string;
}

/** The outside world of a simulated chip. */
export interface SimulatedPins {
  /** Drives an input from outside (0 or 1), or releases it (null) so its pull decides. */
  drive(pin: number, level: Level | null): void;
}

/** What openChip() hands to a new RegisterChip (see the fields of RegisterChip). */
interface ChipSetup {
  native: NativeRegisterChip;
  info: NativeGpioInfo;
  board: BoardInfo | undefined;
  first: number;
  mb: Int32Array;
  slot: number;
  write: () => void;
  read: () => void;
  set: () => void;
  clear: () => void;
  readBank: () => void;
}

// The hot calls pass their arguments through a mailbox (an Int32Array over native memory) to
// native functions that take no JS arguments: converting JS arguments in N-API costs more than
// the call itself. The process-wide fast path (main thread) comes first, then the chip's own
// mailbox (worker threads); without either, the same slots feed the argument-passing functions.
function chipSetup(native: NativeRegisterChip, allowReserved: boolean, board: BoardInfo | undefined, fast?: NativeGpioFastPath): ChipSetup {
  const base = { native, info: native.info(), board, first: allowReserved ? 0 : RESERVED_PINS, slot: native.fastSlot ?? -1 };
  if (fast && native.fastSlot !== undefined) {
    return {
      ...base,
      mb: fast.mailbox,
      write: fast.write,
      read: fast.read,
      set: fast.setMask,
      clear: fast.clearMask,
      readBank: fast.readBank,
    };
  }
  if (native.mailbox) {
    return {
      ...base,
      mb: native.mailbox,
      write: native.mailboxWrite,
      read: native.mailboxRead,
      set: native.mailboxSetMask,
      clear: native.mailboxClearMask,
      readBank: native.mailboxReadBank,
    };
  }
  const mb = new Int32Array(4);
  return {
    ...base,
    mb,
    write: () => native.write(mb[0] ?? 0, mb[1] ?? 0),
    read: () => void (mb[2] = native.read(mb[0] ?? 0)),
    set: () => native.setMask((mb[0] ?? 0) >>> 0, mb[1] ?? 0),
    clear: () => native.clearMask((mb[0] ?? 0) >>> 0, mb[1] ?? 0),
    readBank: () => void (mb[2] = native.readBank(mb[1] ?? 0)),
  };
}

let pendingSetup: ChipSetup | undefined;

function takeSetup(): ChipSetup {
  const s = pendingSetup;
  pendingSetup = undefined;
  if (!s) throw typeError('ENOT_OPENED', 'RegisterChip instances come from openChip()');
  return s;
}

/** A GPIO chip opened with {@link openChip}. */
export class RegisterChip {
  // Every field is set by its initializer from the setup openChip() prepared, never assigned in
  // a constructor body. V8 then types each field by its first value (the mailbox's Int32Array,
  // the fast functions) instead of by `undefined`; with fields first set to `undefined`, each
  // write() paid for map checks on the mailbox (a few ns, against a bare call of about 8 ns here).
  readonly #s: ChipSetup = takeSetup();
  readonly #native: NativeRegisterChip = this.#s.native;
  readonly #mb: Int32Array = this.#s.mb;
  readonly #slot: number = this.#s.slot;
  readonly #write: () => void = this.#s.write;
  readonly #read: () => void = this.#s.read;
  readonly #set: () => void = this.#s.set;
  readonly #clear: () => void = this.#s.clear;
  readonly #readBank: () => void = this.#s.readBank;
  readonly #first: number = this.#s.first;
  readonly #widths: readonly number[] = this.#s.info.banks.map((b) => b.width);
  readonly #limits: readonly number[] = this.#s.info.banks.map((b) => 2 ** b.width);
  readonly #modes: ReadonlySet<string> = this.#s.info.soc === 'rp1' ? RP1_MODES : BCM_MODES;
  readonly #padControl: boolean = this.#s.info.padControl;
  /** The SoC whose registers this chip drives. */
  readonly soc: SocName = this.#s.info.soc;
  /** Number of GPIOs (54 on BCM2835-2837 and RP1, 58 on BCM2711). */
  readonly pinCount: number = this.#s.info.pinCount;
  /** Register banks: bank n covers pins first..first+width-1 in one register word. */
  readonly banks: readonly { readonly first: number; readonly width: number }[] = this.#s.info.banks.map((b) => Object.freeze({ ...b }));
  /** True when running over the behavioural model. */
  readonly simulated: boolean = this.#s.info.simulated;
  /** What detection found, when the SoC was detected. */
  readonly board: BoardInfo | undefined = this.#s.board;

  /**
   * True when this machine has a supported SoC and its GPIO device exists.
   * @param options `root` for detection (default '/')
   */
  static isSupported(options: { root?: string } = {}): boolean {
    if (process.platform !== 'linux') return false;
    try {
      return existsSync(detectBoard(options).gpiomem);
    } catch {
      return false;
    }
  }

  /** Sets a pin's function. Only the pin's own bits change (BCM: its 3 GPFSEL bits). */
  mode(pin: number, mode: PinMode): void {
    this.#pin(pin);
    if (typeof mode !== 'string' || !ALL_MODES.has(mode)) {
      throw typeError('EMODE', `unknown mode ${String(mode)}: expected input, output, alt0-alt8 or none`);
    }
    if (!this.#modes.has(mode)) throw typeError('EMODE_UNSUPPORTED', `mode ${mode} does not exist on ${this.soc}`);
    this.#native.setFunction(pin, mode);
  }

  /** The pin's current function. */
  getMode(pin: number): PinMode {
    this.#pin(pin);
    return this.#native.getFunction(pin) as PinMode;
  }

  /** Drives an output high (1) or low (0): one register write (GPSET/GPCLR, RP1 SET/CLR alias). */
  write(pin: number, value: Level): void {
    if (pin >= this.#first && pin < this.pinCount && (pin | 0) === pin && (value === 0 || value === 1)) {
      const mb = this.#mb;
      mb[3] = this.#slot;
      mb[0] = pin;
      mb[1] = value;
      this.#write();
      return;
    }
    this.#pin(pin);
    throw typeError('EVALUE', `value must be 0 or 1, not ${String(value)}`);
  }

  /** The pin's level (GPLEV, RP1 SYNC_IN). */
  read(pin: number): Level {
    if (!(pin >= this.#first && pin < this.pinCount && (pin | 0) === pin)) this.#pin(pin);
    const mb = this.#mb;
    mb[3] = this.#slot;
    mb[0] = pin;
    this.#read();
    return mb[2] as Level;
  }

  /** Sets the pin's pull: the GPPUD/GPPUDCLK sequence (2835-2837), PUP_PDN bits (2711), PADS PUE/PDE (RP1). */
  pull(pin: number, pull: Pull): void {
    this.#pin(pin);
    if (typeof pull !== 'string' || !PULLS.has(pull)) {
      throw typeError('EPULL', `unknown pull ${String(pull)}: expected none, up or down`);
    }
    this.#native.setPull(pin, pull);
  }

  /** RP1 only: pad drive strength in mA. */
  drive(pin: number, milliamps: DriveStrength): void {
    this.#pin(pin);
    this.#needPads('drive strength');
    if (milliamps !== 2 && milliamps !== 4 && milliamps !== 8 && milliamps !== 12) {
      throw rangeError('EDRIVE', `drive strength must be 2, 4, 8 or 12 mA, not ${String(milliamps)}`);
    }
    this.#native.setDrive(pin, milliamps);
  }

  /** RP1 only: pad slew rate. */
  slew(pin: number, slew: Slew): void {
    this.#pin(pin);
    this.#needPads('slew rate');
    if (slew !== 'slow' && slew !== 'fast') throw typeError('ESLEW', `slew must be slow or fast, not ${String(slew)}`);
    this.#native.setSlew(pin, slew);
  }

  /** Drives high every pin whose bit is set in `mask` (bit i = pin banks[bank].first + i), in one write. */
  setMask(mask: number, bank = 0): void {
    this.#mask(mask, bank);
    const mb = this.#mb;
    mb[3] = this.#slot;
    mb[0] = mask;
    mb[1] = bank;
    this.#set();
  }

  /** Drives low every pin whose bit is set in `mask`, in one write. */
  clearMask(mask: number, bank = 0): void {
    this.#mask(mask, bank);
    const mb = this.#mb;
    mb[3] = this.#slot;
    mb[0] = mask;
    mb[1] = bank;
    this.#clear();
  }

  /** The levels of all pins of a bank in one read (bit i = pin banks[bank].first + i). */
  readAll(bank = 0): number {
    this.#bank(bank);
    const mb = this.#mb;
    mb[3] = this.#slot;
    mb[1] = bank;
    this.#readBank();
    return (mb[2] ?? 0) >>> 0;
  }

  /**
   * Diagnostics: reads one register by block and byte offset, through the same accessor (traced,
   * and answered by the model when simulated). No pin ownership or reserved-pin checks apply.
   */
  peek(block: RegisterBlock, offset: number): number {
    return this.#native.readRegister(block, offset);
  }

  /** Diagnostics: writes one register by block and byte offset. Bypasses every pin check: use with care. */
  poke(block: RegisterBlock, offset: number, value: number): void {
    this.#native.writeRegister(block, offset, value);
  }

  /** The register accesses recorded since open or the last clearTrace() (needs `trace: true`). */
  trace(): TraceEntry[] {
    return this.#native.trace();
  }

  clearTrace(): void {
    this.#native.clearTrace();
  }

  /** The simulated outside world; throws HwError `ENOT_SIMULATED` on a real chip. */
  get sim(): SimulatedPins {
    if (!this.simulated) throw new HwError('sim needs a chip opened with simulate: true', { code: 'ENOT_SIMULATED', peripheral: 'gpio' });
    const native = this.#native;
    const count = this.pinCount;
    return {
      drive(pin: number, level: Level | null): void {
        if (typeof pin !== 'number' || !Number.isInteger(pin)) throw typeError('EPIN_TYPE', 'pin must be an integer');
        if (pin < 0 || pin >= count) throw rangeError('EPIN_RANGE', `pin ${pin} is outside GPIO 0-${count - 1}`);
        if (level !== null && level !== 0 && level !== 1) throw typeError('EVALUE', 'level must be 0, 1 or null');
        native.simDrive(pin, level);
      },
    };
  }

  /** Sets and clears `pin` `iterations` times in a native loop; returns nanoseconds (benchmarks). */
  benchToggle(pin: number, iterations: number): number {
    this.#pin(pin);
    return this.#native.benchToggle(pin, iterations);
  }

  /** Unmaps the registers; later calls throw HwError `ECLOSED`. */
  close(): void {
    this.#native.close();
  }

  #pin(pin: number): void {
    if (typeof pin !== 'number' || !Number.isInteger(pin)) throw typeError('EPIN_TYPE', `pin must be an integer, not ${String(pin)}`);
    if (pin < 0 || pin >= this.pinCount) {
      throw rangeError('EPIN_RANGE', `pin ${pin} is outside ${this.soc}'s GPIO 0-${this.pinCount - 1}`);
    }
    if (pin < this.#first) {
      throw rangeError(
        'EPIN_RESERVED',
        `GPIO${pin} is reserved for the HAT ID EEPROM (ID_SD/ID_SC); open the chip with allowReserved to use it`,
      );
    }
  }

  #bank(bank: number): void {
    if (typeof bank !== 'number' || !Number.isInteger(bank)) throw typeError('EBANK_TYPE', 'bank must be an integer');
    if (bank < 0 || bank >= this.banks.length) throw rangeError('EBANK_RANGE', `${this.soc} has GPIO banks 0-${this.banks.length - 1}`);
  }

  #mask(mask: number, bank: number): void {
    const w = this.#widths[bank];
    if (
      w !== undefined &&
      mask >= 0 &&
      mask < this.#limits[bank]! &&
      mask % 1 === 0 &&
      (bank !== 0 || this.#first === 0 || (mask & 3) === 0)
    )
      return;
    this.#bank(bank);
    if (typeof mask !== 'number' || !Number.isInteger(mask)) throw typeError('EMASK_TYPE', 'mask must be an integer');
    const width = this.banks[bank]?.width ?? 0;
    if (mask < 0 || mask >= 2 ** width) throw rangeError('EMASK_RANGE', `mask has bits outside bank ${bank} (${width} pins)`);
    if (bank === 0 && this.#first > 0 && (mask & ((1 << this.#first) - 1)) !== 0) {
      throw rangeError('EPIN_RESERVED', 'mask includes GPIO0/GPIO1, reserved for the HAT ID EEPROM; open the chip with allowReserved');
    }
  }

  #needPads(what: string): void {
    if (!this.#padControl) throw new HwError(`${what} is not settable on ${this.soc}`, { code: 'ENOTSUP', peripheral: 'gpio' });
  }
}

/**
 * Opens the GPIO registers of this board (or of a named SoC, or of its behavioural model).
 *
 * @example
 * const chip = openChip();            // detect the board, map /dev/gpiomem(0)
 * chip.mode(17, 'output');
 * chip.write(17, 1);
 * @example
 * const sim = openChip({ soc: 'bcm2711', simulate: true });  // no Pi needed
 * @throws HwError `EBOARD_UNKNOWN` (detection), `EACCES` (not in the gpio group), `ENOENT`
 *   (no gpiomem device); TypeError `ESOC_UNKNOWN` for an unknown `soc`.
 */
export function openChip(options: OpenChipOptions = {}): RegisterChip {
  const requested = options.soc ?? 'auto';
  let soc: SocName;
  let board: BoardInfo | undefined;
  if (requested === 'auto') {
    board = detectBoard(options.root === undefined ? {} : { root: options.root });
    soc = board.soc;
  } else if (SOCS.includes(requested)) {
    soc = requested;
  } else {
    throw typeError('ESOC_UNKNOWN', `unknown SoC '${String(requested)}' (known: ${SOCS.join(', ')}, auto)`);
  }
  const simulate = options.simulate === true;
  const native: NativeGpioOptions = {
    soc,
    simulate,
    trace: options.trace === true,
    allowReserved: options.allowReserved === true,
  };
  const path = options.gpiomem ?? (simulate ? undefined : soc === 'rp1' ? '/dev/gpiomem0' : '/dev/gpiomem');
  if (path !== undefined) native.path = path;
  const addon = loadAddon(options.addon === undefined ? {} : { path: options.addon });
  pendingSetup = chipSetup(new addon.GpioChip(native), native.allowReserved === true, board, addon.gpioFastPath);
  return new RegisterChip();
}
