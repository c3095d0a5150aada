/**
 * The local simulated agent that `serve --local-agent` starts must not outlive the control plane,
 * however the control plane ends: a SIGKILL leaves no process behind driving pins.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
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

t.test("pi-controller logs shows the real agent process's own log lines", async (t) => {
  const dataDir = tempDir(t, 'pic-local-agent-');
  const serve = await startServe(dataDir, {
    args: ['--port', '0', '--agent-port', '0', '--local-agent'],
    timeoutMs: 60_000,
    stderr: 'collect',
  });
  t.teardown(() => void serve.child.kill('SIGTERM'));
  await until(() => /"msg":"agent connected"/.test(serve.output()), 60_000);
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const r = await new Promise<{ code: number; out: string; err: string }>((resolve) =>
    execFile(
      process.execPath,
      [join(repoRoot(), 'dist/src/cli/main.js'), '--url', serve.url, '--token', token, 'logs', 'local-sim'],
      { encoding: 'utf8', timeout: scaled(60_000), env: { ...process.env, PI_CONTROLLER_CLI_CONFIG: join(dataDir, 'cli.json') } },
      (err, out, stderr) => resolve({ code: err ? 1 : 0, out, err: stderr }),
    ),
  );
  t.equal(r.code, 0, r.err);
  // The agent logs its connection at info: that line came from the agent process's ring, over its link.
  t.match(r.out, /INFO {3}agent: /);
});
