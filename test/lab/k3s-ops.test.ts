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
 * - refusals: unit names with shell syntax (400 INVALID_UNIT, nothing run), a host that is not a
 *   member (404 NOT_A_MEMBER), an unknown cluster (404), a member host that does not answer (502
 *   SSH_CONNECT_FAILED).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { BackupInfo } from '../../src/api/system.js';
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
      const tails = () =>
        execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
          .split('\n')
          .filter((l) => l.startsWith('tail ') && l.includes(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`));
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

    t.test('a backup with an etcd snapshot: a real snapshot, checked, listed beside the SQLite backup', async (t) => {
      const r = await cli(['backup', '--label', 'with-etcd', '--etcd-snapshot', 'lab', '--json']);
      t.equal(r.code, EXIT.OK, r.err);
      const b = JSON.parse(r.out) as BackupInfo;
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
