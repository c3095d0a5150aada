/**
 * What reaches the control plane's bus as an edge, from an agent with no edge source (inputs are
 * sampled every health tick): only the changes of an input whose spec asks for them, in the
 * direction it asks for, carry `edges`. An output switched by its spec and an input without
 * `edge` report level changes, which are not edges (the reconciler counts only `edges` into
 * status.edgeCount). The input is driven from outside by a second simulated chip over the page file.
 */
import t from 'tap';
import { openChip } from '../../src/hw/index.js';
import type { EventMap } from '../../src/api/events.js';
import { newAgent, startRig, until } from './rig.js';

t.setTimeout(60_000);

t.test('sampled level changes: edges only for inputs that ask for them', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-sampled');
  const nodeId = rig.srv.store.nodes.require('pi-sampled').id;
  const seen: EventMap['gpio.changed'][] = [];
  rig.bus.on('edges-sampled-test', 'gpio.changed', (e) => {
    if (e.data.nodeId === nodeId) seen.push(e.data);
  });
  t.teardown(() => rig.bus.removeOwner('edges-sampled-test'));
  const put = (name: string, spec: Record<string, unknown>) =>
    rig.srv.req('PUT', `/api/v1/nodes/pi-sampled/gpio/${name}`, { body: { spec } });
  t.equal((await put('led', { pin: 17, mode: 'output', value: 1, edge: 'none' })).status, 201);
  t.equal((await put('button', { pin: 20, mode: 'input', edge: 'rising' })).status, 201);
  t.equal((await put('plain', { pin: 21, mode: 'input' })).status, 201);
  await until(() => ['led', 'button', 'plain'].every((n) => a.agent.desired.some((i) => i.name === n)), 10_000);
  await until(() => a.chip.read(17) === 1, 10_000);
  await until(() => seen.some((e) => e.pin === 17), 10_000);
  // One health tick (500 ms in the rig) takes the inputs' first samples.
  await new Promise((r) => setTimeout(r, 1200));

  const before = seen.length;
  const world = openChip({ soc: 'bcm2711', simulate: true, gpiomem: a.page });
  t.teardown(() => world.close());
  const tick = () => new Promise((r) => setTimeout(r, 1200));
  world.sim.drive(20, 1);
  world.sim.drive(21, 1);
  await tick();
  world.sim.drive(20, 0);
  world.sim.drive(21, 0);
  await tick();
  await until(() => seen.slice(before).filter((e) => e.pin === 21).length >= 2, 10_000);

  const led = seen.filter((e) => e.pin === 17);
  t.ok(led.length >= 1, 'the output switched on: a level change on the bus');
  t.same(
    led.filter((e) => e.edges !== undefined),
    [],
    'an output with edge: none reports no edges',
  );
  const button = seen.filter((e) => e.pin === 20 && e.edges !== undefined);
  t.same(
    button.map((e) => [e.edges, e.value, e.name]),
    [[1, 1, 'button']],
    'the rising input: one edge (its rise), the fall is not counted',
  );
  t.match(button[0]?.lastEdgeAt, /^\d{4}-\d\d-\d\dT/, 'with its time');
  t.same(
    seen.filter((e) => e.pin === 21 && e.edges !== undefined),
    [],
    'an input without edge reports level changes, not edges',
  );
  t.same(
    seen
      .slice(before)
      .filter((e) => e.pin === 21)
      .map((e) => e.value),
    [1, 0],
    'its level changes are on the bus',
  );
});
