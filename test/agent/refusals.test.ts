import t from 'tap';
import { request } from 'node:https';
import WebSocket from 'ws';
import { AGENT_PATH, PROTOCOL_VERSION } from '../../src/api/agent.js';
import { CertManager } from '../../src/certs/index.js';
import { enrol, loadCredentials, newKeyAndCsr } from '../../agent/enrol.js';
import { tempDir } from '../support/tmp.js';
import { startRig, newAgent, until } from './rig.js';

/** Opens the agent WebSocket with the given TLS material; resolves with 'open' or the HTTP status / error code. */
function dial(url: string, tls: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('https', 'wss') + AGENT_PATH, { ...tls, handshakeTimeout: 5000 });
    ws.on('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(`http ${res.statusCode ?? 0}`);
      ws.terminate();
    });
    ws.on('error', (err: Error & { code?: string }) => resolve(`error ${err.code ?? err.message}`));
  });
}

t.test('agent refusals', async (t) => {
  t.test('a reused join token is refused', async (t) => {
    const rig = await startRig(t);
    const { token } = rig.hub.createJoinToken('pi-a');
    await enrol({ server: rig.hub.url, token, stateDir: tempDir(t) });
    await t.rejects(enrol({ server: rig.hub.url, token, stateDir: tempDir(t) }), { code: 'TOKEN_USED' });
  });

  t.test('an expired join token is refused', async (t) => {
    const rig = await startRig(t);
    const { token } = rig.hub.createJoinToken('pi-b', 1);
    await new Promise((r) => setTimeout(r, 20));
    await t.rejects(enrol({ server: rig.hub.url, token, stateDir: tempDir(t) }), { code: 'TOKEN_EXPIRED' });
  });

  t.test('an unknown token, and a token pinning another CA, are refused', async (t) => {
    const rig = await startRig(t);
    const { token } = rig.hub.createJoinToken('pi-c');
    const [id, , ca] = token.split('.');
    await t.rejects(enrol({ server: rig.hub.url, token: `${id}.wrongsecret.${ca}`, stateDir: tempDir(t) }), { code: 'TOKEN_UNKNOWN' });
    const other = await CertManager.open({ dir: tempDir(t) });
    const [oid, osecret] = token.split('.');
    await t.rejects(enrol({ server: rig.hub.url, token: `${oid}.${osecret}.${other.caSha256}`, stateDir: tempDir(t) }), {
      code: 'CA_MISMATCH',
    });
  });

  t.test('a client without a certificate, or with one from another CA, is refused before any message', async (t) => {
    const rig = await startRig(t);
    t.equal(await dial(rig.hub.url, { ca: rig.certs.caCert }), 'http 401', 'no client certificate');
    const other = await CertManager.open({ dir: tempDir(t) });
    const { keyPem, csr } = await newKeyAndCsr('pi-d');
    rig.srv.store.nodes.create({ name: 'pi-d' });
    const foreign = await other.issueAgent(csr, 'pi-d');
    t.equal(await dial(rig.hub.url, { ca: rig.certs.caCert, cert: foreign.cert, key: keyPem }), 'http 401', 'certificate from another CA');
    const own = await rig.certs.issueAgent(csr, 'pi-d');
    t.equal(
      await dial(rig.hub.url, { ca: rig.certs.caCert, cert: own.cert, key: keyPem }),
      'open',
      'the same key with our certificate is accepted',
    );
    t.match(
      await dial(rig.hub.url, { ca: other.caCert, cert: own.cert, key: keyPem }),
      /^error /,
      'the agent refuses a server its pinned CA did not sign',
    );
  });

  t.test('a revoked certificate is refused, and removing a node revokes its certificates', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-e');
    const creds = loadCredentials(a.stateDir)!;
    await a.agent.stop();
    t.equal(rig.hub.revokeNode('pi-e').length, 1);
    t.equal(await dial(rig.hub.url, { ca: creds.ca, cert: creds.cert, key: creds.key }), 'http 403');
    // Node removal over REST revokes and drops a live link.
    const b = await newAgent(t, rig, 'pi-f');
    const bc = loadCredentials(b.stateDir)!;
    const del = await rig.srv.req('DELETE', '/api/v1/nodes/pi-f');
    t.equal(del.status, 204);
    await until(() => !b.agent.connected);
    t.equal(await dial(rig.hub.url, { ca: bc.ca, cert: bc.cert, key: bc.key }), 'http 403');
  });

  t.test('100 desired-state messages with bad fields: each refused with a reason, agent stays up, no register written', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-g');
    const nodeId = rig.srv.store.nodes.require('pi-g').id;
    const refusedUp: string[] = [];
    rig.bus.on('test', 'agent.refused', (e) => refusedUp.push(e.data.reason));
    const refused: { reason: string; problems: unknown[] }[] = [];
    a.agent.on('refused', (r: { reason: string; problems: unknown[] }) => refused.push(r));
    a.chip.clearTrace();
    const item = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      kind: 'gpio',
      name: 'x',
      generation: 1,
      spec,
      ...extra,
    });
    const bad: unknown[] = [];
    for (let i = 0; i < 100; i++) {
      const variants: unknown[] = [
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: 60 + i, mode: 'output', value: 1 })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: 17, mode: 'sideways' })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: 17, mode: 'output', value: 2 + i })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: '17', mode: 'output', value: 1 })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: 17, mode: 'output', value: 1, extra: i })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: i, items: [item({ pin: 17, mode: 'output' }, { kind: 'servo' })] },
        { v: PROTOCOL_VERSION, type: 'desired', seq: -1 - i, items: [] },
        { v: 2 + i, type: 'desired', seq: i, items: [] },
        {
          v: PROTOCOL_VERSION,
          type: 'desired',
          seq: i,
          items: [item({ pin: 17, mode: 'output', value: 1 }), item({ pin: 18, mode: 'output', value: 1, pull: 'sideways' })],
        },
        { v: PROTOCOL_VERSION, type: 'nonsense', seq: i },
      ];
      bad.push(variants[i % variants.length]);
    }
    for (const m of bad) rig.hub.sendRaw(nodeId, JSON.stringify(m));
    await until(() => refused.length === 100 && refusedUp.length === 100);
    t.equal(refused.length, 100, 'each message refused');
    t.ok(
      refused.every((r) => typeof r.reason === 'string' && r.reason.length > 0),
      'each with a reason',
    );
    t.same([...new Set(refused.map((r) => r.reason))].sort(), ['InvalidMessage', 'InvalidSpec', 'UnknownType', 'UnsupportedVersion']);
    t.same(
      a.chip.trace().filter((e) => e.op === 'write'),
      [],
      'no register written',
    );
    t.ok(a.agent.connected, 'agent still connected');
    // And it still applies a good message afterwards.
    rig.srv.store.hardware.create(nodeId, 'gpio', 'ok', { pin: 17, mode: 'output', value: 1 });
    rig.hub.pushDesired(nodeId);
    await until(() => a.chip.read(17) === 1);
    t.pass('a good message is applied afterwards');
  });

  t.test('conflicting claims and reserved pins are refused with a reason that reaches the control plane', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-h');
    const nodeId = rig.srv.store.nodes.require('pi-h').id;
    a.chip.clearTrace();
    const items = [
      { kind: 'gpio', name: 'a', generation: 1, spec: { pin: 20, mode: 'output', value: 1 } },
      { kind: 'gpio', name: 'b', generation: 1, spec: { pin: 20, mode: 'output', value: 0 } },
      { kind: 'gpio', name: 'eeprom', generation: 1, spec: { pin: 0, mode: 'output', value: 1 } },
      { kind: 'pwm', name: 'fan', generation: 1, spec: { pin: 18, frequencyHz: 25000, dutyCycle: 0.5 } },
    ];
    const applied = new Promise<{ name: string; phase: string; reason: string }[]>((r) => a.agent.once('applied', r));
    rig.hub.sendRaw(nodeId, JSON.stringify({ v: PROTOCOL_VERSION, type: 'desired', seq: 1, items }));
    const got = await applied;
    t.match(
      got.find((i) => i.name === 'a'),
      { phase: 'Applied' },
    );
    t.match(
      got.find((i) => i.name === 'b'),
      { phase: 'Failed', reason: 'PinBusy' },
    );
    t.match(
      got.find((i) => i.name === 'eeprom'),
      { phase: 'Failed', reason: 'PinReserved' },
    );
    t.match(
      got.find((i) => i.name === 'fan'),
      { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_0' } },
      'PWM beside the refusals is applied',
    );
    t.equal(a.chip.read(20), 1);
    t.notOk(
      a.chip.trace().some((e) => e.op === 'write' && e.offset >= 0x1c && e.offset <= 0x2c && e.value & 1),
      'GPIO0 never written',
    );
    await until(() => rig.hub.info('pi-h').applied.length === 4);
    t.match(
      rig.hub.info('pi-h').applied.find((i) => i.name === 'b'),
      { reason: 'PinBusy' },
      'reason reached the control plane',
    );
  });

  t.test('the enrol endpoint refuses bad bodies with a code', async (t) => {
    const rig = await startRig(t);
    const post = (body: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          new URL('/enrol', rig.hub.url),
          { method: 'POST', ca: rig.certs.caCert, headers: { 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    t.match(await post('nope'), { status: 400, text: /BAD_JSON/ });
    t.match(await post('{"token":1}'), { status: 422, text: /VALIDATION_FAILED/ });
    const { token } = rig.hub.createJoinToken('pi-i');
    t.match(await post(JSON.stringify({ token, csr: 'not a csr' })), { status: 422, text: /CSR_INVALID/ });
  });
});
