// The hardware PWM solver against a brute-force search of the settings space, per SoC family.
// The solver is reached through start() on the behavioural models, and what it chose is read back
// from the registers it wrote (clock source and divisor, range, data), so this checks the code
// that programs the block, not a copy of it. Its choice must be no worse, in the order
// (frequency error, duty error), than the best setting the search finds.
//
// The space: on BCM chips the PWM clock is the oscillator or PLLD over an integer divisor
// (2..4095, MASH 0, the clock at most 125 MHz), times a 32-bit range; on RP1 a fixed 50 MHz
// clock and 2..2^32 ticks a period; data is 0..range either way.
import t from 'tap';
import { openHardwarePwm, bcmPwmFromRegisters, rp1PwmFromRegisters, PWM_CLOCKS, CM_REG, PWM_REG } from '../../src/hw/pwm.js';

type Family = 'bcm2835' | 'bcm2711' | 'rp1';

// Errors closer than this are the same error (the solver's rule; different frequencies differ
// by far more at the frequencies tried here, 0.1 Hz and up).
const SAME = 1e-12;
// From here up every range of every clock is scanned (at most ~0.4 M settings a pair); below, a
// window around the best range of each clock (see windowed()).
const EXHAUSTIVE_FROM = 20e3;

/** Every PWM clock the hardware offers for a family, Hz. */
function clocks(fam: Family): number[] {
  if (fam === 'rp1') return [50e6];
  const out: number[] = [];
  for (const hz of [PWM_CLOCKS[fam].oscillator, PWM_CLOCKS[fam].plld]) {
    for (let d = Math.max(2, Math.ceil(hz / 125e6)); d <= 4095; d++) out.push(hz / d);
  }
  return out;
}

const MAX_RANGE: Record<Family, number> = { bcm2835: 2 ** 32 - 1, bcm2711: 2 ** 32 - 1, rp1: 2 ** 32 };

interface Best {
  ferr: number;
  derr: number;
  /** (clock, range) settings looked at. */
  count: number;
}

/**
 * Exhaustive over clocks, ranges and data. Ranges outside (x/2, 2x), x = clock / f, give a
 * frequency error of at least 1/2, so they cannot beat a setting found inside (the caller checks
 * that the best found is below 1/2): every clock is scanned over every range in between, and every
 * data value 0..range of the settings tied on frequency error.
 */
function exhaustive(cks: number[], maxRange: number, f: number, duty: number): Best {
  let minF = Infinity;
  let count = 0;
  let tieClock: number[] = [];
  let tieRange: number[] = [];
  for (const c of cks) {
    const x = c / f;
    const lo = Math.max(2, Math.floor(x / 2));
    const hi = Math.min(maxRange, Math.ceil(2 * x));
    for (let r = lo; r <= hi; r++) {
      const ferr = Math.abs(c / r - f) / f;
      count++;
      if (ferr < minF - SAME) {
        minF = ferr;
        tieClock = [c];
        tieRange = [r];
      } else if (ferr <= minF + SAME) {
        tieClock.push(c);
        tieRange.push(r);
      }
    }
  }
  let minD = Infinity;
  for (let i = 0; i < tieRange.length; i++) {
    const r = tieRange[i]!;
    for (let data = 0; data <= r; data++) {
      const derr = Math.abs(data / r - duty);
      if (derr < minD) minD = derr;
    }
  }
  return { ferr: minF, derr: minD, count };
}

/**
 * For low frequencies, where the ranges run to millions: every clock, but only ranges within 3 of
 * x and data within 3 of duty * range. Enough, as clock / range is monotonic in the range (the
 * frequency error only grows away from x on either side) and |data / range - duty| only grows
 * away from duty * range; the margin of 3 does not lean on where exactly the optimum sits.
 */
function windowed(cks: number[], maxRange: number, f: number, duty: number): Best {
  let minF = Infinity,
    minD = Infinity,
    count = 0;
  for (const c of cks) {
    const x = c / f;
    const lo = Math.max(2, Math.min(Math.floor(x), maxRange) - 3);
    const hi = Math.min(maxRange, Math.ceil(x) + 3);
    for (let r = lo; r <= hi; r++) {
      const ferr = Math.abs(c / r - f) / f;
      count++;
      if (ferr > minF + SAME) continue;
      const mid = Math.round(duty * r);
      let derr = Infinity;
      for (let data = Math.max(0, mid - 3); data <= Math.min(r, mid + 3); data++) derr = Math.min(derr, Math.abs(data / r - duty));
      if (ferr < minF - SAME) {
        minF = ferr;
        minD = derr;
      } else {
        minD = Math.min(minD, derr);
      }
    }
  }
  return { ferr: minF, derr: minD, count };
}

