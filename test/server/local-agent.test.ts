/**
 * The local simulated agent that `serve --local-agent` starts must not outlive the control plane,
 * however the control plane ends: a SIGKILL leaves no process behind driving pins.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

t.setTimeout(120_000);

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
  const serve = spawn(process.execPath, [join(repoRoot(), 'dist/src/cli/main.js'), 'serve', '--data-dir', dataDir, '--port', '0', '--agent-port', '0', '--local-agent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PI_CONTROLLER_LOG_FORMAT: 'json', PI_CONTROLLER_BACKUP_INTERVAL_MINUTES: '0' },
  });
  t.teardown(() => void serve.kill('SIGKILL'));
  let out = '';
  serve.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // The start-up text names the agent's pid; the agent logs "connected" once its link is up.
  const agentPid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connected local agent in 60 s:\n${out}`)), 60_000);
    let pid: number | undefined;
    serve.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      pid ??= Number(/agent pid (\d+)/.exec(out)?.[1]) || undefined;
      if (pid !== undefined && /"msg":"agent connected"/.test(out)) {
        clearTimeout(timer);
        resolve(pid);
      }
    });
    serve.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  t.ok(alive(agentPid), `the local agent (pid ${agentPid}) runs beside the control plane`);
  serve.kill('SIGKILL');
  const deadline = Date.now() + 20_000;
  while (alive(agentPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const left = alive(agentPid);
  if (left) process.kill(agentPid, 'SIGKILL');
  t.notOk(left, 'the local agent has exited after its control plane was killed');
});
