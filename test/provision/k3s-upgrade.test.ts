/**
 * The rolling upgrade's planning and refusals without hosts (real SQLite file, the real app over
 * HTTP): the version pattern, servers before agents in the step list, what a Node's JSON says, the
 * version an upgrade leaves in the cluster's membership, and every refusal with its code and no job
 * started. The upgrade itself runs on lab hosts in test/lab/k3s-upgrade.test.ts.
 */
import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import type { ProvisionError } from '../../src/provision/errors.js';
import { CLUSTER_CREATE_KIND, clusterCreateKind } from '../../src/provision/k3s.js';
import { addNodeKind, CLUSTER_UPGRADE_KIND, clusterMembers, removeNodeKind, resetKind } from '../../src/provision/k3s-lifecycle.js';
import {
  compareK3s,
  kubeletAt,
  nodeView,
  UPGRADE_CORDON_ANNOTATION,
  upgradeKind,
  upgradeOrder,
  upgradePort,
  upgradeStepNames,
  validVersion,
} from '../../src/provision/k3s-upgrade.js';
import { EXIT } from '../../src/cli/exit.js';
import { startServer } from '../support/server.js';
import { cliAt } from '../support/cli.js';
import { finished, login, provisionPorts } from '../support/finished-jobs.js';
import { tempDir } from '../support/tmp.js';

/** The error `fn` throws (undefined when it returns). */
function thrown(fn: () => unknown): ProvisionError | undefined {
  try {
    fn();
  } catch (err) {
    return err as ProvisionError;
  }
  return undefined;
}

function setup(t: { teardown(fn: () => void): void }) {
  const dir = tempDir(t, 'pic-upgrade-');
  const store = openStore({ file: join(dir, 'store.sqlite') });
  t.teardown(() => store.close());
  const secrets = openSecretBox(join(dir, 'secrets'));
  const deps = { store, secrets };
  const runner = new JobRunner({
    store,
    bus: new EventBus(),
    log: silentLogger(),
    kinds: [clusterCreateKind(deps), addNodeKind(deps), removeNodeKind(deps), resetKind(deps), upgradeKind(deps)],
    secrets,
  });
  t.teardown(() => runner.stop());
  const port = provisionPorts(deps, runner);
  return { store, secrets, runner, port };
}

t.test('versions: only K3s release names', async (t) => {
  for (const v of ['v1.30.4+k3s1', 'v1.20.2+k3s2', 'v1.31.0-rc1+k3s1', 'v0.1.0+k3s10']) t.equal(validVersion(v), v, v);
  for (const v of [
    '1.30.4+k3s1',
    'v1.30.4',
    'v1.30+k3s1',
    'v1.30.4+k3s',
    'v1.30.4+k3s0',
    'v01.30.4+k3s1',
    'latest',
    'stable',
    'v1.30.4+k3s1;reboot',
    'v1.30.4+k3s1 ',
    '$(id)',
    'v1.30.4+k3s1\nx',
    '',
  ])
    t.throws(() => validVersion(v), { code: 'INVALID_VERSION', status: 400 }, JSON.stringify(v));
});

