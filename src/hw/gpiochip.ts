/**
 * GPIO through the kernel's character device, uAPI v2 (`/dev/gpiochipN`).
 *
 * Works on any Linux board with a GPIO driver, needs no register map and no /dev/mem, and is the
 * source of edge events with kernel timestamps: events are read on a native thread and delivered
 * to the `edge` listeners without blocking the event loop. When the kernel's event buffer
 * overflows, the gap in sequence numbers is reported through `overflow` rather than hidden.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  kernelAddon,
  invalid,
  type KernelAddon,
  type NativeCdevChip,
  type NativeLineConfig,
  type NativeLineEvent,
  type NativeLineRequest,
} from './kernel-addon.js';

/** GPIO_V2_LINE_FLAG_* from <linux/gpio.h>. */
export const LINE_FLAG = {
  USED: 1 << 0,
  ACTIVE_LOW: 1 << 1,
  INPUT: 1 << 2,
  OUTPUT: 1 << 3,
  EDGE_RISING: 1 << 4,
  EDGE_FALLING: 1 << 5,
  OPEN_DRAIN: 1 << 6,
  OPEN_SOURCE: 1 << 7,
  BIAS_PULL_UP: 1 << 8,
  BIAS_PULL_DOWN: 1 << 9,
  BIAS_DISABLED: 1 << 10,
  EVENT_CLOCK_REALTIME: 1 << 11,
} as const;

export type Direction = 'in' | 'out';
export type Bias = 'as-is' | 'disabled' | 'pull-up' | 'pull-down';
export type Drive = 'push-pull' | 'open-drain' | 'open-source';
export type Edge = 'none' | 'rising' | 'falling' | 'both';

/** How the lines of a request are set up. */
export interface LineSettings {
  /** Default 'in'. */
  direction?: Direction;
  /** Default 'as-is' (leave the bias the line has). */
  bias?: Bias;
  /** Outputs only. Default 'push-pull'. */
  drive?: Drive;
  /** Logical 1 is physical low. Default false. */
  activeLow?: boolean;
  /** Inputs only. Default 'none'. */
  edge?: Edge;
  /** Inputs only: debounce period in microseconds (0 = off). Default 0. */
  debounceUs?: number;
  /** Timestamps from CLOCK_REALTIME instead of CLOCK_MONOTONIC. Default false. */
  realtimeClock?: boolean;
}

export interface LineRequestOptions extends LineSettings {
  /** Line offsets on the chip (1 to 32). */
  lines: number[];
  /** Initial logical values of outputs, one per line (default all 0). */
  values?: Array<0 | 1>;
  /** Consumer label shown in line info. Default 'pi-controller'. */
  consumer?: string;
  /** Kernel event buffer size in events (0 = the kernel's default, 16 per line). */
  eventBufferSize?: number;
}

/** Line info decoded from GPIO_V2_GET_LINEINFO. */
export interface LineInfo {
  offset: number;
  name: string;
  consumer: string;
  used: boolean;
  direction: Direction;
  activeLow: boolean;
  bias: Bias;
  drive: Drive;
  edge: Edge;
  debounceUs: number;
}

/** One edge event, as the kernel timestamped and numbered it. */
export interface EdgeEvent {
  offset: number;
  edge: 'rising' | 'falling';
  /** Kernel timestamp in ns (CLOCK_MONOTONIC unless realtimeClock). */
  timestampNs: bigint;
  /** Sequence number over the whole request, from 1. */
  seqno: number;
  /** Sequence number of this line, from 1. */
  lineSeqno: number;
}

function encodeFlags(s: LineSettings): number {
  const direction = s.direction ?? 'in';
  if (direction !== 'in' && direction !== 'out') throw invalid('gpiochip', `direction ${String(direction)} is not 'in' or 'out'`);
  let f = direction === 'out' ? LINE_FLAG.OUTPUT : LINE_FLAG.INPUT;
  switch (s.bias ?? 'as-is') {
    case 'as-is':
      break;
    case 'disabled':
      f |= LINE_FLAG.BIAS_DISABLED;
      break;
    case 'pull-up':
      f |= LINE_FLAG.BIAS_PULL_UP;
      break;
    case 'pull-down':
      f |= LINE_FLAG.BIAS_PULL_DOWN;
      break;
    default:
      throw invalid('gpiochip', `bias ${String(s.bias)} is unknown`);
  }
  const drive = s.drive ?? 'push-pull';
  if (drive !== 'push-pull' && direction !== 'out') throw invalid('gpiochip', 'drive applies to outputs only');
  if (drive === 'open-drain') f |= LINE_FLAG.OPEN_DRAIN;
  else if (drive === 'open-source') f |= LINE_FLAG.OPEN_SOURCE;
  else if (drive !== 'push-pull') throw invalid('gpiochip', `drive ${String(drive)} is unknown`);
  const edge = s.edge ?? 'none';
  if (edge !== 'none' && direction !== 'in') throw invalid('gpiochip', 'edge detection applies to inputs only');
  if (edge === 'rising' || edge === 'both') f |= LINE_FLAG.EDGE_RISING;
  if (edge === 'falling' || edge === 'both') f |= LINE_FLAG.EDGE_FALLING;
  if (!['none', 'rising', 'falling', 'both'].includes(edge)) throw invalid('gpiochip', `edge ${String(edge)} is unknown`);
  if (s.activeLow) f |= LINE_FLAG.ACTIVE_LOW;
  if (s.realtimeClock) f |= LINE_FLAG.EVENT_CLOCK_REALTIME;
  const d = s.debounceUs ?? 0;
  if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw invalid('gpiochip', `debounceUs ${d} is not a microsecond count`);
  if (d > 0 && direction !== 'in') throw invalid('gpiochip', 'debounce applies to inputs only');
  return f;
}

