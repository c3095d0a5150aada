// Software PWM, servo pulses, waveforms and polled edges on the native timing thread, in simulated
// mode (a behavioural GPIO model stands in for the silicon). Assertions are on counts, order and
// the duty/frequency computed from the recorded timestamps, with generous bounds: this machine is
// shared and virtual; the speed goals live in bench/timing.ts.
import t, { type Test } from 'tap';
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { TimingEngine, pwmStats } from '../../src/hw/pwm-engine.js';
import type { EdgeEvent } from '../../src/hw/edges.js';
import { repoRoot } from '../support/paths.js';
import { RegisterPage, BCM_PAGE } from '../support/register-page.js';
import { waitFor as until } from '../support/wait.js';

const threads = () => readdirSync('/proc/self/task').length;

/**
 * Frequency and duty from the timestamps mean something only when the timing thread ran on time
 * for most edges: a run whose median edge was late by more than `lateLimitNs` (the thread was
 * starved by the machine's load and caught up) is run again, up to 3 times, and the test says
 * so. `run` checks what must hold on every run (counts, order, levels) and returns the median
 * lateness per pin and the judgement to make on an on-time run.
 */
async function judgeOnTime(
  t: Test,
  run: () => Promise<{ late: { pin: number; lateP50Ns: number; lateLimitNs: number }[]; judge: () => void }>,
): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const { late, judge } = await run();
    const starved = late.filter((x) => x.lateP50Ns > x.lateLimitNs);
    if (!starved.length) return judge();
    const why = starved.map((x) => `GPIO${x.pin} median edge ${(x.lateP50Ns / 1e6).toFixed(2)} ms late`).join(', ');
    t.comment(`attempt ${attempt}: the timing thread was starved (${why}); frequency and duty not judged on this run`);
  }
  t.comment('frequency and duty were not judged: the timing thread was starved in all 3 runs (see bench:timing for precision)');
}

t.test('software PWM on two pins: counts, alternation, frequency and duty from timestamps', async (t) => {
  const pins = [
    [17, 100, 0.3, 20],
    [27, 50, 0.75, 10],
  ] as const;
  await judgeOnTime(t, async () => {
    const eng = new TimingEngine({ soc: 'bcm2711', simulate: true });
    t.teardown(() => eng.close());
    // Low rates, so a scheduler delay of a few hundred microseconds on a loaded machine is a small
    // part of a period: these bounds check the mechanism, the benchmark measures the precision.
    const a = eng.pwm(17, 100, 0.3, { cycles: 20 });
    const b = eng.pwm(27, 50, 0.75, { cycles: 10 });
    t.same(a, { periodNs: 10_000_000, highNs: 3_000_000, frequencyHz: 100, duty: 0.3 });
    t.equal(b.highNs, 15_000_000);
    t.ok(await until(() => !eng.busy(), 10_000), 'both finish their cycles');
    const edges = eng.takeEdges();
    const stats = pins.map(([pin, f, d, n]) => ({ pin, f, d, s: pwmStats(edges, pin), n }));
    for (const { pin, s, n } of stats) {
      t.equal(s.rising, n, `GPIO${pin}: one rising edge a cycle`);
      t.equal(s.falling, n, `GPIO${pin}: one falling edge a cycle`);
      t.ok(s.alternating, `GPIO${pin}: levels alternate`);
      t.ok(s.lateP50Ns >= 0, 'edges are never early');
    }
    t.equal(eng.readBank0() & ((1 << 17) | (1 << 27)), 0, 'both end low after their last cycle');
    t.same(eng.takeEdges(), [], 'records are taken once');
    eng.close();
    return {
      late: stats.map(({ pin, f, s }) => ({ pin, lateP50Ns: s.lateP50Ns, lateLimitNs: 1e9 / f / 10 })),
      judge: () => {
        for (const { pin, f, d, s } of stats) {
          t.ok(Math.abs(s.frequencyHz - f) / f < 0.25, `GPIO${pin}: ${s.frequencyHz.toFixed(1)} Hz (median period)`);
          t.ok(Math.abs(s.duty - d) < 0.1, `GPIO${pin}: duty ${s.duty.toFixed(3)}`);
        }
      },
    };
  });
});

