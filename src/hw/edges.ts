/**
 * Edge events from the register path: the timing thread polls the GPIO level register and
 * reports rising/falling edges with debounce, timestamped in CLOCK_MONOTONIC nanoseconds. Used
 * in simulated mode and wherever a user asks for polling; on a real Pi the default source of
 * edges is the kernel's GPIO character device (src/hw/gpiochip.ts). Both deliver the same
 * {@link EdgeEvent} shape, so one listener serves either.
 */
import type { Edge, EdgeEvent } from './gpiochip.js';
import { HwError } from './errors.js';

export type { Edge, EdgeEvent };

export interface PollEdgesOptions {
  /** Which edges to report. Default 'both'. */
  edge?: Exclude<Edge, 'none'>;
  /** A new level must hold this long before it counts, microseconds. Default 0. */
  debounceUs?: number;
  /** Poll period, microseconds. Default 500. The thread sleeps between polls... */
  pollUs?: number;
  /**
   * ...unless this is set: then it spins up to every poll, for latency in the microseconds
   * instead of a sleep's wake-up (tens of microseconds or more), and uses a core while watching.
   */
  busyPoll?: boolean;
}

/** Listener of polled edges: a batch in order, and how many events were dropped before it. */
export type EdgeListener = (events: EdgeEvent[], lost: number) => void;

/** Masks for the native watch: [mask, risingMask, fallingMask]. */
export function edgeMasks(pins: readonly number[], edge: Exclude<Edge, 'none'>, bankWidth: number): [number, number, number] {
  if (!['rising', 'falling', 'both'].includes(edge))
    throw new HwError(`EINVAL: edge ${String(edge)} is unknown`, { code: 'EINVAL', peripheral: 'timing' });
  let mask = 0;
  for (const p of pins) {
    if (!Number.isInteger(p) || p < 0 || p >= bankWidth)
      throw new HwError(`EPIN_RANGE: polled edges cover GPIO0-${bankWidth - 1}`, { code: 'EPIN_RANGE', peripheral: 'timing' });
    mask |= 1 << p;
  }
  mask >>>= 0;
  return [mask, edge === 'falling' ? 0 : mask, edge === 'rising' ? 0 : mask];
}