t.test('K3s versions compare as releases: major, minor, patch, release above its candidates, then the k3s build', async (t) => {
  const ordered = [
    'v1.9.10+k3s1',
    'v1.29.3-rc1+k3s1',
    'v1.29.3-rc2+k3s1',
    'v1.29.3+k3s1',
    'v1.29.3+k3s2',
    'v1.29.3+k3s10',
    'v1.29.10+k3s1',
    'v1.30.0-rc1+k3s1',
    'v1.30.0+k3s1',
    'v2.0.0+k3s1',
  ];
  for (let i = 0; i < ordered.length; i++)
    for (let j = 0; j < ordered.length; j++)
      t.equal(Math.sign(compareK3s(ordered[i]!, ordered[j]!)), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
  t.throws(() => compareK3s('v1.30', 'v1.30.0+k3s1'), { code: 'INVALID_VERSION' });
});

t.test('the plan: servers one at a time (the first first), then agents; five steps per node, then the record', async (t) => {
  const { store, secrets } = setup(t);
  const p = { version: 'v1.30.4+k3s1', servers: [login('s1'), login('s2')], agents: [login('a1'), login('a2')] };
  t.same(
    upgradeOrder(p).map((n) => `${n.role} ${n.host.host}${n.first ? ' first' : ''}`),
    ['server s1 first', 'server s2', 'agent a1', 'agent a2'],
  );
  const names = upgradeStepNames(p);
  t.equal(names[0], 'versions', 'every node is asked its version before any is touched');
  t.same(names.slice(1, 6), ['cordon s1', 'drain s1', 'install v1.30.4+k3s1 s1', 'ready s1', 'uncordon s1']);
  t.equal(names.length, 1 + 4 * 5 + 1);
  t.equal(names.at(-1), 'record v1.30.4+k3s1');
  const lastServer = names.lastIndexOf('uncordon s2');
  const firstAgent = names.indexOf('cordon a1');
  t.ok(lastServer < firstAgent, 'every server step before every agent step');
  t.same(
    upgradeKind({ store, secrets })
      .steps({ clusterId: 'x', ...p })
      .map((s) => s.name),
    names,
    'the job kind builds exactly these steps',
  );
});

t.test("what a Node's JSON says", async (t) => {
  t.equal(nodeView(''), undefined, 'absent');
  const node = (ready: string, unschedulable: boolean | undefined, kubeletVersion: string, annotations?: Record<string, string>) =>
    JSON.stringify({
      metadata: annotations ? { annotations } : {},
      spec: unschedulable === undefined ? {} : { unschedulable },
      status: { conditions: [{ type: 'Ready', status: ready }], nodeInfo: { kubeletVersion } },
    });
  t.same(nodeView(node('True', undefined, 'v1.30.4+k3s1')), {
    ready: true,
    unschedulable: false,
    kubeletVersion: 'v1.30.4+k3s1',
    cordonedByUpgrade: false,
  });
  t.same(nodeView(node('Unknown', true, 'v1.20.2')), {
    ready: false,
    unschedulable: true,
    kubeletVersion: 'v1.20.2',
    cordonedByUpgrade: false,
  });
  t.equal(nodeView(node('True', true, 'v1.20.2', { [UPGRADE_CORDON_ANNOTATION]: 'job-1' }))!.cordonedByUpgrade, true, "the upgrade's mark");
  t.equal(nodeView(node('True', true, 'v1.20.2', { other: 'x' }))!.cordonedByUpgrade, false, 'cordoned by hand: no mark');
  t.ok(kubeletAt('v1.30.4+k3s1', 'v1.30.4+k3s1'), 'a K3s kubelet at the version');
  t.notOk(kubeletAt('v1.29.8+k3s1', 'v1.30.4+k3s1'), 'a K3s kubelet still at the old version');
  t.notOk(kubeletAt('v1.30.4+k3s2', 'v1.30.4+k3s1'), 'another build of the same release');
  t.ok(kubeletAt('v1.20.2', 'v1.20.2+k3s2'), "a kubelet that is not K3s's own (the lab's) is not asked");
});

t.test('a succeeded upgrade sets the version hosts added later get; a failed one does not', async (t) => {
  const { store } = setup(t);
  const c = store.clusters.create({ name: 'c' });
  const airgap = { installScript: '/i.sh', binary: '/k3s-1', images: [] };
  finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers: [login('s1')], agents: [login('a1')], version: 'v1.29.8+k3s1', airgap });
  finished(store, CLUSTER_UPGRADE_KIND, { clusterId: c.id, version: 'v1.30.4+k3s1', servers: [], agents: [] }, 'failed');
  t.same(clusterMembers(store, c.id).install, { version: 'v1.29.8+k3s1', airgap });
  const airgap2 = { installScript: '/i.sh', binary: '/k3s-2', images: [] };
  finished(store, CLUSTER_UPGRADE_KIND, { clusterId: c.id, version: 'v1.30.4+k3s1', servers: [], agents: [], airgap: airgap2 });
  const m = clusterMembers(store, c.id);
  t.same(m.install, { version: 'v1.30.4+k3s1', airgap: airgap2 });
  t.same([m.servers, m.agents], [[login('s1')], [login('a1')]], 'the hosts stay');
});