t.test('the edge record: counted either way, held until taken, not kept with recordEdges: false', async (t) => {
  const rec = new TimingEngine({ soc: 'bcm2711', simulate: true });
  const off = new TimingEngine({ soc: 'bcm2711', simulate: true, recordEdges: false });
  t.teardown(() => {
    rec.close();
    off.close();
  });
  t.same(rec.recordStats(), { edges: 0, held: 0, heldBytes: 0 }, 'nothing before any PWM');
  const seen: EdgeEvent[] = [];
  // The engine that keeps no record still delivers polled edges of its own PWM pin: a 5 ms half
  // period against 0.5 ms polls, and a poll always runs before the thread's next write.
  off.watchEdges([17], { edge: 'rising', pollUs: 500 }, (ev) => seen.push(...ev));
  for (const e of [rec, off]) e.pwm(17, 100, 0.5, { cycles: 20 });
  t.ok((await until(() => !rec.busy(), 10_000)) && (await until(() => off.recordStats().edges === 40, 10_000)), 'both ran their 20 cycles');
  const r = rec.recordStats();
  t.equal(r.edges, 40, 'two edges a cycle made');
  t.equal(r.held, 40, 'and all of them held for takeEdges');
  t.ok(r.heldBytes >= 40 * 24, `the record keeps ${r.heldBytes} bytes`);
  t.equal(rec.takeEdges().length, 40);
  t.same(rec.recordStats(), { edges: 40, held: 0, heldBytes: 0 }, 'taking the record frees it');
  t.same(off.recordStats(), { edges: 40, held: 0, heldBytes: 0 }, 'recordEdges: false: counted, never held');
  t.same(off.takeEdges(), []);
  t.ok(await until(() => seen.length === 20, 5000), `polled rising edges of the unrecorded PWM: ${seen.length}`);
  off.close();
  t.throws(() => off.recordStats(), { code: 'ECLOSED' });
});

t.test('servo mode: 50 Hz, 1.5 ms pulses', async (t) => {
  // The pulse is short (1.5 ms of 20 ms): a rising edge late by a millisecond and a falling edge
  // on time leave almost no pulse, so a run is judged only when the median edge was late by less
  // than a quarter of the pulse.
  await judgeOnTime(t, async () => {
    const eng = new TimingEngine({ soc: 'rp1', simulate: true });
    t.teardown(() => eng.close());
    const r = eng.servo(18, 1500, { cycles: 10 });
    t.same(r, { periodNs: 20_000_000, highNs: 1_500_000, frequencyHz: 50, duty: 0.075 });
    t.ok(await until(() => !eng.busy(), 10_000), 'ten pulses sent');
    const s = pwmStats(eng.takeEdges(), 18);
    t.equal(s.edges, 20, 'two edges a pulse');
    t.ok(s.alternating, 'levels alternate');
    t.throws(() => eng.servo(18, 3000), { code: 'EPWM_SERVO' });
    eng.close();
    return {
      late: [{ pin: 18, lateP50Ns: s.lateP50Ns, lateLimitNs: r.highNs / 4 }],
      judge: () => t.ok(Math.abs(s.duty - 0.075) < 0.05, `duty ${s.duty.toFixed(4)}`),
    };
  });
});

t.test('close leaves outputs as they are, or low when asked (file-backed register page)', async (t) => {
  // Direct mode over a page file: the last GPSET0/GPCLR0 words written stay in the file.
  const GPSET0 = 0x1c,
    GPCLR0 = 0x28;
  const keepPage = new RegisterPage(t, BCM_PAGE);
  const keep = new TimingEngine({ soc: 'bcm2711', gpioPath: keepPage.path });
  keep.pwm(9, 1000, 1);
  keep.close();
  t.equal(keepPage.word(GPSET0), 1 << 9, 'duty 1 set the pin high');
  t.equal(keepPage.word(GPCLR0), 0, 'close wrote nothing: the output stays high');
  t.throws(() => keep.readBank0(), { code: 'ECLOSED' });
  const lowPage = new RegisterPage(t, BCM_PAGE);
  const low = new TimingEngine({ soc: 'bcm2711', gpioPath: lowPage.path });
  low.pwm(9, 1000, 1);
  low.close({ outputs: 'low' });
  t.equal(lowPage.word(GPCLR0), 1 << 9, "outputs: 'low' cleared the pin before the thread stopped");
});

