/**
 * Provisioned clusters are reconciled without `serve --kubeconfig` (src/daemon/managed.ts): a
 * cluster record whose admin kubeconfig is kept sealed in the database, as `cluster create`
 * leaves it, gets its own reconciler when serve starts and when a job ends, and loses it when a
 * reset forgets the kubeconfig. The kubeconfig is the real kube-apiserver rig's (the rig stands
 * for the provisioned cluster's API server; test/lab/k3s-*.test.ts provision real ones, but the
 * control plane of those tests cannot reach the lab's addresses from outside its namespaces).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE } from '../../src/backup/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { ManagedClusters } from '../../src/daemon/managed.js';
import { ClusterRunner } from '../../src/cluster/runner.js';
import { recordingBus } from '../../src/events/bus.js';
import { createLogging, silentLogger } from '../../src/log/index.js';
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { provisionPort } from '../../src/provision/k3s.js';
import { until } from '../agent/rig.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { Writable } from 'node:stream';

const skip = k8sUnavailable() ?? false;
t.setTimeout(scaled(240_000));

const quiet = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** The GPIOPin's first condition reason, once the reconciler wrote one (or undefined after ~30 s). */
async function reasonOf(k: K8sCluster, name: string): Promise<string | undefined> {
  for (let i = 0; i < 150; i++) {
    const o = await k.api('GET', `/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins/${name}`);
    const reason = (o.body as { status?: { conditions?: { reason: string }[] } }).status?.conditions?.[0]?.reason;
    if (reason) return reason;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

t.test('provisioned clusters are reconciled through their stored kubeconfigs', { skip }, async (t) => {
  const k = await startK8s(t);
  const kubeconfigText = readFileSync(k.kubeconfig, 'utf8');

  t.test('serve without --kubeconfig reconciles a provisioned cluster, and not after a reset', async (t) => {
    const dataDir = tempDir(t);
    // The record as cluster create leaves it: the kubeconfig sealed with the data directory's key.
    {
      const store = openStore({ file: join(dataDir, DB_FILE), log: silentLogger() });
      const c = store.clusters.create({ name: 'pis' });
      store.clusters.setKubeconfig(c.id, openSecretBox(join(dataDir, 'ca')).seal(Buffer.from(kubeconfigText)), k.server);
      store.close();
    }
    const config = loadConfig({ env: {}, cwd: dataDir, flags: { '/dataDir': dataDir, '/http/port': 0, '/agents/port': 0 } });
    let out = '';
    const cp = await startControlPlane({ config, version: 'test', logging: quiet(), out: (s) => (out += s) });
    t.teardown(() => cp.close());
    const status = async () =>
      (await (await fetch(`${cp.url}/api/v1/kubernetes`, { headers: { authorization: `Bearer ${cp.adminToken}` } })).json()) as {
        enabled: boolean;
        state: string;
        managed?: { cluster: string; state: string; server: string; synced: boolean }[];
      };
    let s = await status();
    for (let i = 0; i < 150 && s.managed?.[0]?.state !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      s = await status();
    }
    t.match(s, { enabled: false, state: 'off', managed: [{ cluster: 'pis', state: 'running', server: k.server }] });
    t.match(out, /Kubernetes: reconciling provisioned cluster pis on https:\/\/127\.0\.0\.1:\d+/);
    t.equal((await k.api('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gpiopins.gpio.pi-controller.io')).status, 200);
    const r = await k.kubectl(
      ['apply', '-f', '-'],
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: managed-far}\nspec: {nodeName: pi-nowhere, pin: 6, mode: input}\n',
    );
    t.equal(r.status, 0, r.stderr);
    t.equal(await reasonOf(k, 'managed-far'), 'NodeNotFound', 'the GPIOPin was reconciled: a status condition with its reason');

    // A reset forgets the kubeconfig; after a restart nothing reconciles that cluster.
    cp.store.clusters.clearProvisioned(cp.store.clusters.require('pis').id);
    await cp.close();
    out = '';
    const again = await startControlPlane({ config, version: 'test', logging: quiet(), out: (s) => (out += s) });
    t.teardown(() => again.close());
    const after = (await (
      await fetch(`${again.url}/api/v1/kubernetes`, { headers: { authorization: `Bearer ${again.adminToken}` } })
    ).json()) as {
      managed?: unknown;
    };
    t.equal(after.managed, undefined, 'no managed cluster');
    t.notMatch(out, /reconciling provisioned cluster/);
  });

  t.test("with two clusters stored, a provisioned cluster gets its own nodes only, never the other's", async (t) => {
    const dataDir = tempDir(t);
    const created = (store: ReturnType<typeof openStore>, clusterId: string, servers: string[]) => {
      const job = store.jobs.create(
        { kind: 'cluster.create', params: { clusterId, servers: servers.map((host) => ({ host, user: 'pi' })), agents: [] } },
        'test',
      );
      store.jobs.setState(job.id, 'succeeded');
    };
    // A kubelet registered `scope-kubelet` in the provisioned cluster; its stored node has no cluster.
    const kubelet = await k.api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'scope-kubelet' } });
    t.equal(kubelet.status, 201, JSON.stringify(kubelet.body));
    {
      const store = openStore({ file: join(dataDir, DB_FILE), log: silentLogger() });
      const pis = store.clusters.create({ name: 'pis' });
      store.clusters.setKubeconfig(pis.id, openSecretBox(join(dataDir, 'ca')).seal(Buffer.from(kubeconfigText)), k.server);
      created(store, pis.id, ['10.8.8.8']);
      // Another cluster (provisioned from this control plane too; its API server is not reachable here).
      const other = store.clusters.create({ name: 'other' });
      created(store, other.id, ['10.9.9.9']);
      store.nodes.create({ name: 'scope-own', clusterId: pis.id });
      store.nodes.create({ name: 'scope-host', address: '10.8.8.8' });
      store.nodes.create({ name: 'scope-other', clusterId: other.id });
      store.nodes.create({ name: 'scope-other-host', address: '10.9.9.9' });
      store.nodes.create({ name: 'scope-loose', address: '10.7.7.7' });
      store.nodes.create({ name: 'scope-kubelet' });
      store.close();
    }
    const config = loadConfig({ env: {}, cwd: dataDir, flags: { '/dataDir': dataDir, '/http/port': 0, '/agents/port': 0 } });
    const cp = await startControlPlane({ config, version: 'test', logging: quiet() });
    t.teardown(() => cp.close());
    const node = async (name: string) =>
      (await k.api('GET', `/api/v1/nodes/${name}`)) as { status: number; body: { metadata?: { labels?: Record<string, string> } } };
    const managedLabel = async (name: string) => (await node(name)).body.metadata?.labels?.['pi-controller.io/managed'];
    // Nodes are registered in name order, `scope-own` last: once it is labelled, one whole pass has run.
    for (let i = 0; i < 300 && (await managedLabel('scope-own')) !== 'true'; i++) await new Promise((r) => setTimeout(r, 200));
    t.equal(await managedLabel('scope-own'), 'true', 'the node whose record names the cluster is written');
    t.equal(await managedLabel('scope-host'), 'true', 'and the node at one of its provisioned hosts');
    t.equal(await managedLabel('scope-kubelet'), 'true', "a node of no cluster is labelled where the cluster's kubelet registered it");
    // A pass over every stored node has run (the two above came from it): the rest were left out.
    for (const name of ['scope-other', 'scope-other-host', 'scope-loose'])
      t.equal((await node(name)).status, 404, `${name} (another cluster's, or of no cluster and not registered here) is not created`);
    t.match(
      (await node('scope-kubelet')).body,
      { metadata: { annotations: undefined } },
      'the kubelet-registered node is not marked as ours',
    );
    for (const name of ['scope-own', 'scope-host', 'scope-kubelet']) await k.api('DELETE', `/api/v1/nodes/${name}`);
  });

  t.test('a job that ends starts the reconciler of a cluster it left a kubeconfig, and stops one it took away', async (t) => {
    const dir = tempDir(t);
    const store = openStore({ file: join(dir, 'state.db'), log: silentLogger() });
    t.teardown(() => store.close());
    const bus = recordingBus(store, silentLogger());
    const secrets = openSecretBox(join(dir, 'ca'));
    const port = provisionPort({ store, secrets, runner: new JobRunner({ store, bus, log: silentLogger(), secrets, kinds: [] }) });
    const made: string[] = [];
    const managed = new ManagedClusters({
      store,
      bus,
      log: silentLogger(),
      stored: (id) => port.kubeconfig(id),
      makeRunner: async (kube, cluster) => {
        made.push(cluster.name);
        return new ClusterRunner({ kube, store, bus, agents: undefined, log: silentLogger(), reconciler: { registerNodes: false } });
      },
    });
    t.teardown(() => managed.stop());
    await managed.start();
    t.same(managed.status(), [], 'nothing provisioned yet');

    const c = store.clusters.create({ name: 'later' });
    const job = store.jobs.create({ kind: 'cluster.create', params: { clusterId: c.id } }, 'test');
    store.clusters.setKubeconfig(c.id, secrets.seal(Buffer.from(kubeconfigText)), k.server);
    bus.emit('job.updated', { ...job, state: 'succeeded' });
    await until(() => managed.status()[0]?.state === 'running', 30_000);
    t.match(managed.status(), [{ cluster: 'later', clusterId: c.id, state: 'running' }]);
    t.same(made, ['later']);

    store.clusters.clearProvisioned(c.id);
    bus.emit('job.updated', { ...job, state: 'succeeded' });
    await until(() => managed.status().length === 0, 30_000);
    t.same(managed.status(), [], 'stopped after the kubeconfig was forgotten');
  });
});