function decodeInfo(n: { offset: number; name: string; consumer: string; flags: number; debounceUs: number }): LineInfo {
  const f = n.flags;
  const has = (bit: number): boolean => (f & bit) !== 0;
  return {
    offset: n.offset,
    name: n.name,
    consumer: n.consumer,
    used: has(LINE_FLAG.USED),
    direction: has(LINE_FLAG.OUTPUT) ? 'out' : 'in',
    activeLow: has(LINE_FLAG.ACTIVE_LOW),
    bias: has(LINE_FLAG.BIAS_PULL_UP)
      ? 'pull-up'
      : has(LINE_FLAG.BIAS_PULL_DOWN)
        ? 'pull-down'
        : has(LINE_FLAG.BIAS_DISABLED)
          ? 'disabled'
          : 'as-is',
    drive: has(LINE_FLAG.OPEN_DRAIN) ? 'open-drain' : has(LINE_FLAG.OPEN_SOURCE) ? 'open-source' : 'push-pull',
    edge:
      has(LINE_FLAG.EDGE_RISING) && has(LINE_FLAG.EDGE_FALLING)
        ? 'both'
        : has(LINE_FLAG.EDGE_RISING)
          ? 'rising'
          : has(LINE_FLAG.EDGE_FALLING)
            ? 'falling'
            : 'none',
    debounceUs: n.debounceUs,
  };
}

/** An open GPIO chip. */
export class CdevChip {
  readonly path: string;
  readonly #native: NativeCdevChip;
  readonly #addon: KernelAddon;

  private constructor(path: string, native: NativeCdevChip, addon: KernelAddon) {
    this.path = path;
    this.#native = native;
    this.#addon = addon;
  }

