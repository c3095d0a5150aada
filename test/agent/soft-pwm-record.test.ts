// Software PWM in the agent keeps no edge record: the timing engine records every edge it makes
// by default (up to about 12 MB) for whoever takes the record, and the agent never takes it, so
// its backends open the engine with recordEdges: false. The real control plane and link (rig),
// the agent's own simulated backends; the GPIO block under the timing thread is the behavioural
// model, the only thing simulated. Assertions are on counts: edges made, edges held.
import t from 'tap';
import { startRig, newAgent, until, pushDesired } from './rig.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(60_000));

t.test('a software PWM at 4 kHz in the agent: edges made, none held', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-soft');
  await until(() => a.agent.connected);
  const nodeId = rig.srv.store.nodes.require('pi-soft').id;
  rig.srv.store.hardware.create(nodeId, 'pwm', 'led', { pin: 17, frequencyHz: 4000, dutyCycle: 0.5, implementation: 'software' });
  t.match(
    (await pushDesired(rig, a.agent, nodeId)).find((i) => i.name === 'led'),
    { phase: 'Applied', actual: { implementation: 'software', frequencyHz: 4000, periodNs: 250_000 } },
  );
  const engine = a.engine();
  if (!engine) throw new Error('the agent did not open a timing engine for software PWM');

  // About 2 s of output (8000 edges a second when the thread keeps up; fewer on a loaded machine,
  // which skips periods rather than bursting): the record is sampled all along.
  const WANT = 16_000;
  let maxHeld = 0,
    maxBytes = 0,
    samples = 0;
  await until(() => {
    const s = engine.recordStats();
    maxHeld = Math.max(maxHeld, s.held);
    maxBytes = Math.max(maxBytes, s.heldBytes);
    samples++;
    return s.edges >= WANT;
  }, 20_000);
  const made = engine.recordStats().edges;
  t.ok(made >= WANT, `${made} edges made`);
  t.ok(samples > 1, `the record sampled ${samples} times while the PWM ran`);
  t.equal(maxHeld, 0, 'no edge held in the record at any sample');
  t.equal(maxBytes, 0, 'no memory kept for a record');
  t.same(engine.takeEdges(), [], 'nothing to take');

  // Removal stops the thread's PWM: the count stops.
  rig.srv.store.hardware.delete(nodeId, 'pwm', 'led');
  await pushDesired(rig, a.agent, nodeId);
  t.notOk(engine.busy(), 'nothing left on the timing thread');
  const stopped = engine.recordStats().edges;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(engine.recordStats().edges, stopped, 'no edge after removal');
  t.equal(a.chip.read(17), 0, 'GPIO17 at its idle level');
});
