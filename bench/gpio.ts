// GPIO write cost: a JS write() against a bare N-API call that does nothing, in the same process.
// `npm run bench:gpio`. Each figure is the median of several timed rounds after a warm-up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChip, type RegisterChip } from '../src/hw/chip.js';
import { loadAddon } from '../src/hw/addon.js';
import type { NativeAddon } from '../src/hw/native.js';

const CALLS = 2_000_000; // per round
const ROUNDS = 9;
const TOGGLES = 5_000_000; // set+clear pairs per native round
const ROUND_BUDGET_MS = 5_000; // no round may run longer than this (bounded in count and time)

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

interface Figure {
  median: number;
  min: number;
}

/**
 * ns per call for each loop. Rounds are interleaved (every case once per round), so load from
 * other processes hits all cases alike; each case gets a warm-up run first.
 */
function measureAll(loops: Record<string, (n: number) => void>): Record<string, Figure> {
  const names = Object.keys(loops);
  const samples: Record<string, number[]> = {};
  for (const name of names) {
    loops[name]!(CALLS);
    samples[name] = [];
  }
  const started = Date.now();
  for (let r = 0; r < ROUNDS && Date.now() - started < ROUNDS * ROUND_BUDGET_MS; r++) {
    for (const name of names) {
      const t0 = process.hrtime.bigint();
      loops[name]!(CALLS);
      samples[name]!.push(Number(process.hrtime.bigint() - t0) / CALLS);
    }
  }
  const out: Record<string, Figure> = {};
  for (const name of names) out[name] = { median: median(samples[name]!), min: Math.min(...samples[name]!) };
  return out;
}

// One explicit loop per case, so each call site stays monomorphic and no closure call is timed.
function noopLoop(addon: NativeAddon): (n: number) => void {
  const noop = addon.noop;
  return (n) => {
    for (let i = 0; i < n; i++) noop();
  };
}
// The baseline with the write's argument count: noop(pin, value), the same two arguments.
function noopArgsLoop(addon: NativeAddon, pin: number): (n: number) => void {
  const noop = addon.noop as (pin: number, value: number) => void;
  return (n) => {
    for (let i = 0; i < n; i++) noop(pin, i & 1);
  };
}
/** The noop kept in a field of an object, as a chip keeps its native function. */
class NoopHolder {
  constructor(readonly fn: (pin: number, value: number) => void) {}
}
// The baseline in the shape of the shared write loop: one loop over two holders, so the receiver
// and its field are loaded on every call, as chip.write() loads the chip's fields.
function noopFieldLoop(holder: NoopHolder, pin: number): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) holder.fn(pin, i & 1);
  };
}
function writeLoop(chip: RegisterChip, pin: number): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) chip.write(pin, (i & 1) as 0 | 1);
  };
}
// The same loop as a function literal of its own, instantiated once: V8 then specialises the
// loop on this one chip (its fields become constants), as it does for the noop baseline's target.
function writeLoopSpecialised(chip: RegisterChip, pin: number): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) chip.write(pin, (i & 1) as 0 | 1);
  };
}
function maskLoop(chip: RegisterChip): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) {
      if (i & 1) chip.clearMask(0xff0);
      else chip.setMask(0xff0);
    }
  };
}
function readLoop(chip: RegisterChip, pin: number): (n: number) => void {
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += chip.read(pin);
    if (acc < 0) throw new Error('unreachable');
  };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'pic-bench-'));
  try {
    const addon = loadAddon();
    const bcmPage = join(dir, 'gpiomem');
    const rp1Page = join(dir, 'gpiomem0');
    writeFileSync(bcmPage, Buffer.alloc(0x1000));
    writeFileSync(rp1Page, Buffer.alloc(0x30000));
    const bcm = openChip({ soc: 'bcm2711', gpiomem: bcmPage });
    const rp1 = openChip({ soc: 'rp1', gpiomem: rp1Page });
    bcm.mode(17, 'output');
    rp1.mode(17, 'output');

    const noopArgs = addon.noop as (pin: number, value: number) => void;
    const m = measureAll({
      noop: noopLoop(addon),
      noopArgs: noopArgsLoop(addon, 17),
      noopField: noopFieldLoop(new NoopHolder(noopArgs), 17),
      noopField2: noopFieldLoop(new NoopHolder(noopArgs), 17),
      write: writeLoop(bcm, 17),
      writeRp1: writeLoop(rp1, 17),
      writeOne: writeLoopSpecialised(bcm, 17),
      mask: maskLoop(bcm),
      read: readLoop(bcm, 17),
    });
    const base = m.noop!.median;
    const baseMin = m.noop!.min;

    const toggles: number[] = [];
    bcm.benchToggle(17, TOGGLES); // warm-up
    for (let r = 0; r < 5; r++) toggles.push(bcm.benchToggle(17, TOGGLES) / (2 * TOGGLES));
    const toggle = median(toggles);
    bcm.close();
    rp1.close();

    const f = (x: number): string => x.toFixed(1).padStart(6);
    const rate = (ns: number): string => `${(1e9 / ns / 1e6).toFixed(1).padStart(5)} M/s`;
    const row = (label: string, x: Figure): string =>
      `${label.padEnd(34)}${f(x.median)} ns ${rate(x.median)}  ratio ${(x.median / base).toFixed(2)}x` +
      `   (best round ${x.min.toFixed(1)} ns, ${(x.min / baseMin).toFixed(2)}x)`;
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const load = loadavg()[0]?.toFixed(1) ?? '?';
    console.log(`node ${process.version} ${process.arch}, ${cpu}, load average ${load}`);
    console.log(`median of ${ROUNDS} interleaved rounds x ${CALLS} calls after a warm-up; ratios against the noop median`);
    console.log(row('bare N-API noop() (baseline)', m.noop!));
    console.log(row('noop(pin, v): same two arguments', m.noopArgs!));
    console.log(row('holder.fn(pin, v), 2 holders', m.noopField!));
    console.log(row('write(pin, v) bcm2711 GPSET/GPCLR', m.write!));
    console.log(row('write(pin, v) rp1 SET/CLR alias', m.writeRp1!));
    console.log(row('write(pin, v) loop specialised', m.writeOne!));
    console.log(row('setMask/clearMask, 8 pins', m.mask!));
    console.log(row('read(pin)', m.read!));
    console.log(
      `${'native toggle loop (no JS)'.padEnd(34)}${f(toggle)} ns ${rate(toggle)}  ratio ${(toggle / base).toFixed(3)}x   (per write, set+clear pairs)`,
    );
    const ratio = m.write!.median / base;
    console.log(
      '(write rows: one loop shared by two chips, so nothing is constant-folded; "specialised": one chip, as V8 folds the noop target)',
    );
    console.log(
      `goal: a single write costs at most 1.2x the bare N-API call: ${ratio <= 1.2 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x median, ${(m.write!.min / baseMin).toFixed(2)}x best round)`,
    );
    // Like against like: each write loop against the baseline loop of the same shape and argument count.
    const same = (w: Figure, b: Figure): string => `${(w.median / b.median).toFixed(2)}x median, ${(w.min / b.min).toFixed(2)}x best round`;
    const fieldBase = { median: Math.min(m.noopField!.median, m.noopField2!.median), min: Math.min(m.noopField!.min, m.noopField2!.min) };
    console.log(
      `same shape, same two arguments: specialised write / noop(pin, v): ${same(m.writeOne!, m.noopArgs!)}; shared write / holder.fn(pin, v): ${same(m.write!, fieldBase)}`,
    );
    console.log(`measured on ${process.arch === 'x64' ? 'x86' : process.arch} against a file-backed register page`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