t.test('duty 0 and 1 are steady levels; stopPwm leaves a chosen level', async (t) => {
  const eng = new TimingEngine({ soc: 'bcm2835', simulate: true });
  t.teardown(() => eng.close());
  eng.pwm(5, 1000, 1);
  t.equal(eng.readBank0() & (1 << 5), 1 << 5, 'duty 1: high');
  t.notOk(eng.busy(), 'nothing scheduled');
  eng.pwm(5, 1000, 0);
  t.equal(eng.readBank0() & (1 << 5), 0, 'duty 0: low');
  eng.pwm(6, 2000, 0.5);
  eng.stopPwm(6, { level: 1 });
  t.notOk(eng.busy());
  t.equal(eng.readBank0() & (1 << 6), 1 << 6, 'stopped high');
});

t.test('waveform: steps in order, repeats, completion event; watched through polled edges', async (t) => {
  const eng = new TimingEngine({ soc: 'bcm2711', simulate: true });
  t.teardown(() => eng.close());
  const seen: EdgeEvent[] = [];
  eng.watchEdges([5, 6], { edge: 'both', pollUs: 20 }, (ev) => seen.push(...ev));
  const steps = [
    { set: [5], delayUs: 2000 },
    { set: [6], clear: [5], delayUs: 2000 },
    { clear: [6], delayUs: 2000 },
  ];
  const r = await eng.waveform(steps, { repeat: 2 });
  t.equal(r.steps, 9, '3 steps x 3 runs');
  t.equal(eng.waveLateness().length, 9);
  t.ok(r.meanLateNs >= 0 && r.maxLateNs >= r.meanLateNs);
  t.ok(await until(() => seen.length >= 12, 5000), `12 edges polled (${seen.length})`);
  const want = ['5 rising', '5 falling', '6 rising', '6 falling'];
  const got = seen.map((e) => `${e.offset} ${e.edge}`);
  // Within a run, GPIO6 rises in the same step as GPIO5 falls: their order in a batch is by pin.
  const perRun = got.slice(0, 4).sort();
  t.same(perRun, [...want].sort(), 'one of each edge per run');
  t.same(
    got.filter((g) => g.startsWith('5')),
    ['5 rising', '5 falling', '5 rising', '5 falling', '5 rising', '5 falling'],
    'GPIO5 alternates',
  );
  for (let i = 1; i < seen.length; i++) t.ok(seen[i]!.timestampNs >= seen[i - 1]!.timestampNs, 'timestamps in order');
  t.same(
    seen.map((e) => e.seqno),
    seen.map((_, i) => i + 1),
    'seqno counts every event',
  );
  const gpio5 = seen.filter((e) => e.offset === 5);
  const highNs = Number(gpio5[1]!.timestampNs - gpio5[0]!.timestampNs);
  // Poll timestamps are when the poll saw a level: a descheduled thread sees the rise late, so
  // only the order and an upper bound hold here (the width itself is the waveform's own timing).
  t.ok(highNs > 0 && highNs < 100_000_000, `GPIO5 seen high before low (${highNs} ns apart)`);
  await t.rejects(eng.waveform([]), { code: 'EWAVE_STEPS' });
  await t.rejects(eng.waveform([{ set: [40], delayUs: 1 }]), { code: 'EPIN_RANGE' });
});

