/**
 * The native timing thread from TypeScript: software PWM on any pins (several at once), servo
 * pulses, waveforms and polled edge events. The thread runs the edges with no JS in the loop and
 * timestamps every edge it makes, so {@link pwmStats} computes the achieved frequency, duty and
 * lateness from the record (unless `recordEdges: false`, for an owner that never reads it). Closing the engine stops its thread and unmaps; outputs stay as they
 * are (stop a pin with a level first to leave it defined).
 */
import { HwError } from './errors.js';
import type { LoadAddonOptions } from './addon.js';
import type { SocName } from './native.js';
import type { EdgeEvent } from './gpiochip.js';
import { timingAddon } from './pwm.js';
import { encodeWave, type WaveResult, type WaveStep } from './waveform.js';
import { edgeMasks, type EdgeListener, type PollEdgesOptions } from './edges.js';

interface NativeEngine {
  pwm(pin: number, frequencyHz: number, duty: number, cycles: number): SoftPwmResult;
  stopPwm(pin: number, level: number): void;
  wave(steps: Uint32Array, repeat: number): boolean;
  watch(mask: number, rising: number, falling: number, debounceUs: number, pollUs: number, busyPoll: boolean): void;
  unwatch(): void;
  simDrive(pin: number, level: number | null): bigint;
  records(): Float64Array;
  recordStats(): PwmRecordStats;
  waveLateness(): Float64Array;
  readBank0(): number;
  now(): bigint;
  busy(): boolean;
  ref(): void;
  unref(): void;
  close(): void;
}
type EngineCtor = new (
  opts: { soc: SocName; simulate?: boolean; gpioPath?: string; spinUs?: number; recordEdges?: boolean },
  onEvent: (kind: string, payload: unknown, lost?: number) => void,
) => NativeEngine;

/** Software PWM as the thread runs it (the period and high time are whole nanoseconds). */
export interface SoftPwmResult {
  periodNs: number;
  highNs: number;
  frequencyHz: number;
  duty: number;
}

/** One edge the thread made. Times are ns since the engine was created. */
export interface PwmEdge {
  pin: number;
  level: 0 | 1;
  dueNs: number;
  atNs: number;
}

/** How many PWM edges the thread made, and what its record holds of them. */
export interface PwmRecordStats {
  /** Software PWM edges made since the engine was created (recorded or not). */
  edges: number;
  /** Edges in the record, waiting for {@link TimingEngine.takeEdges}. */
  held: number;
  /** Memory the record keeps for them, bytes (24 per edge; at most about 12 MB). */
  heldBytes: number;
}

export interface TimingEngineOptions {
  soc: SocName;
  /** A private simulated GPIO block (behavioural model) instead of the device. */
  simulate?: boolean;
  /** The GPIO window. Default /dev/gpiomem (BCM) or /dev/gpiomem0 (RP1). */
  gpioPath?: string;
  /** How long before a deadline the thread stops sleeping and spins, microseconds. Default 150. */
  spinUs?: number;
  /**
   * Record every software PWM edge for {@link TimingEngine.takeEdges} (default true). The record
   * keeps up to 524288 edges (about 12 MB) until taken: a long-running owner that never takes it
   * (the node agent) passes false, and the thread then skips the clock read and append per edge.
   */
  recordEdges?: boolean;
  addon?: LoadAddonOptions;
}

/** Bank-0 width per SoC: the pins waveforms and polled edges cover. */
function bankWidth(soc: SocName): number {
  return soc === 'rp1' ? 28 : 32;
}

/** Native software PWM, servo pulses, waveforms and polled edges on one GPIO block. */
export class TimingEngine {
  readonly soc: SocName;
  readonly #native: NativeEngine;
  readonly #listeners = new Set<EdgeListener>();
  #wave: { resolve: (r: WaveResult) => void } | undefined;
  #watching = false;
  #closed = false;
  /** Pins given software PWM, for close({ outputs: 'low' }). */
  readonly #pwmPins = new Set<number>();

