/**
 * `pi-controller agent --join-token-file`: the DaemonSet mounts the join secret and names the
 * node's key as a file (the image has no shell to read it into --join-token). The token in the
 * file enrols the agent; a missing file is no token at all.
 */
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAgentCli } from '../../agent/cli.js';
import { FILES } from '../../agent/enrol.js';
import { EXIT } from '../../src/cli/exit.js';
import { startRig, until } from './rig.js';
import { tempDir } from '../support/tmp.js';

function io(dir: string) {
  const o = { err: '', stop: null as (() => void) | null };
  return {
    o,
    io: { out: () => undefined, err: (s: string) => void (o.err += s), env: {}, cwd: dir, onStop: (fn: () => void) => void (o.stop = fn) },
  };
}

t.test('agent --join-token-file', async (t) => {
  t.test('enrols with the token read from the file', async (t) => {
    const rig = await startRig(t);
    const { token } = rig.hub.createJoinToken('pi-file');
    const dir = tempDir(t, 'pic-agent-');
    writeFileSync(join(dir, 'pi-file'), `${token}\n`);
    const { o, io: cli } = io(dir);
    const run = runAgentCli(
      ['agent', '--sim', '--server', rig.hub.url, '--join-token-file', 'pi-file', '--state-dir', 'state', '--log-level', 'warn'],
      cli,
    );
    await until(() => o.stop !== null || o.err !== '', 20_000);
    t.equal(o.err, '', 'no error');
    t.ok(existsSync(join(dir, 'state', FILES.cert)), 'enrolled: the certificate is stored');
    await until(() => rig.hub.info('pi-file').connected, 20_000);
    o.stop!();
    t.equal(await run, EXIT.OK);
  });

  t.test('a missing file is no token', async (t) => {
    const dir = tempDir(t, 'pic-agent-');
    const { o, io: cli } = io(dir);
    const code = await runAgentCli(
      ['agent', '--sim', '--server', 'https://127.0.0.1:1', '--join-token-file', 'absent', '--state-dir', 'state'],
      cli,
    );
    t.equal(code, EXIT.ERROR);
    t.match(o.err, /NOT_ENROLLED/);
  });
});
