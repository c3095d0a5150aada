/**
 * The job runner against a lab host: steps skipped when done, logs stored per step and streamed,
 * resume after the process running the job is killed, retry through an sshd crash and restart,
 * a changed host key stopping the job, cancel, and a concurrency limit. Real SQLite file, real sshd.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner, type JobRunnerDeps } from '../../src/provision/jobs.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { killSshd, labSock, rekeyHost, startSshd } from '../support/lab-ssh.js';
import { filesKind, FILES_KIND } from '../support/provision-kinds.js';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { scaled, waitFor } from '../support/wait.js';

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('provisioning jobs in the lab', async (t) => {
    const lab = labUp(t, 1);
    const h = lab.hosts[0]!;
    const base = tempDir(t, 'pic-jobs-');
    chmodSync(base, 0o1777);
    const db = join(base, 'jobs.sqlite');
    const secretDir = join(base, 'secrets');
    const store = openStore({ file: db });
    t.teardown(() => store.close());
    const bus = new EventBus();
    const events: { type: string; data: unknown }[] = [];
    bus.onAny('test', (e) => events.push({ type: e.type, data: e.data }));
    const runners: JobRunner[] = [];
    t.teardown(() => runners.forEach((r) => r.stop()));
    const runner = (extra: Partial<JobRunnerDeps> = {}) => {
      const r = new JobRunner({
        store,
        bus,
        log: silentLogger(),
        kinds: [filesKind()],
        secrets: openSecretBox(secretDir),
        transport: (host, port) => labSock(lab, host, port),
        retry: { attempts: 20, baseMs: 300, maxMs: 2_000 },
        ...extra,
      });
      runners.push(r);
      return r;
    };
    let n = 0;
    const workDir = () => {
      const d = join(base, `w${++n}`);
      return d;
    };
    const login = { host: h.address, user: 'pi', identityFile: lab.clientKey };
    const runs = (dir: string) =>
      existsSync(join(dir, 'runs')) ? readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter(Boolean) : [];
    const mk = async (dir: string) => {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      chmodSync(dir, 0o777);
    };

    t.test('runs every step, stores and streams their logs, and skips them all on a second run', async (t) => {
      const dir = workDir();
      await mk(dir);
      const r = runner();
      const job = r.submit(FILES_KIND, { login, params: { dir }, secrets: { sudoPassword: 'sealed-at-rest-Σ' } });
      const done = await r.wait(job.id);
      t.equal(done.state, 'succeeded', done.error ?? '');
      t.same(
        r.steps(job.id).map((s) => [s.name, s.state, s.attempts]),
        [
          ['first', 'succeeded', 1],
          ['slow', 'succeeded', 1],
          ['last', 'succeeded', 1],
        ],
      );
      const logs = store.jobs.logs(job.id).map((l) => l.line);
      t.ok(logs.includes('made slow'), 'command output stored');
      t.ok(
        events.some((e) => e.type === 'job.log' && (e.data as { line: { line: string } }).line.line === 'made slow'),
        'and streamed on the bus',
      );
      const raw = store.db.prepare<[string], { secrets: Buffer }>('SELECT secrets FROM jobs WHERE id = ?').get(job.id)!.secrets;
      t.ok(raw.length > 0 && !raw.toString('latin1').includes('sealed-at-rest'), 'secrets stored sealed');
      const again = r.submit(FILES_KIND, { login, params: { dir } });
      t.equal((await r.wait(again.id)).state, 'succeeded');
      t.same(
        r.steps(again.id).map((s) => s.state),
        ['skipped', 'skipped', 'skipped'],
      );
      t.same(runs(dir), ['first', 'slow', 'last'], 'no step ran twice');
    });

    t.test('a job whose process is killed mid-way resumes from the store to success', async (t) => {
      const dir = workDir();
      await mk(dir);
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TAP|_TAPJS_)/.test(k) && k !== 'NODE_OPTIONS'));
      const child = spawn(
        process.execPath,
        [
          join(repoRoot(), 'dist', 'test', 'support', 'provision-child.js'),
          JSON.stringify({ db, secretDir, lab, host: h.address, params: { dir, slowSeconds: 15 } }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], env },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      t.ok(await waitFor(() => out.includes('jobId'), scaled(30_000)), 'child stored its job');
      const jobId = (JSON.parse(out.split('\n')[0]!) as { jobId: string }).jobId;
      t.ok(await waitFor(() => store.provision.steps(jobId)[1]?.state === 'running', scaled(60_000), 50), 'the slow step is running');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      t.equal(store.jobs.require(jobId).state, 'running', 'left running in the store');
      const r = runner();
      t.same(r.resume(), [jobId], 'taken up again');
      const done = await r.wait(jobId);
      t.equal(done.state, 'succeeded', done.error ?? '');
      const steps = r.steps(jobId);
      t.same(
        steps.map((s) => [s.name, s.state]),
        [
          ['first', 'succeeded'],
          ['slow', 'succeeded'],
          ['last', 'succeeded'],
        ],
      );
      t.equal(steps[0]!.attempts, 1, 'the first step was not run again');
      t.equal(runs(dir).filter((x) => x === 'first').length, 1);
    });

    t.test('sshd killed in the middle of a step and restarted: the job retries to success', async (t) => {
      const dir = workDir();
      await mk(dir);
      const r = runner();
      const job = r.submit(FILES_KIND, { login, params: { dir, slowSeconds: 20 } });
      t.ok(await waitFor(() => store.provision.steps(job.id)[1]?.state === 'running', scaled(60_000), 50), 'slow step running');
      await killSshd(lab, h);
      await new Promise((res) => setTimeout(res, 2_000));
      startSshd(lab, h);
      const done = await r.wait(job.id);
      t.equal(done.state, 'succeeded', done.error ?? '');
      const slow = r.steps(job.id)[1]!;
      t.ok(slow.attempts >= 2, `the slow step ran again (${slow.attempts} attempts)`);
      t.ok(
        store.jobs.logs(job.id).some((l) => /attempt 1 failed: SSH_DISCONNECTED/.test(l.line)),
        'the drop is in the log',
      );
    });

    t.test('cancel interrupts a running step', async (t) => {
      const dir = workDir();
      await mk(dir);
      const r = runner();
      const job = r.submit(FILES_KIND, { login, params: { dir, slowSeconds: 120 } });
      t.ok(await waitFor(() => store.provision.steps(job.id)[1]?.state === 'running', scaled(60_000), 50));
      r.cancel(job.id);
      const done = await r.wait(job.id);
      t.equal(done.state, 'cancelled');
      t.same(
        r.steps(job.id).map((s) => s.state),
        ['succeeded', 'cancelled', 'pending'],
      );
    });

    t.test('jobs run in parallel up to the concurrency limit', async (t) => {
      const r = runner({ concurrency: 2 });
      let running = 0;
      let peak = 0;
      const off = bus.on('test-peak', 'job.updated', (e) => {
        void e;
        running = store.jobs.list({ state: 'running' }).items.length;
        peak = Math.max(peak, running);
      });
      const dirs = [workDir(), workDir(), workDir(), workDir()];
      for (const d of dirs) await mk(d);
      const jobs = dirs.map((dir) => r.submit(FILES_KIND, { login, params: { dir, slowSeconds: 2 } }));
      const done = await Promise.all(jobs.map((j) => r.wait(j.id)));
      off();
      t.same(
        done.map((j) => j.state),
        ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
      );
      t.equal(peak, 2, 'two at a time, never more');
    });

    t.test('a changed host key stops the job with HOST_KEY_MISMATCH; a key pinned by discovery is used too', async (t) => {
      t.equal(store.provision.hostKey(h.address, 22), h.hostKeyFingerprint, 'pinned by the first job');
      await rekeyHost(lab, h);
      const dir = workDir();
      await mk(dir);
      const r = runner();
      const job = r.submit(FILES_KIND, { login, params: { dir } });
      const done = await r.wait(job.id);
      t.equal(done.state, 'failed');
      t.match(done.error, /^HOST_KEY_MISMATCH: /);
      t.equal(r.steps(job.id)[0]!.errorCode, 'HOST_KEY_MISMATCH');
      t.same(runs(dir), [], 'nothing ran');

      // A fresh database that knows the host only from discovery, with the old key pinned there.
      const other = openStore({ file: join(base, 'other.sqlite') });
      t.teardown(() => other.close());
      other.db
        .prepare(
          "INSERT INTO discovery (id, address, source, first_seen_at, last_seen_at, host_key_fingerprint) VALUES ('d1', ?, 'scan', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?)",
        )
        .run(h.address, h.hostKeyFingerprint);
      const r2 = new JobRunner({
        store: other,
        bus,
        log: silentLogger(),
        kinds: [filesKind()],
        secrets: openSecretBox(secretDir),
        transport: (host, port) => labSock(lab, host, port),
      });
      runners.push(r2);
      const j2 = await r2.wait(r2.submit(FILES_KIND, { login, params: { dir } }).id);
      t.match(j2.error, /^HOST_KEY_MISMATCH: /, "discovery's pin is honoured");
    });
  });
}
