/**
 * The SSH executor against a lab host's real sshd: key, password and agent logins, host key pinning
 * and refusal, sudo with and without a password, timeouts that kill the remote process, bounded
 * output, SFTP upload with a far-side checksum, and shell metacharacters that stay inert. Needs root
 * and the lab.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { labSkipReason, labUp } from '../support/lab.js';
import { labLogin, rekeyHost } from '../support/lab-ssh.js';
import { tempDir } from '../support/tmp.js';
import { waitFor, scaled } from '../support/wait.js';
import { MemoryPins, SshSession } from '../../src/provision/ssh.js';
import { cmd } from '../../src/provision/quote.js';
import { hostile } from '../support/hostile.js';

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('SSH executor in the lab', async (t) => {
    const lab = labUp(t, 1);
    const h = lab.hosts[0]!;
    const pins = new MemoryPins();
    const sessions: SshSession[] = [];
    t.teardown(() => sessions.forEach((s) => s.close()));
    const connect = async (extra: Partial<Parameters<typeof labLogin>[2]> = {}) => {
      const s = await SshSession.connect(labLogin(lab, h, { pins, ...extra }));
      sessions.push(s);
      return s;
    };
    // Under /tmp, which the lab hosts share with this process: a marker made there is seen here.
    const work = tempDir(t, 'pic-prov-');
    execFileSync('chmod', ['1777', work]);
    const marker = join(work, 'marker');

    t.test('logs in with a key, pins the host key on first contact, keeps exit code, stdout and stderr', async (t) => {
      const s = await connect();
      t.equal(s.fingerprint, h.hostKeyFingerprint);
      t.equal(pins.get(h.address, 22), h.hostKeyFingerprint, 'pinned');
      const r = await s.exec("sh -c 'echo out; echo err >&2; exit 3'");
      t.same([r.code, r.stdout, r.stderr, r.truncated], [3, 'out\n', 'err\n', false]);
      t.equal((await s.exec('id -un')).stdout.trim(), 'pi');
      await t.rejects(s.run('false'), { code: 'COMMAND_FAILED' });
    });

    t.test('output beyond the bound is dropped and flagged', async (t) => {
      const s = await SshSession.connect(labLogin(lab, h, { pins, maxOutputBytes: 1000 }));
      sessions.push(s);
      const r = await s.exec('head -c 5000 /dev/zero; head -c 3000 /dev/zero >&2');
      t.same([r.code, r.stdout.length, r.stderr.length, r.truncated], [0, 1000, 1000, true]);
    });

    t.test('shell metacharacters in paths, hostnames, versions and users stay inert over SSH', async (t) => {
      const s = await connect();
      for (const v of hostile(marker)) {
        t.equal((await s.exec(cmd('printf', '%s', v))).stdout, v, `echoed: ${JSON.stringify(v)}`);
        t.equal((await s.exec(cmd('printf', '%s', v), { sudo: true })).stdout, v, `echoed under sudo: ${JSON.stringify(v)}`);
        // As a path: a directory of that name is made and listed back.
        if (v !== '' && !v.includes('/')) {
          const dir = join(work, 'd' + v);
          await s.run(cmd('mkdir', '-p', '--', dir));
          t.ok(existsSync(dir), `directory made: ${JSON.stringify(v)}`);
          await s.upload(Buffer.from(v), join(dir, v + '.f'));
          t.equal((await s.exec(cmd('cat', '--', join(dir, v + '.f')))).stdout, v, `uploaded to: ${JSON.stringify(v)}`);
        }
      }
      // As a user name: it goes through the SSH protocol, never a shell, and is simply refused.
      await t.rejects(connect({ user: `pi; touch ${marker}`, connectTimeoutMs: 15_000 }), { code: 'SSH_AUTH_FAILED' });
      t.notOk(existsSync(marker), 'the marker was never created');
    });

    t.test('sudo without a password (pi)', async (t) => {
      const s = await connect();
      t.equal(await s.sudoMode(), 'nopasswd');
      t.equal((await s.exec('id -u', { sudo: true })).stdout.trim(), '0');
    });

    t.test('sudo with a password (pwsudo), fed on stdin and never in a command or log', async (t) => {
      const logged: string[] = [];
      const { pino } = await import('pino');
      const log = pino({ level: 'trace' }, { write: (s: string) => logged.push(s) });
      const s = await connect({ user: 'pwsudo', sudoPassword: lab.sudoPassword, log });
      t.equal(await s.sudoMode(), 'password');
      const r = await s.exec('id -u; cat', { sudo: true, stdin: 'after the password\n' });
      t.equal(r.stdout, '0\nafter the password\n', 'root, and stdin reaches the command without the password line');
      const ps = await s.exec('id -un', { sudo: true });
      t.equal(ps.stdout.trim(), 'root');
      t.ok(logged.length > 0, 'commands were logged');
      t.notOk(logged.join('').includes(lab.sudoPassword), 'the password is in no log line');
      t.notOk(r.command.includes(lab.sudoPassword), 'nor in the command');
      t.notOk(existsSync('/tmp/pi-controller-lab-pw-marker'), "the password's metacharacters stayed inert");

      const wrong = await connect({ user: 'pwsudo', sudoPassword: 'not it' });
      await t.rejects(wrong.exec('true', { sudo: true }), { code: 'SUDO_AUTH_FAILED' });
      const none = await connect({ user: 'nosudo' });
      await t.rejects(none.exec('true', { sudo: true }), { code: 'SUDO_PASSWORD_REQUIRED' });
    });

    t.test('password login', async (t) => {
      const { privateKey: _k, ...noKey } = labLogin(lab, h, { pins });
      const s = await SshSession.connect({ ...noKey, user: 'pwsudo', password: lab.sudoPassword });
      sessions.push(s);
      t.equal((await s.exec('id -un')).stdout.trim(), 'pwsudo');
      await t.rejects(SshSession.connect({ ...noKey, user: 'pwsudo', password: 'wrong' }), { code: 'SSH_AUTH_FAILED' });
    });

    t.test('ssh-agent login', async (t) => {
      const dir = tempDir(t);
      const sock = join(dir, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
      t.teardown(() => agent.kill());
      t.ok(await waitFor(() => existsSync(sock), scaled(10_000)), 'agent listening');
      execFileSync('ssh-add', [lab.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const { privateKey: _k, ...noKey } = labLogin(lab, h, { pins });
      const s = await SshSession.connect({ ...noKey, agent: sock });
      sessions.push(s);
      t.equal((await s.exec('id -un')).stdout.trim(), 'pi');
    });

    t.test('a timeout kills the remote command (and its sudo child) and says COMMAND_TIMEOUT', async (t) => {
      const s = await connect();
      await t.rejects(s.exec('sleep 317.25; echo done', { timeoutMs: 1500 }), { code: 'COMMAND_TIMEOUT' });
      await t.rejects(s.exec('sleep 318.25; echo done', { timeoutMs: 1500, sudo: true }), { code: 'COMMAND_TIMEOUT' });
      for (const pat of ['[s]leep 317.25', '[s]leep 318.25']) {
        let left = true;
        const deadline = Date.now() + scaled(10_000);
        while (left && Date.now() < deadline) {
          left = (await s.exec(cmd('pgrep', '-f', pat))).code === 0;
          if (left) await new Promise((r) => setTimeout(r, 200));
        }
        t.notOk(left, `no ${pat} left running`);
      }
      t.equal((await s.exec('echo still usable')).stdout, 'still usable\n', 'the session survives a timeout');
    });

    t.test('upload: SFTP, SHA-256 checked on the far side, moved into place with sudo', async (t) => {
      const s = await connect();
      const data = randomBytes(300_000);
      const dest = join(h.root, 'usr', 'local', 'bin', 'uploaded');
      mkdirSync(join(h.root, 'usr', 'local', 'bin'), { recursive: true });
      const sha = await s.upload(data, dest, { sudo: true, mode: 0o755 });
      t.equal(sha, createHash('sha256').update(data).digest('hex'));
      const st = statSync(dest);
      t.same([st.uid, st.mode & 0o777, st.size], [0, 0o755, data.length], 'root-owned, mode and size');
      t.equal((await s.exec('ls /tmp/.pi-controller-upload-* 2>/dev/null | wc -l')).stdout.trim(), '0', 'no temporary file left');
    });

    t.test('a changed host key is refused with HOST_KEY_MISMATCH before logging in', async (t) => {
      await rekeyHost(lab, h);
      const err = await connect().then(
        () => undefined,
        (e: unknown) => e as { code: string; details: { pinned: string; presented: string } },
      );
      t.equal(err?.code, 'HOST_KEY_MISMATCH');
      t.equal(err?.details.pinned, h.hostKeyFingerprint);
      t.not(err?.details.presented, h.hostKeyFingerprint);
      t.equal(pins.get(h.address, 22), h.hostKeyFingerprint, 'the pin is kept');
    });
  });
}