/** A deterministic stream in [0, 1) (mulberry32), so a failure names a pair that can be re-run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** (frequency, duty) pairs: round numbers (where exact ties are common), then random ones. */
function pairs(seed: number): [number, number][] {
  const out: [number, number][] = [
    [1e6, 0.5],
    [1000, 0.25],
    [25e6, 0.5],
    [12.5e6, 0.5],
    [0.1, 0.5],
    [1, 1 / 3],
    [50, 0],
    [440, 1],
    [7_777_777, 0.1],
    [54_000, 0.5],
  ];
  for (let d = 1; d <= 1e7; d *= 10)
    for (const m of [1, 2, 5]) for (const duty of [0.5, 0.3, 0.25, 0.01]) if (d * m <= 2e7) out.push([d * m, duty]);
  const rnd = random(seed);
  // Log-uniform frequencies, half of them in the exhaustive band (20 kHz-25 MHz); every third
  // duty a multiple of 5 %, the others anywhere in 0..1.
  const lo = EXHAUSTIVE_FROM;
  for (let i = 0; i < 240; i++) {
    const f = i % 2 === 0 ? lo * Math.pow(25e6 / lo, rnd()) : 0.1 * Math.pow(lo / 0.1, rnd());
    const duty = i % 3 === 0 ? Math.round(rnd() * 20) / 20 : rnd();
    out.push([f, duty]);
  }
  return out;
}

/** Solves through start() and reads the output back from the registers written. */
function startAndRead(fam: Family) {
  const pwm = openHardwarePwm({ soc: fam, simulate: true });
  const at = (f: number, duty: number): { frequencyHz: number; duty: number } => {
    pwm.start(18, f, duty);
    if (fam === 'rp1') return rp1PwmFromRegisters(pwm.modelState()!.channels![2]!);
    return bcmPwmFromRegisters(fam, {
      cmCtl: pwm.peek('CM', CM_REG.PWMCTL),
      cmDiv: pwm.peek('CM', CM_REG.PWMDIV),
      rng: pwm.peek('PWM0', PWM_REG.RNG1),
      dat: pwm.peek('PWM0', PWM_REG.DAT1),
    });
  };
  return { at, close: () => pwm.close() };
}

t.test('hardware PWM solver against a brute-force search', async (t) => {
  for (const [fam, seed] of [
    ['bcm2835', 2835],
    ['bcm2711', 2711],
    ['rp1', 1],
  ] as const) {
    t.test(`${fam}: no (frequency, duty) pair has a better setting than the one written`, async (t) => {
      const cks = clocks(fam);
      const hw = startAndRead(fam);
      t.teardown(hw.close);
      const list = pairs(seed);
      const bad: string[] = [];
      let exhaustiveRuns = 0,
        looked = 0;
      for (const [f, duty] of list) {
        const full = f >= EXHAUSTIVE_FROM;
        const best = full ? exhaustive(cks, MAX_RANGE[fam], f, duty) : windowed(cks, MAX_RANGE[fam], f, duty);
        if (full) {
          exhaustiveRuns++;
          // The bound of the exhaustive scan holds only when something inside it is this close.
          if (!(best.ferr < 0.5)) bad.push(`${f} Hz: nothing within 50 % (${best.ferr})`);
        }
        looked += best.count;
        const got = hw.at(f, duty);
        const ferr = Math.abs(got.frequencyHz - f) / f;
        const derr = Math.abs(got.duty - duty);
        // The setting written is in the space searched, so the search finds one at least as good.
        if (ferr < best.ferr - SAME) bad.push(`${f} Hz ${duty}: the search missed a setting (${ferr} < ${best.ferr})`);
        if (ferr > best.ferr + SAME) bad.push(`${f} Hz ${duty}: frequency error ${ferr} where ${best.ferr} is possible`);
        else if (derr > best.derr + SAME)
          bad.push(`${f} Hz ${duty}: duty error ${derr} where ${best.derr} is possible (same frequency error)`);
      }
      t.same(bad, [], `${list.length} pairs (${exhaustiveRuns} searched exhaustively), ${looked} (clock, range) settings looked at`);
      t.ok(list.length >= 300, 'a few hundred pairs');
    });
  }
});

t.test('1 MHz at 0.5 on BCM2835: PLLD / 5 with range 100 gives both exactly', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2835', simulate: true });
  t.teardown(() => pwm.close());
  const r = pwm.start(18, 1e6, 0.5);
  t.match(r, { frequencyHz: 1e6, duty: 0.5, source: 'plld', divisor: 5, steps: 100, highTicks: 50 });
  // Equal on both errors: the longer range wins (finer steps), PLLD / 4 at 1 kHz as before.
  t.match(pwm.start(18, 1000, 0.25), { source: 'plld', divisor: 4, steps: 125_000 });
});

t.test('a frequency between two ranges takes the closer frequency, not the closer range', async (t) => {
  // 50 MHz / 20.4 MHz = 2.45 ticks: 2 ticks give 25 MHz (22.5 % off), 3 give 16.67 MHz (18.3 %).
  const pwm = openHardwarePwm({ soc: 'rp1', simulate: true });
  t.teardown(() => pwm.close());
  const r = pwm.start(12, 20.4e6, 0.5);
  t.match(r, { steps: 3 }, '3 ticks');
  t.ok(Math.abs(r.frequencyHz - 50e6 / 3) < 1, `${r.frequencyHz} Hz`);
});
