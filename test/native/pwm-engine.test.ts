// The timing thread's native paths in brief (start, edges recorded, waveform completion, polled
// edges through the thread-safe function, close while running), small enough to re-run under
// qemu and under ASan/UBSan by test/legs. Counts and order only; timing is in bench/timing.ts.
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
    const seen: EdgeEvent[] = [];
    eng.watchEdges([3], { edge: 'both', pollUs: 200 }, (ev) => seen.push(...ev));
    const r = await eng.waveform(
      [
        { set: [3], delayUs: 3000 },
        { clear: [3], delayUs: 3000 },
      ],
      { repeat: 1 },
    );
    t.equal(r.steps, 4);
    t.ok(await until(() => seen.length >= 4, 120_000), `edges polled (${seen.length})`);
    t.same(
      seen.slice(0, 4).map((e) => e.edge),
      ['rising', 'falling', 'rising', 'falling'],
    );
    // Close with PWM running and a watch active: the thread stops, the handle refuses more work.
    eng.pwm(13, 1000, 0.5);
    eng.close();
    t.throws(() => eng.pwm(13, 1000, 0.5), { code: 'ECLOSED' });
    await t.rejects(eng.waveform([{ set: [3], delayUs: 1 }]), { code: 'ECLOSED' });
  });
}
