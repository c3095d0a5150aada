/**
 * An agent's own log lines: the agent keeps them in a bounded ring and returns them over its
 * link when the control plane asks (`GET /api/v1/agents/{node}/logs`, `pi-controller logs
 * <node> [-f]`). The real hub on mutual TLS, a real agent in this process whose logger writes
 * into its ring, the real REST app and the CLI.
 */
import t from 'tap';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { createLogging, LogRing } from '../../src/log/index.js';
import { newAgent, startRig } from './rig.js';
import { waitFor } from '../support/wait.js';

t.test('agent logs', async (t) => {
  const rig = await startRig(t);
  const ring = new LogRing({ maxLines: 50 });
  const logging = createLogging({ level: 'info', format: 'json', destination: { write: () => undefined }, ring });
  const log = logging.child('agent');
  const a = await newAgent(t, rig, 'pi-log', { agent: { log, logRing: ring } });
  log.info({ pin: 17 }, 'marker one');

  t.test('REST: the lines after a seq, bounded by limit', async (t) => {
    const r = await rig.srv.req('GET', '/api/v1/agents/pi-log/logs', { token: rig.srv.viewer });
    t.equal(r.status, 200);
    const lines = r.body.lines as { seq: number; line: string }[];
    const marker = lines.find((l) => l.line.includes('marker one'))!;
    t.ok(marker, 'the line logged is there');
    t.match(JSON.parse(marker.line), { msg: 'marker one', pin: 17, component: 'agent', level: 30 });
    t.equal(r.body.last, lines[lines.length - 1]!.seq);
    const after = await rig.srv.req('GET', `/api/v1/agents/pi-log/logs?after=${marker.seq - 1}&limit=1`, { token: rig.srv.viewer });
    t.same(after.body.lines, [marker]);
    t.equal((await rig.srv.req('GET', '/api/v1/agents/pi-log/logs?limit=5000', { token: rig.srv.viewer })).status, 422);
    t.equal((await rig.srv.req('GET', '/api/v1/agents/nobody/logs', { token: rig.srv.viewer })).status, 404);
    t.equal((await rig.srv.req('GET', '/api/v1/agents/pi-log/logs', { token: null })).status, 401);
  });

  t.test('the ring is bounded: the oldest lines go', async (t) => {
    for (let i = 0; i < 120; i++) log.info({ i }, 'flood');
    const r = await rig.srv.req('GET', '/api/v1/agents/pi-log/logs?limit=1000', { token: rig.srv.viewer });
    t.equal(r.body.lines.length, 50);
    t.ok(r.body.first > 70, 'the first lines are gone');
    t.match(JSON.parse(r.body.lines[49].line), { msg: 'flood', i: 119 });
  });

  const cli = (argv: string[], stop?: (fn: () => void) => void) => {
    let out = '';
    let err = '';
    const io: Io = {
      out: (s) => (out += s),
      err: (s) => (err += s),
      env: { HOME: '/nonexistent', PI_CONTROLLER_URL: rig.srv.url, PI_CONTROLLER_TOKEN: rig.srv.viewer },
      cwd: '/',
      onStop: stop ?? (() => undefined),
    };
    return { done: run(argv, io), out: () => out, err: () => err };
  };

  t.test('pi-controller logs <node> and -f', async (t) => {
    const once = cli(['logs', 'pi-log', '--tail', '3']);
    t.equal(await once.done, EXIT.OK, once.err());
    const lines = once.out().trim().split('\n');
    t.equal(lines.length, 3);
    t.match(lines[2], /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}INFO {3}agent: flood \{"i":119\}$/);

    let stopFn: (() => void) | undefined;
    const f = cli(['logs', 'pi-log', '-f', '--tail', '0', '--interval', '100'], (fn) => (stopFn = fn));
    await new Promise((r) => setTimeout(r, 300));
    log.warn('followed \u001b[31m line');
    await waitFor(() => f.out().includes('followed'), 10_000);
    t.match(f.out(), /WARN {3}agent: followed \\x1b\[31m line/, 'control characters made visible');
    t.notMatch(f.out(), /flood/, '--tail 0: only new lines');
    stopFn!();
    t.equal(await f.done, EXIT.OK);
  });

  t.test('an agent that is not connected: 409 AGENT_OFFLINE', async (t) => {
    await a.agent.stop();
    await waitFor(() => !rig.hub.status(rig.srv.store.nodes.require('pi-log').id).connected, 10_000);
    const r = await rig.srv.req('GET', '/api/v1/agents/pi-log/logs', { token: rig.srv.viewer });
    t.match(r, { status: 409, body: { error: { code: 'AGENT_OFFLINE' } } });
    const c = cli(['logs', 'pi-log']);
    t.equal(await c.done, EXIT.CONFLICT);
    t.match(c.err(), /AGENT_OFFLINE/);
  });
});
