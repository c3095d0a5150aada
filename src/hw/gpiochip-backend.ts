/**
 * A pin-level GPIO backend over the character device, and the automatic choice between it and
 * the register backend. Registers give speed; the character device works on any Linux board and
 * without access to /dev/gpiomem, so it is chosen when no register map fits this board or the
 * register device cannot be opened. The reason for the choice is kept.
 */
import { openChip, type RegisterChip, type OpenChipOptions } from './chip.js';
import { HwError } from './errors.js';
import { CdevChip, type EdgeEvent, type LineRequest, type Overflow } from './gpiochip.js';
import { invalid } from './kernel-addon.js';

export type CdevMode = 'input' | 'output';
export type CdevPull = 'none' | 'up' | 'down';

/**
 * Pins of one GPIO chip through the character device: one line request per pin in use,
 * reconfigured in place when its mode or pull changes (the line stays claimed throughout).
 */
export class CdevPins {
  readonly chip: CdevChip;
  readonly consumer: string;
  readonly #lines = new Map<number, { req: LineRequest; mode: CdevMode; pull: CdevPull; watched: boolean }>();

  constructor(chip: CdevChip, consumer = 'pi-controller') {
    this.chip = chip;
    this.consumer = consumer;
  }

  get pinCount(): number {
    return this.chip.info().lines;
  }

