/**
 * Running a provisioned cluster: a host's K3s service journal over SSH, and etcd snapshots in
 * backups. One lab host is provisioned as a 1-server cluster with the stand-in K3s
 * (test/lab/k3s/README.md) by a running control plane (real SQLite file), then:
 *
 * - the journal through REST and `pi-controller logs <host> --unit k3s [-n N] [-f]`. What is real:
 *   the SSH session (the cluster's login and pinned host key), sudo, the quoting, and the lines,
 *   which are what the stand-in's service (its real etcd, kube-apiserver, containerd, kubelet and
 *   itself) printed. What is a shim: `journalctl` (the lab hosts run no systemd or journald): the
 *   stand-in's installer puts a script of that name in its bin dir that serves the service's output
 *   file in journalctl's short-iso form (test/lab/k3s/install.sh). `-f` must deliver a line logged
 *   after it started: etcd's own "sending database snapshot" line, caused by a snapshot taken while
 *   following; stopping the follow must leave no `tail -F` on the host.
 * - a backup with an etcd snapshot (`backup --etcd-snapshot lab`): `k3s etcd-snapshot save` on the
 *   server (the stand-in runs etcdctl's real snapshot against its real etcd), downloaded over SFTP
 *   with its SHA-256 checked, read by `etcdctl snapshot status` (revision and keys > 0), listed with
 *   the backup; an unknown cluster leaves no backup behind.
 * - the journal's bounds through the ops API: a small `maxBytes` cuts at a line end and says so; a
 *   follow with `followSeconds: 2` ends by itself and leaves nothing running on the host; journalctl
 *   failing on the host (the shim made unexecutable) is 502 JOURNAL_FAILED through REST.
 * - restoring that snapshot (`cluster restore lab --etcd-snapshot <backup>`): a ConfigMap made after
 *   the snapshot is gone and one deleted after it is back, the Node Ready again. What is real: SSH,
 *   SFTP with the checksum, etcd's own `snapshot restore` (the stand-in's `k3s server --cluster-reset
 *   --cluster-reset-restore-path`), the API server on the restored data, the kubelet re-registering.
 *   What is a shim: `systemctl` (no systemd in the lab: the stand-in's installer writes one for its
 *   unit that starts it detached and stops it with k3s-killall.sh). Refused with nothing changed: an
 *   unknown snapshot (404), a snapshot of another cluster (409), a busy cluster (409).
 * - refusals: unit names with shell syntax (400 INVALID_UNIT, nothing run), a host that is not a
 *   member (404 NOT_A_MEMBER), an unknown cluster (404), a member host that does not answer (502
 *   SSH_CONNECT_FAILED).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { BackupInfo } from '../../src/api/system.js';
import type { Job } from '../../src/api/jobs.js';
import type { Journal } from '../../src/provision/k3s-ops.js';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { clusterCreateArgv, k3sLabSkipReason, killStandInAtTeardown, standInBundle } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(250);
  }
}
/** `p`, or an error once `ms` have passed (a bound on the test, not a timed assertion). */
async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
const readAll = async (j: Journal) => {
  let text = '';
  for await (const c of j.chunks) text += c;
  return text;
};

