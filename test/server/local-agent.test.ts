/**
 * The local simulated agent that `serve --local-agent` starts must not outlive the control plane,
 * however the control plane ends: a SIGKILL leaves no process behind driving pins.
 */
import t from 'tap';
import { startServe } from '../support/serve.js';
import { until } from '../agent/rig.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(120_000));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('the local agent stops when serve is killed with SIGKILL', async (t) => {
  const dataDir = tempDir(t, 'pic-local-agent-');
  const serve = await startServe(dataDir, {
    args: ['--port', '0', '--agent-port', '0', '--local-agent'],
    timeoutMs: 60_000,
    stderr: 'collect',
  });
  t.teardown(() => void serve.child.kill('SIGKILL'));
  // The start-up text names the agent's pid; the control plane logs "agent connected" once its link is up.
  await until(() => /"msg":"agent connected"/.test(serve.output()), 60_000).catch((err: unknown) => {
    throw new Error(`no connected local agent in 60 s:\n${serve.output()}`, { cause: err });
  });
  const agentPid = Number(/agent pid (\d+)/.exec(serve.output())?.[1]);
  t.ok(agentPid > 0 && alive(agentPid), `the local agent (pid ${agentPid}) runs beside the control plane`);
  serve.child.kill('SIGKILL');
  const deadline = Date.now() + 20_000;
  while (alive(agentPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const left = alive(agentPid);
  if (left) process.kill(agentPid, 'SIGKILL');
  t.notOk(left, 'the local agent has exited after its control plane was killed');
});
