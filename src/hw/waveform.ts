/**
 * Waveforms: a sequence of steps (set these pins, clear those, then wait a number of
 * microseconds), optionally repeated, run by the native timing thread with microsecond timing.
 * This is what bit-banging a protocol needs: the steps run back to back with no JS in between,
 * and JS hears once, when the waveform is done.
 */
import { HwError } from './errors.js';

/** One step: `set` and `clear` are GPIO numbers of bank 0 (GPIO0-31; RP1 GPIO0-27). */
export interface WaveStep {
  set?: readonly number[];
  clear?: readonly number[];
  /** Wait after this step, microseconds (0..4294967295). */
  delayUs: number;
}

/** What the thread reports when a waveform has run: steps executed and their lateness. */
export interface WaveResult {
  steps: number;
  /** Mean and worst lateness of a step against its schedule, nanoseconds. */
  meanLateNs: number;
  maxLateNs: number;
}

function bad(code: string, message: string): HwError {
  return new HwError(`${code}: ${message}`, { code, peripheral: 'timing' });
}

/**
 * Encodes steps as the native thread takes them: [setMask, clearMask, delayUs] per step.
 * @throws HwError EWAVE_STEPS (empty, too long, bad delay) or EPIN_RANGE (a pin outside bank 0).
 */
export function encodeWave(steps: readonly WaveStep[], bankWidth: number): Uint32Array {
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > 1_000_000) throw bad('EWAVE_STEPS', 'a waveform has 1..1000000 steps');
  const out = new Uint32Array(steps.length * 3);
  const mask = (pins: readonly number[] | undefined): number => {
    let m = 0;
    for (const p of pins ?? []) {
      if (!Number.isInteger(p) || p < 0 || p >= bankWidth)
        throw bad('EPIN_RANGE', `waveform pins are GPIO0-${bankWidth - 1}; got ${String(p)}`);
      m |= 1 << p;
    }
    return m >>> 0;
  };
  steps.forEach((s, i) => {
    if (!Number.isInteger(s.delayUs) || s.delayUs < 0 || s.delayUs > 0xffff_ffff)
      throw bad('EWAVE_STEPS', `step ${i}: delayUs must be a whole number of microseconds`);
    out[3 * i] = mask(s.set);
    out[3 * i + 1] = mask(s.clear);
    out[3 * i + 2] = s.delayUs;
  });
  return out;
}
