/**
 * `pi-controller agent` checks the board before it enrols: off a Pi without --sim it fails with
 * EBOARD_UNKNOWN and says to pass --sim, and the one-time join token is still unused, so the same
 * token then enrols the agent with --sim.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAgentCli } from '../../agent/cli.js';
import { runAgent } from '../../agent/main.js';
import { FILES } from '../../agent/enrol.js';
import { detectBoard } from '../../src/hw/index.js';
import { silentLogger } from '../../src/log/index.js';
import { EXIT } from '../../src/cli/exit.js';
import { startRig } from './rig.js';
import { tempDir } from '../support/tmp.js';

function onAPi(): boolean {
  try {
    detectBoard();
    return true;
  } catch {
    return false;
  }
}

t.test('the board is checked before the join token is spent', { skip: onAPi() ? 'this machine is a Raspberry Pi' : false }, async (t) => {
  const rig = await startRig(t);
  const { token } = rig.hub.createJoinToken('pi-offboard');
  const stateDir = tempDir(t, 'pic-agent-');

  let err = '';
  const code = await runAgentCli(['agent', '--server', rig.hub.url, '--join-token', token, '--state-dir', stateDir], {
    out: () => undefined,
    err: (s) => (err += s),
    env: {},
    cwd: stateDir,
    onStop: () => undefined,
  });
  t.equal(code, EXIT.ERROR);
  t.match(err, /EBOARD_UNKNOWN/);
  t.match(err, /--sim/, 'the message says what to do off a Pi');
  t.notOk(existsSync(join(stateDir, FILES.cert)), 'no certificate was issued');

  // The same token still works.
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
  t.ok(existsSync(join(stateDir, FILES.cert)), 'enrolled with --sim on the same token');
});