t.test('refusals carry a code and start no job; an accepted upgrade is a job on the first server', async (t) => {
  const { store, port, secrets, runner } = setup(t);
  const c = store.clusters.create({ name: 'c' });
  const jobs = () => store.jobs.list({}).total;
  t.throws(() => port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1' }, 'test'), { code: 'CLUSTER_NOT_PROVISIONED', status: 409 });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers: [login('s1'), login('s2')], agents: [login('a1')] });
  store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
  t.throws(
    () => port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1' }, 'test'),
    { code: 'CLUSTER_NOT_PROVISIONED' },
    'no kubeconfig stored yet',
  );
  store.clusters.setKubeconfig(c.id, secrets.seal(Buffer.from('apiVersion: v1\n')), 'https://s1:6443');
  const before = jobs();
  t.throws(() => port.upgradeCluster(c.id, { version: 'v1.30' }, 'test'), { code: 'INVALID_VERSION', status: 400 });
  t.throws(() => port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1$(reboot)' }, 'test'), { code: 'INVALID_VERSION' });
  const busy = store.jobs.create({ kind: CLUSTER_CREATE_KIND, params: { clusterId: c.id } }, 'test');
  t.throws(() => port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1' }, 'test'), { code: 'CLUSTER_BUSY', status: 409 });
  t.equal(jobs(), before + 1, 'no job was started (only the one stored by the test)');
  store.jobs.setState(busy.id, 'cancelled');

  runner.stop(); // the job is stored, not run: no host exists
  const job = port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1' }, 'test');
  t.equal(job.kind, CLUSTER_UPGRADE_KIND);
  t.same(job.params.login, login('s1'), 'its login is the first server');
  t.same(
    store.provision.steps(job.id).map((s) => s.name),
    upgradeStepNames({ version: 'v1.30.4+k3s1', servers: [login('s1'), login('s2')], agents: [login('a1')] }),
  );
  t.throws(
    () => port.upgradeCluster(c.id, { version: 'v1.30.4+k3s1' }, 'test'),
    { code: 'CLUSTER_BUSY' },
    'a queued upgrade blocks another',
  );
  t.throws(() => port.removeNode(c.id, 'a1', 'test'), { code: 'CLUSTER_BUSY' }, 'and the other lifecycle jobs');
  t.equal(store.clusters.require(c.id).k3sVersion, null, 'the record notes no version before the job succeeds');
});

t.test('a downgrade is refused (409 DOWNGRADE_REFUSED, no job) unless allowed', async (t) => {
  const { store, port, secrets, runner } = setup(t);
  runner.stop(); // jobs are stored, not run: no host exists
  const c = store.clusters.create({ name: 'c' });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers: [login('s1')], agents: [login('a1')], version: 'v1.29.3+k3s2' });
  store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
  store.clusters.setKubeconfig(c.id, secrets.seal(Buffer.from('apiVersion: v1\n')), 'https://s1:6443');
  const jobs = () => store.jobs.list({}).total;
  const before = jobs();
  for (const older of ['v1.29.3+k3s1', 'v1.29.3-rc1+k3s2', 'v1.28.9+k3s1']) {
    t.throws(() => port.upgradeCluster(c.id, { version: older }, 'test'), { code: 'DOWNGRADE_REFUSED', status: 409 }, older);
    const err = thrown(() => port.upgradeCluster(c.id, { version: older }, 'test'));
    t.same(err?.details, { version: older, current: 'v1.29.3+k3s2', nodes: ['s1', 'a1'] }, 'details name the nodes and both versions');
    t.match(err?.message, /s1, a1 run K3s v1\.29\.3\+k3s2, newer than/);
  }
  t.equal(jobs(), before, 'no job was started');
  t.equal(store.clusters.require(c.id).state, 'pending', 'the state is untouched');
  const job = port.upgradeCluster(c.id, { version: 'v1.29.3+k3s1', allowDowngrade: true }, 'test');
  t.equal(job.params.allowDowngrade, true, 'allowed: the job carries it (its versions step lets the nodes through)');
  runner.cancel(job.id);
  await runner.wait(job.id);
  const same = port.upgradeCluster(c.id, { version: 'v1.29.3+k3s2' }, 'test');
  t.equal(same.kind, CLUSTER_UPGRADE_KIND, 'the same version is no downgrade');
  runner.cancel(same.id);
  await runner.wait(same.id);
});

t.test("the cluster's state is upgrading while its upgrade job runs, then what it was", async (t) => {
  const { store, port, secrets, runner } = setup(t);
  runner.stop();
  const c = store.clusters.create({ name: 'c' });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers: [login('s1')], agents: [], version: 'v1.29.3+k3s1' });
  store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
  store.clusters.setKubeconfig(c.id, secrets.seal(Buffer.from('apiVersion: v1\n')), 'https://s1:6443');
  store.clusters.update(c.id, { state: 'ready' });
  const job = port.upgradeCluster(c.id, { version: 'v1.30.0+k3s1' }, 'test');
  t.equal(store.clusters.require(c.id).state, 'upgrading');
  t.equal(job.params.previousState, 'ready');
  runner.cancel(job.id);
  await runner.wait(job.id);
  await new Promise((r) => setImmediate(r));
  t.equal(store.clusters.require(c.id).state, 'ready', 'back to ready when the job ends');

  // A job the daemon left running (a restart): a new port watches it, and the state returns when it ends.
  const again = port.upgradeCluster(c.id, { version: 'v1.30.0+k3s1' }, 'test');
  store.clusters.update(c.id, { state: 'upgrading' });
  const runner2 = new JobRunner({ store, bus: new EventBus(), log: silentLogger(), kinds: [upgradeKind({ store, secrets })], secrets });
  runner2.stop();
  upgradePort({ store, secrets, runner: runner2 });
  runner2.cancel(again.id);
  await new Promise((r) => setImmediate(r));
  t.equal(store.clusters.require(c.id).state, 'ready');
});