  /** Paths of the GPIO chips in `dir` (default /dev), sorted by number. */
  static list(dir = '/dev'): string[] {
    return readdirSync(dir)
      .filter((n) => /^gpiochip\d+$/.test(n))
      .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)))
      .map((n) => join(dir, n));
  }

  /**
   * Opens `/dev/gpiochip<chip>` (or the given path).
   * @param addon the addon's kernel part (injectable for tests)
   */
  static open(chip: number | string, addon: KernelAddon = kernelAddon()): CdevChip {
    if (typeof chip === 'number' && (!Number.isInteger(chip) || chip < 0)) throw invalid('gpiochip', `chip ${chip} is not a chip number`);
    const path = typeof chip === 'number' ? `/dev/gpiochip${chip}` : chip;
    return new CdevChip(path, new addon.GpioChip(path), addon);
  }

  /** Chip name ("gpiochip0"), label (driver's name for it) and line count. */
  info(): { name: string; label: string; lines: number } {
    return this.#native.info();
  }

  /** What the kernel says about one line. */
  lineInfo(offset: number): LineInfo {
    if (!Number.isInteger(offset) || offset < 0) throw invalid('gpiochip', `line ${offset} is not an offset`);
    return decodeInfo(this.#native.lineInfo(offset));
  }

  /** The offset of the line called `name`, or undefined. */
  findLine(name: string): number | undefined {
    const { lines } = this.info();
    for (let i = 0; i < lines; i++) if (this.#native.lineInfo(i).name === name) return i;
    return undefined;
  }

  /** Requests lines; they stay claimed until {@link LineRequest.close}. */
  request(opts: LineRequestOptions): LineRequest {
    const lines = opts.lines;
    if (!Array.isArray(lines) || lines.length < 1 || lines.length > 32) throw invalid('gpiochip', 'a request holds 1 to 32 lines');
    if (new Set(lines).size !== lines.length) throw invalid('gpiochip', 'a line appears twice in the request');
    for (const l of lines) if (!Number.isInteger(l) || l < 0) throw invalid('gpiochip', `line ${l} is not an offset`);
    const config = LineRequest.config(opts, lines.length);
    const ebs = opts.eventBufferSize ?? 0;
    if (!Number.isInteger(ebs) || ebs < 0) throw invalid('gpiochip', 'eventBufferSize must be a count');
    const fd = this.#native.request(lines, config, opts.consumer ?? 'pi-controller', ebs);
    return new LineRequest(this.path, [...lines], new this.#addon.LineRequest(fd, lines.length));
  }

  /** Closes the chip fd; line requests made from it stay valid. */
  close(): void {
    this.#native.close();
  }
}

/** Reported when the kernel dropped events because its buffer overflowed. */
export interface Overflow {
  /** How many events were lost. */
  lost: number;
  /** Sequence number of the first event delivered after the gap. */
  beforeSeqno: number;
}

/**
 * A set of requested lines. Values are logical (activeLow applied by the kernel); `get` and `set`
 * speak in line offsets. `watch` starts the event thread; `unwatch` or `close` stops it.
 */
export class LineRequest {
  readonly chip: string;
  readonly lines: readonly number[];
  readonly #native: NativeLineRequest;
  #watching = false;
  #closed = false;

  /** @internal built by {@link CdevChip.request} */
  constructor(chip: string, lines: number[], native: NativeLineRequest) {
    this.chip = chip;
    this.lines = lines;
    this.#native = native;
  }

  /**
   * Delivers edge events (the request needs `edge` set) to `onEdge`, in kernel order, and
   * overflows (sequence gaps) to `onOverflow`. One watcher per request.
   */
  watch(onEdge: (e: EdgeEvent) => void, onOverflow?: (o: Overflow) => void): void {
    if (this.#closed) throw invalid('gpiochip', 'the request is closed');
    if (this.#watching) throw invalid('gpiochip', 'the request is already watched');
    this.#watching = true;
    this.#native.watch((events: NativeLineEvent[], lost: number) => {
      if (lost > 0 && events[0]) onOverflow?.({ lost, beforeSeqno: events[0].seqno });
      for (const e of events) onEdge(e);
    });
  }

  /** Stops the event thread (joined before this returns). */
  unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#native.unwatch();
  }

  /** @internal */
  static config(s: LineSettings & { values?: Array<0 | 1> }, n: number): NativeLineConfig {
    const flags = encodeFlags(s);
    const cfg: NativeLineConfig = { flags, debounceUs: s.debounceUs ?? 0 };
    if ((s.direction ?? 'in') === 'out') {
      const values = s.values ?? [];
      if (values.length > n) throw invalid('gpiochip', 'more values than lines');
      let bits = 0;
      values.forEach((v, i) => {
        if (v !== 0 && v !== 1) throw invalid('gpiochip', `value ${String(v)} is not 0 or 1`);
        if (v) bits |= 1 << i;
      });
      cfg.outputMask = n === 32 ? 0xffffffff : (1 << n) - 1;
      cfg.outputValues = bits >>> 0;
    }
    return cfg;
  }

  #index(offset: number): number {
    const i = this.lines.indexOf(offset);
    if (i < 0) throw invalid('gpiochip', `line ${offset} is not part of this request`);
    return i;
  }

  /** Logical value of one line, or of every line in request order. */
  get(offset: number): 0 | 1;
  get(): Array<0 | 1>;
  get(offset?: number): 0 | 1 | Array<0 | 1> {
    const bits = this.#native.getValues();
    if (offset !== undefined) return ((bits >>> this.#index(offset)) & 1) as 0 | 1;
    return this.lines.map((_, i) => ((bits >>> i) & 1) as 0 | 1);
  }

  /** Sets outputs: `{ [offset]: value }`. Lines not named keep their value. */
  set(values: Record<number, 0 | 1>): void {
    let mask = 0;
    let bits = 0;
    for (const [k, v] of Object.entries(values)) {
      const i = this.#index(Number(k));
      if (v !== 0 && v !== 1) throw invalid('gpiochip', `value ${String(v)} is not 0 or 1`);
      mask |= 1 << i;
      if (v) bits |= 1 << i;
    }
    this.#native.setValues(mask >>> 0, bits >>> 0);
  }

  /** Changes direction, bias, drive, edges or debounce of every line without releasing them. */
  reconfigure(settings: LineSettings & { values?: Array<0 | 1> }): void {
    this.#native.reconfigure(LineRequest.config(settings, this.lines.length));
  }

  /** Releases the lines; stops and joins the event thread first. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watching = false;
    this.#native.close();
  }
}
