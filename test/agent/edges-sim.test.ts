/**
 * Edges through the agent as `pi-controller agent --sim` runs it (runAgent): an input with
 * `edge: both` set over REST is watched by the timing thread polling the model's register page
 * file, and the counts reach the control plane's bus. The input is driven from outside by a
 * second simulated chip over the same page file (the behavioural model is the only simulated
 * part); each level holds until the watcher has seen it, so every edge must be counted once.
 */
import t from 'tap';
import { join } from 'node:path';
import { runAgent } from '../../agent/main.js';
import { silentLogger } from '../../src/log/index.js';
import { openChip } from '../../src/hw/index.js';
import { startRig, until } from './rig.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(60_000));

t.test('a --sim agent counts edges of an input from its register page and reports them', async (t) => {
  const rig = await startRig(t);
  const stateDir = tempDir(t, 'pic-agent-');
  const { token } = rig.hub.createJoinToken('pi-edges');
  const { agent, chip } = await runAgent({
    stateDir,
    server: rig.hub.url,
    joinToken: token,
    sim: true,
    log: silentLogger(),
    version: 'test',
  });
  t.teardown(async () => {
    await agent.stop();
    chip.close();
  });
  const nodeId = rig.srv.store.nodes.require('pi-edges').id;
  let edges = 0;
  let events = 0;
  let level = -1;
  rig.bus.on('edges-sim-test', 'gpio.changed', (e) => {
    if (e.data.nodeId !== nodeId || e.data.pin !== 20) return;
    events++;
    edges += e.data.edges ?? 0;
    level = e.data.value;
  });
  t.teardown(() => rig.bus.removeOwner('edges-sim-test'));
  await until(() => agent.connected, 10_000);
  const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-edges/gpio/button', { body: { spec: { pin: 20, mode: 'input', edge: 'both' } } });
  t.equal(put.status, 201, 'the input is set over REST');
  await until(() => agent.desired.some((i) => i.name === 'button'), 10_000);
  await new Promise((r) => setTimeout(r, 50));

  // The outside world: another simulated chip over the same page file drives GPIO20.
  const world = openChip({ soc: 'bcm2711', simulate: true, gpiomem: join(stateDir, 'gpiomem.sim') });
  t.teardown(() => world.close());
  // Each level is held until the agent's watcher has counted it, so a deschedule of the polling
  // thread on a loaded machine cannot swallow a pulse; the reports still batch what piles up.
  const counted = () => agent.edgeStats?.edges ?? 0;
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) {
    world.sim.drive(20, 1);
    await until(() => counted() >= 2 * i + 1, 10_000);
    world.sim.drive(20, 0);
    await until(() => counted() >= 2 * i + 2, 10_000);
  }
  await until(() => edges >= 20, 10_000);
  await new Promise((r) => setTimeout(r, 300));
  const reportsAllowed = Math.ceil((Date.now() - t0) / 100) + 1;
  t.equal(counted(), 20, 'the watcher counted every edge once');
  t.equal(edges, 20, 'the bus carries every counted edge');
  t.equal(level, 0, 'the level after the last edge');
  t.ok(events >= 1 && events <= reportsAllowed, `${events} bus events for 20 edges (at most ${reportsAllowed}: one per 100 ms report)`);
});
