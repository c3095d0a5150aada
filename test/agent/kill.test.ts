/**
 * The real `pi-controller serve` process is killed with SIGKILL while an agent holds outputs, and
 * started again on the same data directory and ports: the agent reconnects by itself, the pins do
 * not move meanwhile or on reconnect, and a change made after the restart is applied.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { enrol } from '../../agent/enrol.js';
import { startServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { startAgent, until, nextApplied } from './rig.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const serve = (dataDir: string, port: number, agentPort: number) =>
  startServe(dataDir, { args: ['--port', String(port), '--agent-port', String(agentPort)], timeoutMs: 20_000 });

t.test('control plane killed with SIGKILL and restarted', async (t) => {
  const dataDir = tempDir(t, 'pic-kill-');
  const [port, agentPort] = [await freePort(), await freePort()];
  let cp = await serve(dataDir, port, agentPort);
  t.teardown(() => void cp.child.kill('SIGKILL'));
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(cp.url + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const tok = await api('POST', '/api/v1/agents/join-tokens', { node: 'pi-kill' });
  t.equal(tok.status, 201);
  const stateDir = tempDir(t, 'pic-kill-agent-');
  await enrol({ server: String(tok.body.server), token: String(tok.body.token), stateDir });
  const a = startAgent(t, stateDir, true, false);
  const first = nextApplied(a.agent);
  a.agent.start();
  await first;
  for (const pin of [5, 6, 13])
    t.equal(
      (await api('PUT', `/api/v1/nodes/pi-kill/gpio/${pin}`, { spec: { pin, mode: 'output', value: pin === 6 ? 0 : 1 } })).status,
      201,
    );
  await until(() => a.chip.read(5) === 1 && a.chip.read(13) === 1 && a.chip.getMode(6) === 'output', 8000);
  a.chip.clearTrace();

  cp.child.kill('SIGKILL');
  await until(() => !a.agent.connected, 8000);
  await new Promise((r) => setTimeout(r, 500));
  t.same([a.chip.read(5), a.chip.read(6), a.chip.read(13)], [1, 0, 1], 'pins unchanged while the control plane is dead');

  const back = nextApplied(a.agent, 15_000);
  cp = await serve(dataDir, port, agentPort);
  await back;
  t.ok(a.agent.connected, 'the agent reconnected by itself');
  t.same(
    a.chip.trace().filter((e) => e.op === 'write'),
    [],
    'no register written across the outage and the reconnect',
  );
  t.equal((await api('PUT', '/api/v1/nodes/pi-kill/gpio/5', { spec: { pin: 5, mode: 'output', value: 0 } })).status, 200);
  await until(() => a.chip.read(5) === 0, 8000);
  t.pass('a change after the restart is applied');
  await a.agent.stop();
  cp.child.kill('SIGTERM');
  await new Promise((r) => cp.child.once('exit', r));
});