  #check(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.pinCount)
      throw invalid('gpiochip', `pin ${pin} is outside 0..${this.pinCount - 1}`);
  }

  #settings(mode: CdevMode, pull: CdevPull): { direction: 'in' | 'out'; bias: 'disabled' | 'pull-up' | 'pull-down' } {
    return { direction: mode === 'output' ? 'out' : 'in', bias: pull === 'up' ? 'pull-up' : pull === 'down' ? 'pull-down' : 'disabled' };
  }

  /** Sets a pin's direction; an output starts at `initial` (default 0). */
  mode(pin: number, mode: CdevMode, initial: 0 | 1 = 0): void {
    this.#check(pin);
    if (mode !== 'input' && mode !== 'output') throw invalid('gpiochip', `mode ${String(mode)} is not 'input' or 'output'`);
    const cur = this.#lines.get(pin);
    const pull = cur?.pull ?? 'none';
    if (cur?.watched) throw invalid('gpiochip', `pin ${pin} is watched; unwatch it first`);
    const values: Array<0 | 1> = [initial];
    if (cur) {
      cur.req.reconfigure({ ...this.#settings(mode, pull), values });
      cur.mode = mode;
      return;
    }
    const req = this.chip.request({ lines: [pin], ...this.#settings(mode, pull), values, consumer: this.consumer });
    this.#lines.set(pin, { req, mode, pull, watched: false });
  }

  /** Sets a pin's bias (claims it as an input if it was not in use). */
  pull(pin: number, pull: CdevPull): void {
    this.#check(pin);
    if (pull !== 'none' && pull !== 'up' && pull !== 'down') throw invalid('gpiochip', `pull ${String(pull)} is not none, up or down`);
    const cur = this.#lines.get(pin);
    if (!cur) {
      const req = this.chip.request({ lines: [pin], ...this.#settings('input', pull), consumer: this.consumer });
      this.#lines.set(pin, { req, mode: 'input', pull, watched: false });
      return;
    }
    if (cur.watched) throw invalid('gpiochip', `pin ${pin} is watched; unwatch it first`);
    cur.req.reconfigure({ ...this.#settings(cur.mode, pull), values: cur.mode === 'output' ? [cur.req.get(pin)] : [] });
    cur.pull = pull;
  }

  write(pin: number, level: 0 | 1): void {
    const cur = this.#lines.get(pin);
    if (!cur || cur.mode !== 'output') throw invalid('gpiochip', `pin ${pin} is not an output`);
    cur.req.set({ [pin]: level });
  }

  read(pin: number): 0 | 1 {
    this.#check(pin);
    let cur = this.#lines.get(pin);
    if (!cur) {
      this.mode(pin, 'input');
      cur = this.#lines.get(pin);
    }
    return (cur as { req: LineRequest }).req.get(pin);
  }

  /**
   * Edge events of an input pin, with kernel timestamps; overflows are reported, not hidden.
   * Returns a function that stops watching (the pin stays an input).
   */
  watch(
    pin: number,
    edge: 'rising' | 'falling' | 'both',
    onEdge: (e: EdgeEvent) => void,
    opts: { debounceUs?: number; onOverflow?: (o: Overflow) => void } = {},
  ): () => void {
    this.#check(pin);
    const cur = this.#lines.get(pin);
    if (cur?.watched) throw invalid('gpiochip', `pin ${pin} is already watched`);
    const pull = cur?.pull ?? 'none';
    cur?.req.close();
    const req = this.chip.request({
      lines: [pin],
      ...this.#settings('input', pull),
      edge,
      debounceUs: opts.debounceUs ?? 0,
      consumer: this.consumer,
    });
    const entry = { req, mode: 'input' as CdevMode, pull, watched: true };
    this.#lines.set(pin, entry);
    req.watch(onEdge, opts.onOverflow);
    return () => {
      if (this.#lines.get(pin) !== entry) return;
      req.close();
      this.#lines.delete(pin);
      this.mode(pin, 'input');
      this.pull(pin, pull);
    };
  }

  /** Releases one pin, or every pin. */
  release(pin?: number): void {
    for (const [p, l] of [...this.#lines]) {
      if (pin !== undefined && p !== pin) continue;
      l.req.close();
      this.#lines.delete(p);
    }
  }

  close(): void {
    this.release();
    this.chip.close();
  }
}

/** The chip labels of Raspberry Pi GPIO controllers, to pick the header's chip by default. */
const PI_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1', 'pinctrl-bcm2712'];

export type GpioBackend = { kind: 'registers'; chip: RegisterChip } | { kind: 'gpiochip'; pins: CdevPins; path: string; reason: string };

export interface OpenGpioOptions extends OpenChipOptions {
  /** 'auto' (default): registers when they can be opened, else the character device. */
  prefer?: 'auto' | 'registers' | 'gpiochip';
  /** Character device to use. Default: the chip labelled as a Pi GPIO controller, else the first. */
  gpiochip?: string;
  /** Where to look for gpiochips (default /dev). */
  devDir?: string;
}

/** Picks the chip to use: a Pi controller by label when there is one, else the first chip. */
function pickChip(devDir: string): string {
  const paths = CdevChip.list(devDir);
  if (paths.length === 0)
    throw new HwError(`ENOENT: no GPIO character device in ${devDir}`, { code: 'ENOENT', peripheral: 'gpiochip', path: devDir });
  for (const p of paths) {
    let chip: CdevChip | undefined;
    try {
      chip = CdevChip.open(p);
      if (PI_CHIP_LABELS.includes(chip.info().label)) return p;
    } catch {
      // an unreadable chip is skipped; the first chip is the fallback below
    } finally {
      chip?.close();
    }
  }
  return paths[0] as string;
}

/**
 * Opens GPIO with the best backend for this machine. Register access is tried first (unless
 * `prefer: 'gpiochip'`); when the board has no register map (EBOARD_UNKNOWN) or the register
 * device cannot be opened (EACCES, ENOENT, EPERM), the character device is used and the reason
 * is returned with it.
 */
export function openGpio(options: OpenGpioOptions = {}): GpioBackend {
  const prefer = options.prefer ?? 'auto';
  let reason = 'requested';
  if (prefer !== 'gpiochip') {
    try {
      return { kind: 'registers', chip: openChip(options) };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const fallback = ['EBOARD_UNKNOWN', 'EACCES', 'EPERM', 'ENOENT', 'ENODEV'];
      if (prefer === 'registers' || typeof code !== 'string' || !fallback.includes(code)) throw e;
      reason = `${code}: ${(e as Error).message}`;
    }
  }
  const path = options.gpiochip ?? pickChip(options.devDir ?? '/dev');
  return { kind: 'gpiochip', pins: new CdevPins(CdevChip.open(path)), path, reason };
}
