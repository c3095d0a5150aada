/**
 * SSH sessions from the test process to lab hosts. A Node process cannot enter a network namespace,
 * so the TCP connection is made by a tiny Node bridge started with `ip netns exec` in the controller's
 * namespace, and the SSH session (ssh2, in the test process) runs over the bridge's stdin/stdout.
 * Everything above TCP is the real thing: the handshake, host key, auth, channels and SFTP go to the
 * host's real sshd; when that sshd or connection dies, the bridge exits and the session sees it drop.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import type { Lab, LabHost } from './lab.js';
import type { SshOptions } from '../../src/provision/ssh.js';

const BRIDGE = `const s = require('net').connect(Number(process.argv[2]), process.argv[1]);
s.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
process.stdin.pipe(s); s.pipe(process.stdout);
s.on('close', () => process.exit(0)); process.stdin.on('end', () => s.end());`;

/** The environment of a bridge: without the test runner's module hooks. */
function cleanEnv(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TAP|_TAPJS_)/.test(k)) continue;
    if (k === 'NODE_OPTIONS') continue;
    out[k] = v;
  }
  return out;
}

/** Opens a byte stream to `address:port` from inside the lab's controller namespace. */
export function labSock(lab: Lab, address: string, port = 22): () => Promise<Duplex> {
  return async () => {
    const child = spawn('ip', ['netns', 'exec', lab.controller.ns, process.execPath, '-e', BRIDGE, address, String(port)], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: cleanEnv(),
    });
    const d = Duplex.from({ readable: child.stdout, writable: child.stdin });
    d.on('close', () => child.kill('SIGKILL'));
    child.on('exit', () => d.destroy());
    return d;
  };
}

/** SSH options for `user` on a lab host with the lab's client key (pins and the rest from `extra`). */
export function labLogin(lab: Lab, host: LabHost, extra: Pick<SshOptions, 'pins'> & Partial<SshOptions>): SshOptions {
  return {
    host: host.address,
    user: 'pi',
    privateKey: readFileSync(lab.clientKey),
    agent: false,
    sock: labSock(lab, host.address),
    connectTimeoutMs: 30_000,
    ...extra,
  };
}

/** Gives a lab host a new SSH host key (as a reinstall would) and makes its sshd load it. */
export async function rekeyHost(lab: Lab, host: LabHost): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const dir = `${lab.dir}/hosts/${host.id}`;
  execFileSync('rm', ['-f', `${dir}/ssh_host_ed25519_key`, `${dir}/ssh_host_ed25519_key.pub`]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/ssh_host_ed25519_key`]);
  process.kill(Number(readFileSync(`${dir}/sshd.pid`, 'utf8').trim()), 'SIGHUP');
  // sshd re-executes itself on SIGHUP; give it a moment to listen again.
  await new Promise((r) => setTimeout(r, 1000));
}

/** Kills a lab host's sshd and every session process under it (SIGKILL, by pid), as a crash would. */
export async function killSshd(lab: Lab, host: LabHost): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const root = Number(readFileSync(`${lab.dir}/hosts/${host.id}/sshd.pid`, 'utf8').trim());
  const all = [root];
  for (let i = 0; i < all.length; i++) {
    let kids = '';
    try {
      kids = execFileSync('pgrep', ['-P', String(all[i])], { encoding: 'utf8' });
    } catch {
      // pgrep exits 1 when a process has no children.
    }
    all.push(...kids.split('\n').filter(Boolean).map(Number));
  }
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/** Starts a lab host's sshd again (as lab-up.sh does); lab-down.sh stops it with the rest. */
export function startSshd(lab: Lab, host: LabHost): void {
  const d = `${lab.dir}/hosts/${host.id}`;
  const holder = readFileSync(`${d}/holder.pid`, 'utf8').trim();
  const child = spawn(
    'nsenter',
    ['-t', holder, '-n', '-u', '-m', '/usr/sbin/sshd', '-D', '-f', `${d}/sshd_config`, '-E', `${d}/sshd.log`],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  child.unref();
}
