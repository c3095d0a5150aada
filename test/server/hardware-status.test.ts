/**
 * What the desired-state routes say about an object the agent has not reported on yet: with the
 * node's agent connected (real agent hub on mutual TLS, agent over the behavioural register
 * model) a change is Pending/Applying; without one it is Pending/NoAgent. Once the agent reports,
 * its report is shown.
 */
import t from 'tap';
import { newAgent, startRig, until } from '../agent/rig.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(60_000));

t.test('PUT /nodes/:node/gpio/:pin status before the agent reports', async (t) => {
  const rig = await startRig(t);
  const { agent, chip } = await newAgent(t, rig, 'pi-put');
  const nodeId = rig.srv.store.nodes.require('pi-put').id;
  await until(() => rig.hub.status(nodeId).connected);
  const stored = () => rig.srv.store.hardware.require(nodeId, 'gpio', '17').status;

  t.test("created while the agent is connected: Pending, reason Applying; then the agent's report", async (t) => {
    const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-put/gpio/17', { body: { spec: { pin: 17, mode: 'output', value: 1 } } });
    t.equal(put.status, 201);
    t.match(put.body, { generation: 1, status: { phase: 'Pending', reason: 'Applying', observedGeneration: 0 } });
    await until(() => stored().phase === 'Applied');
    t.equal(chip.read(17), 1, 'the pin was set');
    const got = await rig.srv.req('GET', '/api/v1/nodes/pi-put/gpio/17');
    t.match(got.body.status, { phase: 'Applied', observedGeneration: 1 });
  });

  t.test('a changed spec while connected: Pending/Applying at the new generation, not the old report', async (t) => {
    const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-put/gpio/17', { body: { spec: { pin: 17, mode: 'output', value: 0 } } });
    t.equal(put.status, 200);
    t.match(put.body, { generation: 2, status: { phase: 'Pending', reason: 'Applying', observedGeneration: 1 } });
    await until(() => stored().observedGeneration === 2);
    t.equal(chip.read(17), 0);
    const same = await rig.srv.req('PUT', '/api/v1/nodes/pi-put/gpio/17', { body: { spec: { pin: 17, mode: 'output', value: 0 } } });
    t.match(
      same.body,
      { generation: 2, status: { phase: 'Applied', observedGeneration: 2 } },
      'an unchanged spec shows the report as it is',
    );
  });

  t.test('with the agent gone: Pending, reason NoAgent, in the PUT answer and the listing', async (t) => {
    await agent.stop();
    await until(() => !rig.hub.status(nodeId).connected);
    const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-put/gpio/17', { body: { spec: { pin: 17, mode: 'output', value: 1 } } });
    t.equal(put.status, 200);
    t.match(put.body.status, { phase: 'Pending', reason: 'NoAgent', observedGeneration: 2 });
    const list = await rig.srv.req('GET', '/api/v1/nodes/pi-put/gpio');
    t.match(list.body.items, [{ name: '17', status: { reason: 'NoAgent' } }]);
    t.equal(stored().phase, 'Applied', 'the stored row keeps the last report');
  });

  t.test('a node that never had an agent: NoAgent', async (t) => {
    t.equal((await rig.srv.req('POST', '/api/v1/nodes', { body: { name: 'pi-lonely' } })).status, 201);
    const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-lonely/gpio/4', { body: { spec: { pin: 4, mode: 'input' } } });
    t.equal(put.status, 201);
    t.match(put.body.status, { phase: 'Pending', reason: 'NoAgent' });
  });
});
