/**
 * The etcd restore's plan and refusals without hosts (real SQLite file, real backups on disk, the
 * real app over HTTP and the CLI): the step list, when a Node counts as back after a restore, that a
 * restore leaves the cluster's hosts as they were, how a backup's snapshots are found by name, and
 * every refusal with its code and no job started. The restore itself runs on a lab host in
 * test/lab/k3s-ops.test.ts.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdSnapshotInfo } from '../../src/api/system.js';
import { BackupManager } from '../../src/backup/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { EXIT } from '../../src/cli/exit.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { CLUSTER_CREATE_KIND, clusterCreateKind } from '../../src/provision/k3s.js';
import { CLUSTER_RESTORE_KIND, CLUSTER_UPGRADE_KIND, clusterMembers, lifecyclePort, resetKind } from '../../src/provision/k3s-lifecycle.js';
import { freshReadyNodes, restoreKind, restorePort, restoreStepNames, type RestoreParams } from '../../src/provision/k3s-restore.js';
import type { Store } from '../../src/store/index.js';
import { openStore } from '../../src/store/index.js';
import { finished, login, provisionPorts } from '../support/finished-jobs.js';
import { startServer } from '../support/server.js';
import { cliAt } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

/** A backup manager whose etcd snapshots are files of `bytes` "taken" of the named cluster (the SSH part is the lab test's). */
function backupsOf(store: Store, dir: string) {
  return new BackupManager({
    store,
    dataDir: dir,
    keep: 10,
    log: silentLogger(),
    etcdSnapshot: async (cluster, to, file): Promise<EtcdSnapshotInfo> => {
      const c = store.clusters.require(cluster);
      const bytes = Buffer.from(`etcd snapshot of ${c.name}`);
      writeFileSync(join(to, file), bytes);
      return {
        cluster: c.name,
        clusterId: c.id,
        server: 's1',
        remotePath: `/var/lib/rancher/k3s/server/db/snapshots/pi-controller-s1-1`,
        file,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        takenAt: new Date().toISOString(),
      };
    },
  });
}

function setup(t: { teardown(fn: () => void): void }) {
  const dir = tempDir(t, 'pic-restore-');
  const store = openStore({ file: join(dir, 'store.sqlite') });
  t.teardown(() => store.close());
  const secrets = openSecretBox(join(dir, 'secrets'));
  const deps = { store, secrets };
  const backups = backupsOf(store, dir);
  const runner = new JobRunner({
    store,
    bus: new EventBus(),
    log: silentLogger(),
    kinds: [clusterCreateKind(deps), resetKind(deps), restoreKind(deps)],
    secrets,
  });
  runner.stop(); // jobs are stored, not run: no host exists
  const port = restorePort({ ...deps, runner, snapshots: (ref) => backups.findEtcdSnapshots(ref) });
  /** The cluster as a finished cluster.create leaves it: hosts, join token and kubeconfig stored. */
  const provisioned = (name: string, servers = [login('s1')], agents = [login('a1')]) => {
    const c = store.clusters.create({ name });
    finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers, agents });
    store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
    store.clusters.setKubeconfig(c.id, secrets.seal(Buffer.from('apiVersion: v1\n')), 'https://s1:6443');
    return c;
  };
  return { dir, store, secrets, runner, backups, port, provisioned };
}

t.test('the plan: upload, stop every server, reset and start the first, the others rejoin, Ready, clean up', async (t) => {
  const { store, secrets } = setup(t);
  t.same(restoreStepNames({ servers: [login('s1')] }), [
    'upload snapshot s1',
    'stop k3s (s1)',
    'cluster-reset s1',
    'start k3s s1',
    'ready',
    'clean up s1',
  ]);
  const ha = { servers: [login('s1'), login('s2'), login('s3')] };
  t.same(restoreStepNames(ha), [
    'upload snapshot s1',
    'stop k3s (s2, s3, s1)',
    'cluster-reset s1',
    'start k3s s1',
    'rejoin s2',
    'rejoin s3',
    'ready',
    'clean up s1',
  ]);
  const params: RestoreParams = {
    clusterId: 'x',
    ...ha,
    agents: [login('a1')],
    snapshot: {
      backup: 'b.sqlite',
      file: 'b.etcd-x.db',
      path: '/nowhere',
      sha256: 'a'.repeat(64),
      bytes: 1,
      takenAt: '2026-01-01T00:00:00Z',
    },
  };
  t.same(
    restoreKind({ store, secrets })
      .steps(params as unknown as Record<string, unknown>)
      .map((s) => s.name),
    restoreStepNames(ha),
    'the job kind builds exactly these steps',
  );
  t.throws(() => restoreKind({ store, secrets }).steps({ ...params, snapshot: { ...params.snapshot, sha256: 'x' } }), {
    code: 'INVALID_ARGUMENT',
  });
});

