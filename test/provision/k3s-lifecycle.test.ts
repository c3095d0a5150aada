/**
 * The lifecycle's bookkeeping without hosts (real SQLite file): a cluster's members replayed from its
 * succeeded jobs, the refusals of add-node, remove-node and reset (each with its code, no job started), the
 * steps of a server's removal, and which pods a drain evicts. The jobs themselves run in test/lab/k3s-lifecycle.test.ts.
 */
import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { CLUSTER_CREATE_KIND } from '../../src/provision/k3s.js';
import {
  addNodeKind,
  CLUSTER_ADD_NODE_KIND,
  CLUSTER_REMOVE_NODE_KIND,
  CLUSTER_RESET_KIND,
  clusterMembers,
  lifecyclePort,
  podsToEvict,
  removeNodeKind,
  resetKind,
} from '../../src/provision/k3s-lifecycle.js';
import { finished, login } from '../support/finished-jobs.js';
import { tempDir } from '../support/tmp.js';

function setup(t: { teardown(fn: () => void): void }) {
  const dir = tempDir(t, 'pic-life-');
  const store = openStore({ file: join(dir, 'store.sqlite') });
  t.teardown(() => store.close());
  const secrets = openSecretBox(join(dir, 'secrets'));
  const runner = new JobRunner({
    store,
    bus: new EventBus(),
    log: silentLogger(),
    kinds: [addNodeKind({ store, secrets }), removeNodeKind({ store, secrets }), resetKind({ store, secrets })],
    secrets,
  });
  t.teardown(() => runner.stop());
  return { store, secrets, port: lifecyclePort({ store, secrets, runner }) };
}

t.test('members are replayed from the succeeded jobs, in order', async (t) => {
  const { store } = setup(t);
  const c = store.clusters.create({ name: 'c' });
  const other = store.clusters.create({ name: 'other' });
  t.same(clusterMembers(store, c.id), { servers: [], agents: [], install: {} });
  finished(store, CLUSTER_CREATE_KIND, {
    clusterId: c.id,
    servers: [login('s1')],
    agents: [login('a1'), login('a2')],
    version: 'v1.30.4+k3s1',
    roots: { s1: '/x/' },
  });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: other.id, servers: [login('x')], agents: [] });
  finished(store, CLUSTER_REMOVE_NODE_KIND, { clusterId: c.id, host: login('a1') }, 'failed');
  const install = { version: 'v1.30.4+k3s1' };
  t.same(
    clusterMembers(store, c.id),
    { servers: [login('s1')], agents: [login('a1'), login('a2')], install },
    'a failed job changes nothing',
  );
  finished(store, CLUSTER_REMOVE_NODE_KIND, { clusterId: c.id, host: login('a1') });
  t.same(clusterMembers(store, c.id), { servers: [login('s1')], agents: [login('a2')], install });
  finished(store, CLUSTER_ADD_NODE_KIND, { clusterId: c.id, host: login('s2'), role: 'server' });
  finished(store, CLUSTER_ADD_NODE_KIND, { clusterId: c.id, host: login('a1'), role: 'agent' });
  t.same(clusterMembers(store, c.id), { servers: [login('s1'), login('s2')], agents: [login('a2'), login('a1')], install }, 'added hosts');
  finished(store, CLUSTER_RESET_KIND, { clusterId: c.id });
  t.same(clusterMembers(store, c.id), { servers: [], agents: [], install: {} });
  t.same(clusterMembers(store, other.id).servers, [login('x')], 'other clusters are apart');
});

t.test('removing one server of several: through a server that stays, and out of etcd before its Node goes', async (t) => {
  const { store, secrets, port } = setup(t);
  const ha = store.clusters.create({ name: 'ha' });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: ha.id, servers: [login('h1'), login('h2'), login('h3')], agents: [login('a1')] });
  const job = port.removeNode(ha.id, 'h1', 'test');
  t.match(job.params, { role: 'server', host: login('h1'), via: login('h2') }, 'the first server is removed through the next one');
  const steps = removeNodeKind({ store, secrets })
    .steps(job.params)
    .map((s) => s.name);
  t.same(steps, [
    'repoint kubeconfig to h2',
    'cordon h1',
    'drain h1',
    'leave etcd h1',
    'delete node h1',
    'uninstall h1',
    'verify clean h1',
  ]);
  const agent = removeNodeKind({ store, secrets })
    .steps({ clusterId: ha.id, host: login('a1'), role: 'agent', via: login('h1') })
    .map((s) => s.name);
  t.same(
    agent,
    ['cordon a1', 'drain a1', 'delete node a1', 'uninstall a1', 'verify clean a1'],
    'an agent has no etcd member and no kubeconfig to move',
  );
});

t.test('refusals carry a code and start no job', async (t) => {
  const { store, port, secrets } = setup(t);
  const c = store.clusters.create({ name: 'c' });
  const refused = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      const e = err as { code?: string; status?: number };
      return `${e.status} ${e.code}`;
    }
    return 'accepted';
  };
  t.equal(
    refused(() => port.resetCluster(c.id, 'test')),
    '404 NOT_A_MEMBER',
    'nothing provisioned: nothing to reset',
  );
  finished(store, CLUSTER_CREATE_KIND, { clusterId: c.id, servers: [login('s1')], agents: [login('a1')] });
  const ha = store.clusters.create({ name: 'ha' });
  finished(store, CLUSTER_CREATE_KIND, { clusterId: ha.id, servers: [login('h1'), login('h2'), login('h3')], agents: [] });
  store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
  const jobs = store.jobs.list({}).total;
  t.equal(
    refused(() => port.addNode(c.id, { host: 'a1', role: 'server' }, 'test')),
    '409 ALREADY_A_MEMBER',
  );
  t.equal(
    refused(() => port.removeNode(c.id, 'nobody', 'test')),
    '404 NOT_A_MEMBER',
  );
  t.equal(
    refused(() => port.removeNode(c.id, 's1', 'test')),
    '409 LAST_SERVER',
  );
  const busy = store.jobs.create({ kind: CLUSTER_RESET_KIND, params: { clusterId: c.id } }, 'test');
  t.equal(
    refused(() => port.removeNode(c.id, 'a1', 'test')),
    '409 CLUSTER_BUSY',
    'a queued reset blocks a removal',
  );
  t.equal(
    refused(() => port.resetCluster(c.id, 'test')),
    '409 CLUSTER_BUSY',
  );
  t.equal(store.jobs.list({}).total, jobs + 1, 'no job was started (only the one stored by the test)');
  store.jobs.setState(busy.id, 'cancelled');
  t.equal(store.clusters.require(c.id).state, 'pending', 'the cluster is unchanged');
});

t.test('a drain evicts all but DaemonSet-owned and mirror pods', async (t) => {
  const pod = (name: string, extra: Record<string, unknown> = {}) => ({ metadata: { namespace: 'ns', name, ...extra } });
  const list = {
    items: [
      pod('plain'),
      pod('replica', { ownerReferences: [{ kind: 'ReplicaSet' }] }),
      pod('daemon', { ownerReferences: [{ kind: 'DaemonSet' }] }),
      pod('static', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
    ],
  };
  t.same(
    podsToEvict(JSON.stringify(list)).map((p) => p.name),
    ['plain', 'replica'],
  );
});
