import t from 'tap';
import { startRig, newAgent, until } from './rig.js';

t.test('agent link', async (t) => {
  t.test('enrols, connects over mutual TLS and applies desired state set over REST', async (t) => {
    const rig = await startRig(t);
    const { agent, chip } = await newAgent(t, rig, 'pi-one');
    await until(() => agent.connected && rig.hub.status(rig.srv.store.nodes.require('pi-one').id).connected);
    const events: string[] = [];
    rig.bus.onAny('test', (e) => events.push(e.type));
    const r = await rig.srv.req('POST', '/api/v1/nodes/pi-one/gpio', { body: { name: 'led', spec: { pin: 17, mode: 'output', value: 1 } } });
    t.equal(r.status, 201);
    await until(() => chip.read(17) === 1 && chip.getMode(17) === 'output');
    await until(() => rig.srv.store.hardware.require(rig.srv.store.nodes.require('pi-one').id, 'gpio', 'led').status.phase === 'Applied');
    const got = await rig.srv.req('GET', '/api/v1/nodes/pi-one/gpio/led');
    t.match(got.body.status, { phase: 'Applied', observedGeneration: 1, actual: { mode: 'output', level: 1 } });
    await until(() => events.includes('gpio.changed'));
    t.ok(events.includes('gpio.changed'), 'gpio.changed on the bus');
  });
});