t.test(
  'a Node is back after a restore when Ready with its lease renewed since; a restarted kubelet must have posted Ready since',
  async (t) => {
    const since = Date.parse('2026-12-04T19:00:00Z') / 1000;
    const node = (name: string, ready: string, heartbeat: string) => ({
      metadata: { name },
      status: { conditions: [{ type: 'Ready', status: ready, lastHeartbeatTime: heartbeat }] },
    });
    const lease = (name: string, renewTime?: string) => ({ metadata: { name }, spec: renewTime ? { renewTime } : {} });
    const nodes = JSON.stringify({
      items: [
        node('server', 'True', '2026-12-04T19:00:05Z'),
        node('stale-server', 'True', '2026-12-04T18:50:00Z'),
        node('agent', 'True', '2026-12-04T18:50:00Z'),
        node('old-agent', 'True', '2026-12-04T18:50:00Z'),
        node('down', 'False', '2026-12-04T19:00:05Z'),
        node('gone', 'True', '2026-12-04T18:50:00Z'),
      ],
    });
    const leases = JSON.stringify({
      items: [
        lease('server', '2026-12-04T19:00:03.123456Z'),
        lease('stale-server', '2026-12-04T19:00:04.000000Z'),
        lease('agent', '2026-12-04T19:00:00.000000Z'),
        lease('old-agent', '2026-12-04T18:59:59.999999Z'),
        lease('down', '2026-12-04T19:00:04.000000Z'),
        lease('gone'),
      ],
    });
    const r = freshReadyNodes(nodes, leases, since, new Set(['server', 'stale-server']));
    t.same(r.ready, ['server', 'agent'], 'an agent whose kubelet ran on counts by its renewed lease');
    t.same(r.waiting, [
      'stale-server (Ready not posted since the restore)',
      'old-agent (lease not renewed since the restore)',
      'down (not Ready)',
      'gone (lease not renewed since the restore)',
    ]);
    t.same(freshReadyNodes(JSON.stringify({ items: [node('x', 'True', '2026-12-04T19:00:05Z')] }), '{"items":[]}', since).waiting, [
      'x (no lease)',
    ]);
  },
);

t.test('a restore leaves the cluster its hosts; a reset still empties them', async (t) => {
  const { store, provisioned } = setup(t);
  const c = provisioned('c', [login('s1'), login('s2')], [login('a1')]);
  finished(store, CLUSTER_RESTORE_KIND, { clusterId: c.id, servers: [login('s1'), login('s2')], agents: [login('a1')] });
  const m = clusterMembers(store, c.id);
  t.same([m.servers, m.agents], [[login('s1'), login('s2')], [login('a1')]]);
  finished(store, 'cluster.reset', { clusterId: c.id, servers: [], agents: [] });
  t.same(clusterMembers(store, c.id).servers, []);
});

t.test("a backup's etcd snapshots, found by the backup's name or the snapshot's file, and nothing else", async (t) => {
  const { store, backups, provisioned } = setup(t);
  const a = provisioned('a');
  provisioned('b');
  const one = await backups.create('one', { etcdCluster: 'a' });
  const two = await backups.create('two', { etcdCluster: 'b' });
  const snapA = one.etcdSnapshots![0]!;
  for (const ref of [one.file, one.file.replace(/\.sqlite$/, ''), snapA.file]) {
    const found = backups.findEtcdSnapshots(ref);
    t.equal(found.length, 1, ref);
    t.equal(found[0]?.backup, one.file);
    t.equal(found[0]?.info.clusterId, a.id);
    t.equal(found[0]?.path, join(backups.dir, snapA.file));
  }
  t.equal(backups.findEtcdSnapshots(two.file)[0]?.info.cluster, 'b');
  for (const ref of ['nope', `../backups/${one.file}`, `/${snapA.file}`, '.', '', `${one.file}/..`])
    t.same(backups.findEtcdSnapshots(ref), [], JSON.stringify(ref));
  t.equal(store.clusters.require('a').name, 'a');
});

