import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { readSafeState } from '../../agent/main.js';
import { tempDir } from '../support/tmp.js';
import { join } from 'node:path';
import { certInfo } from '../../src/certs/index.js';
import { startRig, newAgent, until } from './rig.js';

t.test('agent link', async (t) => {
  t.test('enrols, connects over mutual TLS and applies desired state set over REST', async (t) => {
    const rig = await startRig(t);
    const { agent, chip } = await newAgent(t, rig, 'pi-one');
    await until(() => agent.connected && rig.hub.status(rig.srv.store.nodes.require('pi-one').id).connected);
    const events: string[] = [];
    rig.bus.onAny('test', (e) => events.push(e.type));
    const r = await rig.srv.req('POST', '/api/v1/nodes/pi-one/gpio', {
      body: { name: 'led', spec: { pin: 17, mode: 'output', value: 1 } },
    });
    t.equal(r.status, 201);
    await until(() => chip.read(17) === 1 && chip.getMode(17) === 'output');
    await until(() => rig.srv.store.hardware.require(rig.srv.store.nodes.require('pi-one').id, 'gpio', 'led').status.phase === 'Applied');
    const got = await rig.srv.req('GET', '/api/v1/nodes/pi-one/gpio/led');
    t.match(got.body.status, { phase: 'Applied', observedGeneration: 1, actual: { mode: 'output', level: 1 } });
    await until(() => events.includes('gpio.changed'));
    t.ok(events.includes('gpio.changed'), 'gpio.changed on the bus');
  });

  t.test('renews its certificate before expiry over the live link, without dropping it', async (t) => {
    // Certificates issued "20 days ago" with a 30-day life: a third is left, so the agent renews.
    const rig = await startRig(t, { certsNow: () => Date.now() - 20 * 86400_000 });
    let drops = 0;
    const { agent, stateDir } = await newAgent(t, rig, 'pi-rot');
    agent.on('disconnected', () => drops++);
    const before = readFileSync(join(stateDir, 'agent-cert.pem'), 'utf8');
    const keyBefore = readFileSync(join(stateDir, 'agent-key.pem'), 'utf8');
    await until(() => readFileSync(join(stateDir, 'agent-cert.pem'), 'utf8') !== before);
    t.equal(drops, 0, 'the link stayed up');
    t.not(readFileSync(join(stateDir, 'agent-key.pem'), 'utf8'), keyBefore, 'a new key was made on the node');
    t.not(certInfo(readFileSync(join(stateDir, 'agent-cert.pem'), 'utf8')).serial, certInfo(before).serial);
    t.equal(rig.hub.info('pi-rot').certificates.length, 2);
  });

  t.test('lists agents with health over REST; every agent route needs a token', async (t) => {
    const rig = await startRig(t);
    const { agent } = await newAgent(t, rig, 'pi-rest');
    await until(() => rig.hub.info('pi-rest').health !== null);
    t.ok(agent.connected);
    const list = await rig.srv.req('GET', '/api/v1/agents');
    t.equal(list.status, 200);
    t.match(list.body.items[0], { node: 'pi-rest', connected: true, health: { agentVersion: 'test', simulated: true } });
    t.equal((await rig.srv.req('GET', '/api/v1/agents', { token: null })).status, 401);
    const one = await rig.srv.req('GET', '/api/v1/agents/pi-rest');
    t.equal(one.status, 200);
    // PUT on a pin name that does not exist yet creates it; the applied state comes back.
    const put = await rig.srv.req('PUT', '/api/v1/nodes/pi-rest/gpio/17', { body: { spec: { pin: 17, mode: 'output', value: 1 } } });
    t.equal(put.status, 201);
    await until(() => rig.hub.info('pi-rest').applied.some((i) => i.name === '17' && i.phase === 'Applied'));
    const tok = await rig.srv.req('POST', '/api/v1/agents/join-tokens', { body: { node: 'pi-new' }, token: rig.srv.operator });
    t.equal(tok.status, 403, 'join tokens need admin');
    const tok2 = await rig.srv.req('POST', '/api/v1/agents/join-tokens', { body: { node: 'pi-new' } });
    t.equal(tok2.status, 201);
    t.match(tok2.body, { node: 'pi-new', token: /^[0-9a-f]+\.[^.]+\.[0-9a-f]{64}$/, server: rig.hub.url });
  });

  t.test('applies the safe state only when asked', async (t) => {
    const rig = await startRig(t);
    const { agent, chip } = await newAgent(t, rig, 'pi-safe', { agent: { safeState: { 23: 1, 24: 0 } } });
    await new Promise((r) => setTimeout(r, 200));
    t.equal(chip.getMode(23), 'input', 'not applied at start');
    const r = await rig.srv.req('POST', '/api/v1/agents/pi-safe/safe-state', { token: rig.srv.operator });
    t.equal(r.status, 202);
    await until(() => chip.getMode(23) === 'output' && chip.read(23) === 1 && chip.getMode(24) === 'output' && chip.read(24) === 0);
    t.ok(agent.connected);
    const dir = tempDir(t);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ 1: 1, 17: 2, x: 0 }));
    t.throws(() => readSafeState(join(dir, 'bad.json'), 58), { code: 'SAFE_STATE_INVALID' });
    writeFileSync(join(dir, 'ok.json'), JSON.stringify({ 17: 1 }));
    t.same(readSafeState(join(dir, 'ok.json'), 58), { 17: 1 });
  });
});
