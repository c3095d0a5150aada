/**
 * The polling sleep of the K3s jobs: many waits on one job's signal leave no abort listener behind
 * (a listener per wait piled up past Node's limit in long jobs: MaxListenersExceededWarning).
 */
import t from 'tap';
import { getEventListeners } from 'node:events';
import { sleep } from '../../src/provision/k3s.js';

t.test('sleep', async (t) => {
  t.test('removes its abort listener when the timer fires: no MaxListenersExceededWarning', async (t) => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    t.teardown(() => process.off('warning', onWarning));
    const ac = new AbortController();
    for (let i = 0; i < 30; i++) await sleep(1, ac.signal);
    // process warnings are emitted on a later tick
    await new Promise((r) => setTimeout(r, 50));
    t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the signal');
    t.same(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
      'no MaxListenersExceededWarning',
    );
  });

  t.test('resolves at once when the signal aborts, and leaves no listener', async (t) => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(600_000, ac.signal);
    ac.abort();
    await p;
    t.ok(Date.now() - t0 < 60_000, 'did not wait for the timer');
    t.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });
});