  constructor(options: TimingEngineOptions) {
    this.soc = options.soc;
    const Ctor = timingAddon(options.addon).TimingEngine as EngineCtor;
    const gpioPath = options.gpioPath ?? (options.soc === 'rp1' ? '/dev/gpiomem0' : '/dev/gpiomem');
    this.#native = new Ctor(
      {
        soc: options.soc,
        simulate: options.simulate ?? false,
        gpioPath,
        recordEdges: options.recordEdges ?? true,
        ...(options.spinUs === undefined ? {} : { spinUs: options.spinUs }),
      },
      (kind, payload, lost) => this.#onEvent(kind, payload, lost ?? 0),
    );
  }

  #onEvent(kind: string, payload: unknown, lost: number): void {
    if (kind === 'edges') {
      for (const l of this.#listeners) l(payload as EdgeEvent[], lost);
    } else if (kind === 'wave') {
      const p = payload as { steps: number; lateSumNs: number; lateMaxNs: number };
      const w = this.#wave;
      this.#wave = undefined;
      this.#updateRef();
      w?.resolve({ steps: p.steps, meanLateNs: p.steps ? p.lateSumNs / p.steps : 0, maxLateNs: p.lateMaxNs });
    }
  }

  // Pending events keep the process alive only while someone waits for them.
  #updateRef(): void {
    if (this.#closed) return;
    if (this.#wave || this.#watching) this.#native.ref();
    else this.#native.unref();
  }

  /**
   * Starts (or retunes) software PWM on `pin`; the pin becomes an output.
   * @param cycles stop after this many periods (0: until stopped).
   * @throws HwError EPIN_RANGE, EPWM_FREQ (outside 0.01 Hz..100 kHz), EPWM_DUTY (outside 0..1).
   */
  pwm(pin: number, frequencyHz: number, duty: number, options: { cycles?: number } = {}): SoftPwmResult {
    const r = this.#native.pwm(pin, frequencyHz, duty, options.cycles ?? 0);
    this.#pwmPins.add(pin);
    return r;
  }

  /**
   * Servo pulses: 50 Hz with a high time of `pulseUs` (500..2500 us).
   * @throws HwError EPWM_SERVO for a pulse outside 500..2500 us.
   */
  servo(pin: number, pulseUs: number, options: { cycles?: number } = {}): SoftPwmResult {
    if (!(pulseUs >= 500 && pulseUs <= 2500))
      throw new HwError('EPWM_SERVO: a servo pulse is 500..2500 us', { code: 'EPWM_SERVO', peripheral: 'timing' });
    return this.pwm(pin, 50, pulseUs / 20_000, options);
  }

  /** Stops software PWM on `pin`, leaving it at `level` (default: as it is). */
  stopPwm(pin: number, options: { level?: 0 | 1 } = {}): void {
    this.#native.stopPwm(pin, options.level ?? -1);
  }

  /**
   * Runs a waveform (bank-0 pins become outputs); resolves when its last step has run.
   * @param repeat extra runs after the first.
   * Rejects with HwError EWAVE_STEPS / EPIN_RANGE for bad steps, EBUSY while another waveform
   * runs, ECLOSED after close; nothing is written then.
   */
  waveform(steps: readonly WaveStep[], options: { repeat?: number } = {}): Promise<WaveResult> {
    // Every check, and the native call, inside the executor: bad input rejects the promise.
    return new Promise<WaveResult>((resolve) => {
      const encoded = encodeWave(steps, bankWidth(this.soc));
      const repeat = options.repeat ?? 0;
      if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffff_ffff)
        throw new HwError('EWAVE_STEPS: repeat must be a whole number >= 0', { code: 'EWAVE_STEPS', peripheral: 'timing' });
      if (this.#wave || !this.#native.wave(encoded, repeat))
        throw new HwError('EBUSY: a waveform is running', { code: 'EBUSY', peripheral: 'timing' });
      this.#wave = { resolve };
      this.#updateRef();
    });
  }

  /** Lateness of every waveform step of the last waveform, nanoseconds. */
  waveLateness(): Float64Array {
    return this.#native.waveLateness();
  }

  /**
   * Polls `pins` (bank 0) for edges and delivers them to `listener` in the kernel backend's
   * {@link EdgeEvent} shape; replaces any previous watch. Returns a function that stops it.
   */
  watchEdges(pins: readonly number[], options: PollEdgesOptions, listener: EdgeListener): () => void {
    const [mask, rising, falling] = edgeMasks(pins, options.edge ?? 'both', bankWidth(this.soc));
    const debounce = options.debounceUs ?? 0,
      poll = options.pollUs ?? 500;
    if (!Number.isInteger(debounce) || debounce < 0 || !Number.isInteger(poll) || poll < 1 || poll > 1_000_000)
      throw new HwError('EINVAL: debounceUs >= 0 and pollUs 1..1000000, whole microseconds', { code: 'EINVAL', peripheral: 'timing' });
    this.#listeners.clear();
    this.#listeners.add(listener);
    this.#native.watch(mask, rising, falling, debounce, poll, options.busyPoll ?? false);
    this.#watching = true;
    this.#updateRef();
    return () => {
      if (this.#closed || !this.#listeners.has(listener)) return;
      this.#listeners.clear();
      this.#native.unwatch();
      this.#watching = false;
      this.#updateRef();
    };
  }

  /** Simulated mode: drives an input (null releases it); returns the monotonic ns it changed at. */
  simulate(pin: number, level: 0 | 1 | null): bigint {
    return this.#native.simDrive(pin, level);
  }

  /** Monotonic now, ns (the clock of edge event timestamps). */
  now(): bigint {
    return this.#native.now();
  }

  /** Bank-0 levels as the thread's register view reads them. */
  readBank0(): number {
    return this.#native.readBank0();
  }

  /** Whether the thread has work (PWM, a waveform or a watch). */
  busy(): boolean {
    return this.#native.busy();
  }

  /** The edges the thread made since the last call (at most 524288 are kept; none with `recordEdges: false`). */
  takeEdges(): PwmEdge[] {
    const r = this.#native.records();
    const out: PwmEdge[] = [];
    for (let i = 0; i < r.length; i += 4) out.push({ pin: r[i]!, level: r[i + 1] as 0 | 1, dueNs: r[i + 2]!, atNs: r[i + 3]! });
    return out;
  }

  /** Edges made and held by the record; cheap (no copy of the record). @throws HwError ECLOSED after close. */
  recordStats(): PwmRecordStats {
    return this.#native.recordStats();
  }

  /**
   * Stops the thread and unmaps. Outputs stay as they are unless `outputs: 'low'`, which drives
   * every pin this engine ran PWM on low first. A pending waveform never settles.
   */
  close(options: { outputs?: 'keep' | 'low' } = {}): void {
    if (this.#closed) return;
    if (options.outputs === 'low') for (const p of this.#pwmPins) this.#native.stopPwm(p, 0);
    this.#closed = true;
    this.#listeners.clear();
    this.#wave = undefined;
    this.#native.close();
  }
}

/** Achieved figures of one pin's software PWM, from its recorded edges. */
export interface PwmStats {
  edges: number;
  rising: number;
  falling: number;
  /** Levels alternate on every edge. */
  alternating: boolean;
  frequencyHz: number;
  duty: number;
  /** Lateness (actual - due) percentiles, ns. */
  lateP50Ns: number;
  lateP99Ns: number;
  lateMaxNs: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Frequency and duty from the median rising-to-rising period and the median high time (medians,
 * so a period the scheduler stretched does not move them), from the actual write times; lateness
 * percentiles from due vs actual.
 */
export function pwmStats(edges: readonly PwmEdge[], pin: number): PwmStats {
  const e = edges.filter((x) => x.pin === pin);
  const rising = e.filter((x) => x.level === 1);
  let alternating = true;
  for (let i = 1; i < e.length; i++) if (e[i]!.level === e[i - 1]!.level) alternating = false;
  const periods: number[] = [],
    highs: number[] = [];
  for (let i = 0; i + 2 < e.length; i++) {
    if (e[i]!.level !== 1 || e[i + 1]!.level !== 0 || e[i + 2]!.level !== 1) continue;
    periods.push(e[i + 2]!.atNs - e[i]!.atNs);
    highs.push(e[i + 1]!.atNs - e[i]!.atNs);
  }
  periods.sort((a, b) => a - b);
  highs.sort((a, b) => a - b);
  const period = percentile(periods, 0.5),
    high = percentile(highs, 0.5);
  const late = e.map((x) => x.atNs - x.dueNs).sort((a, b) => a - b);
  return {
    edges: e.length,
    rising: rising.length,
    falling: e.length - rising.length,
    alternating,
    frequencyHz: 1e9 / period,
    duty: high / period,
    lateP50Ns: percentile(late, 0.5),
    lateP99Ns: percentile(late, 0.99),
    lateMaxNs: late.length ? late[late.length - 1]! : NaN,
  };
}