t.test('polled edges: simulated input, rising filter, debounce', async (t) => {
  const eng = new TimingEngine({ soc: 'bcm2711', simulate: true });
  t.teardown(() => eng.close());
  const seen: EdgeEvent[] = [];
  const stop = eng.watchEdges([4], { edge: 'rising', pollUs: 50 }, (ev) => seen.push(...ev));
  const t1 = eng.simulate(4, 1);
  t.ok(await until(() => seen.length === 1, 5000), 'rising edge delivered');
  eng.simulate(4, 0);
  await new Promise((r) => setTimeout(r, 20));
  eng.simulate(4, 1);
  t.ok(await until(() => seen.length === 2, 5000), 'falling edge filtered, second rising delivered');
  t.ok(seen.every((e) => e.edge === 'rising' && e.offset === 4));
  t.equal(typeof seen[0]!.timestampNs, 'bigint');
  t.ok(seen[0]!.timestampNs >= t1, 'stamped at or after the input changed');
  t.same(
    seen.map((e) => e.lineSeqno),
    [1, 2],
  );
  stop();
  // Debounce: a glitch shorter than 30 ms is not an edge; a level that holds is, stamped when
  // first seen.
  const deb: EdgeEvent[] = [];
  eng.simulate(7, 0);
  eng.watchEdges([7], { edge: 'both', debounceUs: 30_000, pollUs: 100 }, (ev) => deb.push(...ev));
  eng.simulate(7, 1);
  eng.simulate(7, 0);
  await new Promise((r) => setTimeout(r, 80));
  t.same(deb, [], 'glitch suppressed');
  const t2 = eng.simulate(7, 1);
  t.ok(await until(() => deb.length === 1, 5000), 'held level reported');
  t.equal(deb[0]!.edge, 'rising');
  const lag = Number(deb[0]!.timestampNs - t2);
  t.ok(lag >= 0 && lag < 25_000_000, `timestamp is when it was first seen (${lag} ns after), not after the debounce`);
  t.throws(() => eng.watchEdges([40], {}, () => {}), { code: 'EPIN_RANGE' });
});

t.test('bad input is refused with a code and changes nothing', async (t) => {
  const eng = new TimingEngine({ soc: 'bcm2711', simulate: true });
  t.teardown(() => eng.close());
  const before = eng.readBank0();
  t.throws(() => eng.pwm(58, 1000, 0.5), { code: 'EPIN_RANGE' });
  t.throws(() => eng.pwm(17, 0, 0.5), { code: 'EPWM_FREQ' });
  t.throws(() => eng.pwm(17, 200_000, 0.5), { code: 'EPWM_FREQ' });
  t.throws(() => eng.pwm(17, 1000, 1.01), { code: 'EPWM_DUTY' });
  t.throws(() => eng.pwm(17, 1000, NaN), { code: 'EPWM_DUTY' });
  t.notOk(eng.busy());
  t.equal(eng.readBank0(), before);
  t.same(eng.takeEdges(), []);
});

t.test('close stops the thread; a process exits with an engine still running', async (t) => {
  const base = threads();
  const eng = new TimingEngine({ soc: 'bcm2711', simulate: true });
  eng.pwm(17, 1000, 0.5);
  eng.pwm(18, 2000, 0.5);
  t.ok(await until(() => threads() > base, 2000), 'the engine runs a thread');
  eng.close({ outputs: 'low' });
  t.ok(threads() <= base, 'no thread left after close');
  t.throws(() => eng.pwm(17, 1000, 0.5), { code: 'ECLOSED' });
  eng.close();
  const script = `import { TimingEngine } from ${JSON.stringify(repoRoot() + '/dist/src/hw/pwm-engine.js')};
    const e = new TimingEngine({ soc: 'rp1', simulate: true });
    e.pwm(12, 10000, 0.5);
    e.watchEdges([12], { pollUs: 100 }, () => {});
    setTimeout(() => { e.close(); console.log('closed'); }, 50);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, `exits cleanly ${r.stderr}`);
  t.match(r.stdout, /closed/);
  const script2 = `import { TimingEngine } from ${JSON.stringify(repoRoot() + '/dist/src/hw/pwm-engine.js')};
    const e = new TimingEngine({ soc: 'bcm2835', simulate: true });
    e.pwm(4, 5000, 0.5);
    console.log('leaving it running');`;
  const r2 = spawnSync(process.execPath, ['--input-type=module', '-e', script2], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r2.status, 0, `an unclosed engine does not keep the process or crash it ${r2.stderr}`);
});
