// The timing thread's native paths in brief (start, edges recorded, waveform completion, polled
// edges through the thread-safe function, close while running), small enough to re-run under
// qemu and under ASan/UBSan by test/legs. Counts and order only, never how soon: timing is in
// bench/timing.ts and test/hw/timing.test.ts, which run on the x86 suite only.
import t from 'tap';
import { TimingEngine, pwmStats } from '../../src/hw/pwm-engine.js';
import type { EdgeEvent } from '../../src/hw/edges.js';
import { waitFor as until } from '../support/wait.js';

for (const soc of ['bcm2835', 'rp1'] as const) {
  t.test(`${soc}: PWM cycles, waveform, polled edges, close while running`, async (t) => {
    const eng = new TimingEngine({ soc, simulate: true });
    eng.pwm(12, 500, 0.5, { cycles: 5 });
    t.ok(await until(() => !eng.busy(), 120_000), 'PWM ran its cycles');
    const s = pwmStats(eng.takeEdges(), 12);
    t.equal(s.rising, 5);
    t.equal(s.falling, 5);
    t.ok(s.alternating);
    const r = await eng.waveform(
      [
        { set: [3], delayUs: 3000 },
        { clear: [3], delayUs: 3000 },
      ],
      { repeat: 1 },
    );
    t.equal(r.steps, 4, 'the waveform ran every step of both rounds');
    // Polled edges: each level is held until the watcher has reported it, so the poller sees
    // every change however late it runs (under qemu, or descheduled on a busy machine). How soon
    // it sees them is timing, measured by bench/timing.ts and test/hw/timing.test.ts, not here.
    const seen: EdgeEvent[] = [];
    eng.watchEdges([3], { edge: 'both', pollUs: 200 }, (ev) => seen.push(...ev));
    const levels = [1, 0, 1, 0] as const;
    for (const [i, level] of levels.entries()) {
      await eng.waveform([level ? { set: [3], delayUs: 1 } : { clear: [3], delayUs: 1 }]);
      if (!(await until(() => seen.length > i, 120_000))) break;
    }
    t.same(
      seen.map((e) => e.edge),
      ['rising', 'falling', 'rising', 'falling'],
      `every held level polled once, in order (${seen.length} edges)`,
    );
    // Close with PWM running and a watch active: the thread stops, the handle refuses more work.
    eng.pwm(13, 1000, 0.5);
    eng.close();
    t.throws(() => eng.pwm(13, 1000, 0.5), { code: 'ECLOSED' });
    await t.rejects(eng.waveform([{ set: [3], delayUs: 1 }]), { code: 'ECLOSED' });
  });
}

t.test('a watched pin driven by the same thread: every level it makes is polled, however rare the polls', async (t) => {
  // Polls 1 s apart against a 1 kHz PWM: only the poll that follows each of the thread's own
  // writes can see the 20 pulses. Counts only, so it holds under qemu and on a busy machine.
  const eng = new TimingEngine({ soc: 'bcm2711', simulate: true, recordEdges: false });
  t.teardown(() => eng.close());
  const seen: EdgeEvent[] = [];
  eng.watchEdges([17], { edge: 'both', pollUs: 1_000_000 }, (ev) => seen.push(...ev));
  eng.pwm(17, 1000, 0.5, { cycles: 20 });
  t.ok(await until(() => eng.recordStats().edges === 40, 120_000), 'the PWM made its 40 edges');
  t.ok(await until(() => seen.length >= 40, 120_000), `polled ${seen.length} of 40 edges`);
  t.equal(seen.filter((e) => e.edge === 'rising').length, 20, 'every rising edge');
  t.equal(seen.filter((e) => e.edge === 'falling').length, 20, 'every falling edge');
});
