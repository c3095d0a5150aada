/** The simulated agent `npm start` runs beside the control plane (node `local-sim`), enrolled over the same mTLS path. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The node name of the local simulated agent that `npm start` runs. */
export const LOCAL_AGENT_NODE = 'local-sim';

/**
 * Starts `pi-controller agent --sim` as a child process with its state in `stateDir`; `joinToken`
 * makes a join token when the state directory holds no certificate yet.
 */
export function spawnLocalAgent(agentUrl: string, stateDir: string, joinToken: () => string): ChildProcess {
  const args = [fileURLToPath(new URL('../cli/main.js', import.meta.url)), 'agent', '--server', agentUrl, '--state-dir', stateDir, '--sim'];
  if (!existsSync(join(stateDir, 'agent-cert.pem'))) args.push('--join-token', joinToken());
  // stdin is a pipe the agent watches: when this process ends in any way, the agent stops too.
  return spawn(process.execPath, args, {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, PI_CONTROLLER_STOP_WITH_PARENT: '1' },
  });
}

/** Stops the local agent: SIGTERM, then SIGKILL after 3 s. */
export async function stopLocalAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
    setTimeout(() => {
      child.kill('SIGKILL');
      done();
    }, 3000).unref();
  });
}