const skip = labSkipReason() ?? k3sLabSkipReason();
if (skip) {
  console.log(`# skipping the K3s operations lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('journal and etcd snapshots of a provisioned 1-server cluster', async (t) => {
    const lab = labUp(t, 1);
    const [s1] = lab.hosts as [(typeof lab.hosts)[0]];
    killStandInAtTeardown(t, lab);
    const dir = tempDir(t, 'pic-k3s-ops-');
    chmodSync(dir, 0o755);
    const dataDir = join(dir, 'data');
    const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': dataDir, '/http/port': 0 } });
    // A member address on the lab's subnet that no host has: reaching it must fail.
    const ghost = s1.address.replace(/\.\d+$/, '.250');
    const cp = await startControlPlane({
      config,
      version: 'test',
      logging: quietLogging(),
      out: () => undefined,
      provision: {
        transport: (host, port) => labSock(lab, host, port),
        retry: { attempts: 3, baseMs: 500, maxMs: 2_000 },
        roots: { [s1.address]: s1.root, [ghost]: '/' },
      },
    });
    t.teardown(() => cp.close());
    const cli = async (argv: string[], onStop?: (stop: () => void) => void, out?: (s: string) => void) => {
      let text = '';
      let err = '';
      const io: Io = {
        out: (s) => {
          text += s;
          out?.(s);
        },
        err: (s) => (err += s),
        env: { HOME: dir, PI_CONTROLLER_URL: cp.url, PI_CONTROLLER_TOKEN: cp.adminToken },
        cwd: dir,
        onStop: (fn) => onStop?.(fn),
      };
      const code = await run(argv, io);
      return { code, out: text, err };
    };
    const get = async (path: string) => {
      const res = await fetch(cp.url + path, { headers: { authorization: `Bearer ${cp.adminToken}` } });
      const text = await res.text();
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch {
        code = undefined;
      }
      return { status: res.status, text, code, type: res.headers.get('content-type') ?? '' };
    };
    const serviceLog = () => readFileSync(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`, 'utf8');
    const journalPath = (host: string, q: string) => `/api/v1/clusters/lab/hosts/${encodeURIComponent(host)}/journal?${q}`;
    /** The journal shim's `tail -F` processes on the host (a follow still running there). */
    const tails = () =>
      execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.startsWith('tail ') && l.includes(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`));
    /** `k3s kubectl` on the server, as root in its namespace (the stand-in's kubectl on its own kubeconfig). */
    const kubectl = (...args: string[]) =>
      execFileSync('ip', ['netns', 'exec', s1.ns, `${s1.root}usr/local/bin/k3s`, 'kubectl', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const configMaps = () =>
      kubectl('get', 'configmaps', '-n', 'default', '-o', 'name')
        .split('\n')
        .filter((l) => l.startsWith('configmap/pi-'))
        .sort();
    const post = async (path: string, body: unknown) => {
      const res = await fetch(cp.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as { error?: { code?: string } };
      return { status: res.status, code: json.error?.code, body: json };
    };
    /** The backup with an etcd snapshot, for the restore. */
    let withEtcd: BackupInfo | undefined;

    const bundle = standInBundle(dir);
    const created = await cli([...clusterCreateArgv(lab, bundle, { servers: [s1.address] })]);
    t.equal(created.code, EXIT.OK, created.err + created.out.slice(-3000));
    t.equal(cp.store.clusters.require('lab').state, 'ready');

    t.test('the hosts and the last lines of the k3s journal, as the stand-in logged them', async (t) => {
      const hosts = await get('/api/v1/clusters/lab/hosts');
      t.equal(hosts.status, 200);
      t.same((JSON.parse(hosts.text) as { items: unknown[] }).items, [{ host: s1.address, role: 'server', user: 'pi', port: 22 }]);

      const r = await get(journalPath(s1.address, 'unit=k3s&lines=5'));
      t.equal(r.status, 200, r.text.slice(0, 500));
      t.match(r.type, /^text\/plain/);
      const lines = r.text.split('\n').filter((l) => l !== '');
      t.equal(lines.length, 5, r.text);
      const log = serviceLog();
      for (const l of lines) {
        const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}) (\S+) k3s\[(\d+)\]: (.*)$/.exec(l);
        t.ok(m, `short-iso form: ${l}`);
        if (!m) continue;
        t.equal(m[2], s1.hostname);
        t.ok(log.includes(`${m[1]} ${m[4]}`), `a line the service printed: ${l.slice(0, 200)}`);
      }
      // All lines kept so far hold the stand-in's own start line.
      const all = await get(journalPath(s1.address, 'unit=k3s&lines=10000'));
      t.equal(all.status, 200);
      t.match(all.text, new RegExp(`k3s\\[\\d+\\]: k3s server ${s1.hostname} \\(${s1.address.replace(/\./g, '\\.')}\\): running`));
      // A unit with no journal says so, as journalctl does.
      const none = await get(journalPath(s1.address, 'unit=k3s-agent&lines=5'));
      t.equal(none.status, 200);
      t.equal(none.text.trim(), '-- No entries --');

      const viaCli = await cli(['logs', s1.address, '--unit', 'k3s', '-n', '3']);
      t.equal(viaCli.code, EXIT.OK, viaCli.err);
      t.equal(viaCli.out.split('\n').filter((l) => l !== '').length, 3, viaCli.out);
      t.match(viaCli.out, new RegExp(`^\\S+ ${s1.hostname} k3s\\[\\d+\\]: `));
    });

    t.test('-f delivers a line logged after it started, and stopping it leaves nothing running', async (t) => {
      let stop: (() => void) | undefined;
      let seen = '';
      const following = cli(
        ['logs', s1.address, '--unit', 'k3s', '-n', '0', '-f'],
        (fn) => (stop = fn),
        (s) => (seen += s),
      );
      await until('the follow runs on the host', 60_000, () => tails().length > 0);
      const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      // etcd logs each snapshot it sends; the stand-in's k3s puts etcd's output in its service's journal, as K3s does.
      execFileSync(
        'ip',
        ['netns', 'exec', s1.ns, 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', 'snapshot', 'save', join(dir, 'marker.db')],
        { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' },
      );
      await until('the snapshot line reaches the follower', 60_000, () => /sending database snapshot to client/.test(seen));
      const line = seen.split('\n').find((l) => l.includes('sending database snapshot to client'))!;
      t.ok(new Date(line.split(' ')[0]!.replace(/([+-]\d\d)(\d\d)$/, '$1:$2')) >= startedAt, `logged after the follow started: ${line}`);
      t.ok(stop, 'the CLI can be stopped');
      stop!();
      const done = await following;
      t.equal(done.code, EXIT.OK, done.err);
      await until('no tail -F left on the host', 30_000, () => tails().length === 0);
      t.pass('the far side ended with the follow');
    });

    t.test('journal bounds: a byte cut at a line end, a follow that ends by itself, JOURNAL_FAILED when journalctl fails', async (t) => {
      const maxBytes = 2000;
      t.ok(Buffer.byteLength(serviceLog()) > 4 * maxBytes, 'the service has logged more than the bound');
      const text = await readAll(await cp.k3sOps.journal('lab', s1.address, { unit: 'k3s', lines: 10_000, follow: false, maxBytes }));
      const lines = text.split('\n');
      t.equal(lines.pop(), '', 'it ends at a line end');
      const cut = lines.pop();
      t.equal(cut, `-- cut: the journal sent here is limited to ${maxBytes} bytes --`, 'the last line says it was cut');
      const sent = lines.map((l) => l + '\n').join('');
      t.ok(Buffer.byteLength(sent) <= maxBytes, `${Buffer.byteLength(sent)} bytes before the cut line, at most ${maxBytes}`);
      t.ok(lines.length > 0, `${lines.length} lines before it`);
      const log = serviceLog();
      for (const l of lines) {
        const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}) (\S+) k3s\[(\d+)\]: (.*)$/.exec(l);
        if (!m || !log.includes(`${m[1]} ${m[4]}`)) t.fail(`not a whole line the service printed: ${l.slice(0, 200)}`);
      }
      t.pass('every line before the cut is a whole line the service printed');

      // A follow bounded to 2 s ends by itself (the far side's timeout), and nothing of it is left on the host.
      const follow = await cp.k3sOps.journal('lab', s1.address, { unit: 'k3s', lines: 1, follow: true, followSeconds: 2 });
      const followed = await within('the bounded follow ends by itself', 120_000, readAll(follow));
      t.ok(followed.split('\n').filter((l) => l !== '').length >= 1, 'it sent the last line');
      await until('no tail -F left on the host', 30_000, () => tails().length === 0);
      t.pass('nothing of the follow runs on the host');

      // journalctl itself failing on the host (the shim made unexecutable): 502 JOURNAL_FAILED, and fine again after.
      const shim = `${s1.root}usr/local/bin/journalctl`;
      const mode = statSync(shim).mode & 0o7777;
      chmodSync(shim, 0o644);
      let failed: Awaited<ReturnType<typeof get>>;
      try {
        failed = await get(journalPath(s1.address, 'unit=k3s&lines=5'));
      } finally {
        chmodSync(shim, mode);
      }
      t.equal(failed.status, 502, failed.text);
      t.equal(failed.code, 'JOURNAL_FAILED');
      t.equal((await get(journalPath(s1.address, 'unit=k3s&lines=5'))).status, 200, 'served again once journalctl runs');
    });

    t.test('a backup with an etcd snapshot: a real snapshot, checked, listed beside the SQLite backup', async (t) => {
      // State at snapshot time: a ConfigMap the restore test deletes after the snapshot and expects back.
      kubectl('create', 'configmap', 'pi-kept-by-snapshot', '-n', 'default', '--from-literal=at=snapshot');
      const r = await cli(['backup', '--label', 'with-etcd', '--etcd-snapshot', 'lab', '--json']);
      t.equal(r.code, EXIT.OK, r.err);
      const b = JSON.parse(r.out) as BackupInfo;
      withEtcd = b;
      t.match(b.file, /^pi-controller-.*-with-etcd\.sqlite$/);
      t.equal(b.etcdSnapshots?.length, 1);
      const e = b.etcdSnapshots![0]!;
      t.equal(e.cluster, 'lab');
      t.equal(e.server, s1.address);
      const remoteDir = `${s1.root}var/lib/rancher/k3s/server/db/snapshots/`;
      t.ok(e.remotePath.startsWith(remoteDir), e.remotePath);
      t.match(e.remotePath.slice(remoteDir.length), new RegExp(`^pi-controller-${s1.hostname}-\\d+$`), 'named as K3s names it');
      const local = join(dataDir, 'backups', e.file);
      const bytes = readFileSync(local);
      t.equal(bytes.length, e.bytes);
      t.equal(createHash('sha256').update(bytes).digest('hex'), e.sha256);
      t.equal(createHash('sha256').update(readFileSync(e.remotePath)).digest('hex'), e.sha256, 'the same bytes as on the server');
      // etcd's own tool reads it as a snapshot of a store with data in it.
      const status = JSON.parse(
        execFileSync('etcdctl', ['snapshot', 'status', local, '-w', 'json'], {
          env: { ...process.env, ETCDCTL_API: '3' },
          encoding: 'utf8',
        }),
      ) as { revision: number; totalKey: number };
      t.ok(status.revision > 0 && status.totalKey > 0, `etcdctl snapshot status: ${JSON.stringify(status)}`);
      // The stand-in's own listing has it, as `k3s etcd-snapshot ls` does.
      const ls = execFileSync('ip', ['netns', 'exec', s1.ns, `${s1.root}usr/local/bin/k3s`, 'etcd-snapshot', 'ls'], { encoding: 'utf8' });
      t.match(ls, e.remotePath.slice(remoteDir.length));

      const list = await get('/api/v1/backups');
      t.equal(list.status, 200);
      const listed = (JSON.parse(list.text) as { items: BackupInfo[] }).items.find((x) => x.file === b.file);
      t.same(listed?.etcdSnapshots, b.etcdSnapshots, 'listed with the backup');

      // A cluster that does not exist: 404, and no backup is left behind.
      const before = readdirSync(join(dataDir, 'backups')).sort();
      const bad = await fetch(cp.url + '/api/v1/backups', {
        method: 'POST',
        headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ etcdSnapshot: 'nope' }),
      });
      t.equal(bad.status, 404);
      t.same(readdirSync(join(dataDir, 'backups')).sort(), before, 'nothing written');
    });

    t.test('restore: the cluster as the snapshot had it, through the CLI; refusals change nothing', async (t) => {
      const b = withEtcd;
      if (!b?.etcdSnapshots?.[0]) return t.fail('no backup with an etcd snapshot from the test before');
      const labId = cp.store.clusters.require('lab').id;
      const restoreJobs = () => cp.store.jobs.list({ kind: 'cluster.restore', limit: 1000 }).items;
      const pidFile = `${s1.root}var/lib/rancher/k3s/lab/service.pid`;
      const servicePid = readFileSync(pidFile, 'utf8');
      const atSnapshot = configMaps();
      t.same(atSnapshot, ['configmap/pi-kept-by-snapshot']);

      // Refused, with no job and nothing touched on the host.
      const unknown = await cli(['cluster', 'restore', 'lab', '--etcd-snapshot', 'pi-controller-nope']);
      t.equal(unknown.code, EXIT.NOT_FOUND, unknown.err);
      t.match(unknown.err, /SNAPSHOT_NOT_FOUND/);
      const path = await post('/api/v1/clusters/lab/restore', { etcdSnapshot: `../backups/${b.file}` });
      t.equal(path.status, 404, 'a path is no snapshot name');
      t.equal(path.code, 'SNAPSHOT_NOT_FOUND');
      cp.store.clusters.create({ name: 'other' });
      const other = await cli(['cluster', 'restore', 'other', '--etcd-snapshot', b.etcdSnapshots[0].file]);
      t.equal(other.code, EXIT.CONFLICT, other.err);
      t.match(other.err, /SNAPSHOT_OF_ANOTHER_CLUSTER/);
      const busy = cp.store.jobs.create({ kind: 'cluster.upgrade', params: { clusterId: labId } }, 'test');
      const whileBusy = await post('/api/v1/clusters/lab/restore', { etcdSnapshot: b.file });
      cp.store.jobs.setState(busy.id, 'cancelled');
      t.equal(whileBusy.status, 409);
      t.equal(whileBusy.code, 'CLUSTER_BUSY');
      t.same(restoreJobs(), [], 'no restore job');
      t.equal(readFileSync(pidFile, 'utf8'), servicePid, 'the service was not restarted');

      // A snapshot file changed since it was taken: the job fails at its first step, before K3s is touched.
      const c = await cli(['backup', '--label', 'corrupt', '--etcd-snapshot', 'lab', '--json']);
      t.equal(c.code, EXIT.OK, c.err);
      const corrupt = JSON.parse(c.out) as BackupInfo;
      const snapFile = join(dataDir, 'backups', corrupt.etcdSnapshots![0]!.file);
      const bytes = readFileSync(snapFile);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(snapFile, bytes);
      const bad = await cli(['cluster', 'restore', 'lab', '--etcd-snapshot', corrupt.file, '-f', '--interval', '1000']);
      t.equal(bad.code, EXIT.ERROR, 'the job failed');
      t.match(bad.err + bad.out, /SNAPSHOT_CORRUPT/);
      t.same(
        restoreJobs().map((j) => j.state),
        ['failed'],
      );
      t.equal(readFileSync(pidFile, 'utf8'), servicePid, 'the service was not restarted');
      t.same(configMaps(), atSnapshot, 'nothing restored');

      // State changed after the snapshot: one ConfigMap made, the one it had deleted.
      kubectl('create', 'configmap', 'pi-made-after-snapshot', '-n', 'default', '--from-literal=at=later');
      kubectl('delete', 'configmap', 'pi-kept-by-snapshot', '-n', 'default');
      t.same(configMaps(), ['configmap/pi-made-after-snapshot']);

      const r = await cli(['cluster', 'restore', 'lab', '--etcd-snapshot', b.file, '-f', '--interval', '1000']);
      t.equal(r.code, EXIT.OK, r.err + r.out.slice(-3000));
      const job = restoreJobs().find((j) => j.state !== 'failed') as Job;
      t.equal(job.state, 'succeeded', job.error ?? '');
      // Every step ran; `ready` may have found the Node back already when its turn came (skipped).
      t.same(
        cp.store.provision.steps(job.id).map((s) => `${s.name}: ${s.name === 'ready' && s.state === 'skipped' ? 'succeeded' : s.state}`),
        [
          `upload snapshot ${s1.address}: succeeded`,
          `stop k3s (${s1.address}): succeeded`,
          `cluster-reset ${s1.address}: succeeded`,
          `start k3s ${s1.address}: succeeded`,
          'ready: succeeded',
          `clean up ${s1.address}: succeeded`,
        ],
      );
      t.not(readFileSync(pidFile, 'utf8'), servicePid, 'the service was stopped and started again');
      t.same(configMaps(), atSnapshot, 'the ConfigMap made after the snapshot is gone, the one deleted after it is back');
      const node = JSON.parse(kubectl('get', 'node', s1.hostname, '-o', 'json')) as {
        status: { conditions: { type: string; status: string }[] };
      };
      t.equal(node.status.conditions.find((c) => c.type === 'Ready')?.status, 'True', 'the Node is Ready');
      const db = `${s1.root}var/lib/rancher/k3s/server/db`;
      t.ok(
        readdirSync(db).some((f) => f.startsWith('etcd-old-')),
        'the old etcd data was moved aside, as K3s does',
      );
      t.notOk(
        readdirSync(`${s1.root}var/lib/pi-controller/k3s`).some((f) => f.startsWith('etcd-restore-')),
        'the uploaded snapshot was removed',
      );
      t.equal(cp.store.clusters.require('lab').state, 'ready');
    });

    t.test('refused: shell syntax in the unit, a host not in the cluster, an unknown cluster, a host that does not answer', async (t) => {
      const marker = join(dir, 'marker');
      for (const unit of [`k3s;touch ${marker}`, `$(touch ${marker})`, '-k3s', 'k3s --since=yesterday', "k3s'", 'a/b', '']) {
        const r = await get(journalPath(s1.address, `unit=${encodeURIComponent(unit)}&lines=5`));
        t.equal(r.status, 400, `${JSON.stringify(unit)}: ${r.status} ${r.code}`);
        t.equal(r.code, 'INVALID_UNIT');
      }
      t.notOk(existsSync(marker), 'nothing ran');
      const viaCli = await cli(['logs', s1.address, '--unit', 'k3s;id']);
      t.equal(viaCli.code, EXIT.INVALID, viaCli.err);
      t.match(viaCli.err, /INVALID_UNIT/);

      const stranger = await get(journalPath('10.9.9.9', 'unit=k3s'));
      t.equal(stranger.status, 404);
      t.equal(stranger.code, 'NOT_A_MEMBER');
      const nocluster = await get('/api/v1/clusters/nope/hosts/10.9.9.9/journal?unit=k3s');
      t.equal(nocluster.status, 404, `code ${nocluster.code}`);
      t.ok(nocluster.code, `code ${nocluster.code}`);

      // A cluster whose (only) host does not answer: the record a finished cluster.create left, pointing at no host.
      const dead = cp.store.clusters.create({ name: 'dead' });
      const job = cp.store.jobs.create(
        {
          kind: 'cluster.create',
          params: { clusterId: dead.id, servers: [{ host: ghost, user: 'pi' }], agents: [], login: { host: ghost, user: 'pi' } },
        },
        'test',
      );
      cp.store.jobs.setState(job.id, 'succeeded');
      const unreachable = await get(`/api/v1/clusters/dead/hosts/${ghost}/journal?unit=k3s`);
      t.equal(unreachable.status, 502, unreachable.text);
      t.equal(unreachable.code, 'SSH_CONNECT_FAILED');
    });
  });
}