t.test('refusals carry a code and start no job; an accepted restore is a job on the first server', async (t) => {
  const { store, backups, port, provisioned, secrets } = setup(t);
  const lab = provisioned('lab', [login('s1'), login('s2')], [login('a1')]);
  const other = provisioned('other');
  const b = await backups.create('lab', { etcdCluster: 'lab' });
  const restores = () => store.jobs.list({ kind: CLUSTER_RESTORE_KIND }).total;

  t.throws(() => port.restoreCluster(lab.id, { etcdSnapshot: 'pi-controller-nope' }, 'test'), { code: 'SNAPSHOT_NOT_FOUND', status: 404 });
  t.throws(() => port.restoreCluster(other.id, { etcdSnapshot: b.file }, 'test'), { code: 'SNAPSHOT_OF_ANOTHER_CLUSTER', status: 409 });
  // A cluster of the same name made again later is another cluster: the id decides.
  const x = store.clusters.create({ name: 'x' });
  const bx = await backups.create('x', { etcdCluster: 'x' });
  store.clusters.delete(x.id);
  const again = provisioned('x');
  t.throws(() => port.restoreCluster(again.id, { etcdSnapshot: bx.file }, 'test'), { code: 'SNAPSHOT_OF_ANOTHER_CLUSTER' });

  const busy = store.jobs.create({ kind: CLUSTER_UPGRADE_KIND, params: { clusterId: lab.id } }, 'test');
  t.throws(() => port.restoreCluster(lab.id, { etcdSnapshot: b.file }, 'test'), { code: 'CLUSTER_BUSY', status: 409 });
  store.jobs.setState(busy.id, 'cancelled');

  // A snapshot of a cluster that has no hosts now (never provisioned, or reset since): nothing to restore into.
  const gone = store.clusters.create({ name: 'gone' });
  const bg = await backups.create('gone', { etcdCluster: 'gone' });
  t.throws(() => port.restoreCluster(gone.id, { etcdSnapshot: bg.file }, 'test'), { code: 'CLUSTER_NOT_PROVISIONED', status: 409 });

  // The file listed with its backup but gone from the disk.
  const snap = b.etcdSnapshots![0]!;
  const bytes = Buffer.from('etcd snapshot of lab');
  rmSync(join(backups.dir, snap.file));
  t.throws(() => port.restoreCluster(lab.id, { etcdSnapshot: b.file }, 'test'), { code: 'SNAPSHOT_NOT_FOUND' });
  writeFileSync(join(backups.dir, snap.file), bytes);
  t.equal(restores(), 0, 'no restore job was started');

  const job = port.restoreCluster(lab.id, { etcdSnapshot: snap.file }, 'test');
  t.equal(job.kind, CLUSTER_RESTORE_KIND);
  t.same(job.params.login, login('s1'), 'its login is the first server');
  const p = job.params as unknown as RestoreParams;
  t.same(p.snapshot, {
    backup: b.file,
    file: snap.file,
    path: join(backups.dir, snap.file),
    sha256: snap.sha256,
    bytes: snap.bytes,
    takenAt: snap.takenAt,
  });
  t.same(
    store.provision.steps(job.id).map((s) => s.name),
    restoreStepNames({ servers: [login('s1'), login('s2')] }),
  );
  t.throws(
    () => port.restoreCluster(lab.id, { etcdSnapshot: b.file }, 'test'),
    { code: 'CLUSTER_BUSY' },
    'a queued restore blocks another',
  );
  t.throws(
    () =>
      lifecyclePort({
        store,
        secrets,
        runner: new JobRunner({ store, bus: new EventBus(), log: silentLogger(), kinds: [], secrets }),
      }).removeNode(lab.id, 'a1', 'test'),
    {
      code: 'CLUSTER_BUSY',
    },
    'and the other lifecycle jobs',
  );
});

t.test('REST and CLI: POST /clusters/{id}/restore, admin only', async (t) => {
  let backups: BackupManager | undefined;
  const s = await startServer(t, (store, dir) => {
    const secrets = openSecretBox(join(dir, 'secrets'));
    const deps = { store, secrets };
    backups = backupsOf(store, dir);
    const runner = new JobRunner({ store, bus: new EventBus(), log: silentLogger(), kinds: [restoreKind(deps)], secrets });
    runner.stop(); // nothing runs: the refusals come first
    return {
      provision: provisionPorts(deps, runner, (ref) => backups!.findEtcdSnapshots(ref)),
    };
  });
  s.store.clusters.create({ name: 'lab' });
  s.store.clusters.create({ name: 'other' });
  const b = await backups!.create('x', { etcdCluster: 'other' });
  const jobs = s.store.jobs.list({}).total;
  const none = await s.req('POST', '/api/v1/clusters/lab/restore', { body: {} });
  t.equal(none.status, 422, 'no snapshot named: a schema error');
  const operator = await s.req('POST', '/api/v1/clusters/lab/restore', { token: s.operator, body: { etcdSnapshot: b.file } });
  t.equal(operator.status, 403, 'an operator may not restore');
  const unknown = await s.req('POST', '/api/v1/clusters/lab/restore', { body: { etcdSnapshot: 'nope' } });
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error.code, 'SNAPSHOT_NOT_FOUND');
  const another = await s.req('POST', '/api/v1/clusters/lab/restore', { body: { etcdSnapshot: b.file } });
  t.equal(another.status, 409);
  t.equal(another.body.error.code, 'SNAPSHOT_OF_ANOTHER_CLUSTER');
  const notYet = await s.req('POST', '/api/v1/clusters/other/restore', { body: { etcdSnapshot: b.file } });
  t.equal(notYet.status, 409);
  t.equal(notYet.body.error.code, 'CLUSTER_NOT_PROVISIONED');
  const noCluster = await s.req('POST', '/api/v1/clusters/nope/restore', { body: { etcdSnapshot: b.file } });
  t.equal(noCluster.status, 404);
  t.equal(s.store.jobs.list({}).total, jobs, 'no job was started');

  const cli = cliAt(s.url, s.admin, s.dir);
  const r = await cli('cluster', 'restore', 'lab', '--etcd-snapshot', b.file);
  t.equal(r.code, EXIT.CONFLICT);
  t.match(r.err, /SNAPSHOT_OF_ANOTHER_CLUSTER/);
  t.equal((await cli('cluster', 'restore', 'lab', '--etcd-snapshot', 'nope')).code, EXIT.NOT_FOUND);
  t.equal((await cli('cluster', 'restore', 'lab')).code, EXIT.USAGE, 'no snapshot: a usage error');
});