t.test('REST: POST /clusters/{id}/upgrade', async (t) => {
  const s = await startServer(t, (store, dir) => {
    const secrets = openSecretBox(join(dir, 'secrets'));
    const deps = { store, secrets };
    const runner = new JobRunner({ store, bus: new EventBus(), log: silentLogger(), kinds: [upgradeKind(deps)], secrets });
    runner.stop(); // nothing runs: the refusals come first
    return {
      provision: provisionPorts(deps, runner),
    };
  });
  const c = s.store.clusters.create({ name: 'lab' });
  const jobs = s.store.jobs.list({}).total;
  const bad = await s.req('POST', '/api/v1/clusters/lab/upgrade', { body: { version: 'v1.30.4' } });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'INVALID_VERSION');
  const shell = await s.req('POST', '/api/v1/clusters/lab/upgrade', { body: { version: 'v1.30.4+k3s1;reboot' } });
  t.equal(shell.body.error.code, 'INVALID_VERSION');
  const none = await s.req('POST', '/api/v1/clusters/lab/upgrade', { body: {} });
  t.equal(none.status, 422, 'no version: a schema error');
  const viewer = await s.req('POST', '/api/v1/clusters/lab/upgrade', { token: s.viewer, body: { version: 'v1.30.4+k3s1' } });
  t.equal(viewer.status, 403);
  const notYet = await s.req('POST', '/api/v1/clusters/lab/upgrade', { body: { version: 'v1.30.4+k3s1' } });
  t.equal(notYet.status, 409);
  t.equal(notYet.body.error.code, 'CLUSTER_NOT_PROVISIONED');
  t.equal(s.store.jobs.list({}).total, jobs, 'no job was started');
  t.equal(s.store.clusters.require(c.id).k3sVersion, null);

  // The CLI: after `cluster upgrade`, --version is the K3s release, not the program's own --version.
  const cli = cliAt(s.url, s.admin, s.dir);
  for (const flag of [['--version', 'v1.30'], ['--version=v1.30'], ['--k3s-version', 'v1.30']]) {
    const r = await cli('cluster', 'upgrade', 'lab', ...flag);
    t.equal(r.code, EXIT.INVALID, flag.join(' '));
    t.match(r.err, /INVALID_VERSION/, 'the version reached the server');
  }
  const notYetCli = await cli('cluster', 'upgrade', 'lab', '--version', 'v1.30.4+k3s1');
  t.match(notYetCli.err, /CLUSTER_NOT_PROVISIONED/);
  t.equal(notYetCli.code, EXIT.CONFLICT);
  const own = await cli('--version');
  t.equal(own.code, EXIT.OK);
  t.match(own.out, /^\d+\.\d+\.\d+/, "the program's own --version still prints its version");
  t.equal((await cli('cluster', 'upgrade', 'lab')).code, EXIT.USAGE, 'no version: a usage error');
});
