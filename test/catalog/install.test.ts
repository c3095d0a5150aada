/**
 * Catalog installs against a real registry (Debian's docker-registry, multi-arch indexes pushed
 * by the test: amd64+arm64, amd64 only, arm/v7 only) and a real kube-apiserver whose Nodes the
 * test creates with architecture labels (the rig has no kubelets): mixed nodes give node
 * affinity on the architectures that can run each image; an image no node can run is refused
 * and nothing is created; a registry that is down or an image that does not exist is a clear
 * error and nothing is created; status reads the Deployments; remove deletes exactly the
 * objects the install created.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { CatalogEntry } from '../../src/api/catalog.js';
import { ControllerError } from '../../src/api/errors.js';
import type { ClusterApis } from '../../src/core/ports.js';
import { loadCatalog, parseEntry } from '../../src/catalog/entries.js';
import { buildObjects, kindPath } from '../../src/catalog/objects.js';
import { CatalogService } from '../../src/catalog/service.js';
import { RegistryClient } from '../../src/catalog/registry.js';
import { kubeApi } from '../../src/cluster/raw.js';
import { openSecretBox } from '../../src/certs/index.js';
import { recordingBus } from '../../src/events/bus.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { provisionPort } from '../../src/provision/k3s.js';
import { openStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log/index.js';
import { catalogClusters } from '../../src/daemon/catalog.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';
import { freePort, pushTestImage, registryMissing, startRegistry } from '../support/oci-registry.js';

const skip = k8sUnavailable() ?? registryMissing() ?? false;

const AMD64 = { architecture: 'amd64', os: 'linux' };
const ARM64 = { architecture: 'arm64', os: 'linux' };
const ARMV7 = { architecture: 'arm', os: 'linux', variant: 'v7' };

function entry(name: string, images: Record<string, string>, storage = true): CatalogEntry {
  return parseEntry(
    JSON.stringify({
      name,
      version: '1.0-1',
      description: `test entry ${name}`,
      secrets: [{ name: 'creds', keys: ['password'] }],
      configMaps: [{ name: 'conf', data: { 'app.conf': 'x=1\n' } }],
      components: Object.entries(images).map(([c, image]) => ({
        name: c,
        image,
        env: [{ name: 'PASSWORD', secret: { name: 'creds', key: 'password' } }],
        ports: [{ name: 'http', port: 8080 }],
        resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
        ...(storage ? { storage: { mountPath: '/data', size: '1Gi' } } : {}),
        mounts: [{ configMap: 'conf', mountPath: '/etc/app' }],
      })),
    }),
    `${name}.yaml`,
  );
}

async function addNode(k: K8sCluster, name: string, arch: string, variant?: string): Promise<void> {
  const labels: Record<string, string> = { 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux' };
  if (variant) labels['pi-controller.io/arch-variant'] = variant;
  const r = await k.api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  if (r.status !== 201) throw new Error(`node ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Namespaces and objects the catalog made, by label. */
async function catalogObjects(k: K8sCluster): Promise<string[]> {
  const sel = encodeURIComponent('app.kubernetes.io/managed-by=pi-controller');
  const out: string[] = [];
  for (const [path, kind] of [
    ['/api/v1/namespaces', 'Namespace'],
    ['/api/v1/secrets', 'Secret'],
    ['/api/v1/configmaps', 'ConfigMap'],
    ['/api/v1/persistentvolumeclaims', 'PersistentVolumeClaim'],
    ['/api/v1/services', 'Service'],
    ['/apis/apps/v1/deployments', 'Deployment'],
  ] as const) {
    const r = await k.api('GET', `${path}?labelSelector=${sel}`);
    for (const o of r.body.items as { metadata: { name: string; namespace?: string; deletionTimestamp?: string } }[])
      if (!o.metadata.deletionTimestamp) out.push(`${kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
  }
  return out.sort();
}

t.test('catalog install, status and remove', { skip }, async (t) => {
  const [k, reg] = await Promise.all([startK8s(t), startRegistry(t)]);
  const both = `${reg.host}/pic/both:v1`;
  const amd = `${reg.host}/pic/amd:v1`;
  const armv7 = `${reg.host}/pic/armv7:v1`;
  await pushTestImage(reg, 'pic/both', 'v1', [AMD64, ARM64]);
  await pushTestImage(reg, 'pic/amd', 'v1', [AMD64]);
  await pushTestImage(reg, 'pic/armv7', 'v1', [ARMV7]);
  const closed = await freePort();

  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const clusters: ClusterApis = async (name) => {
    if (name !== undefined && name !== 'default') throw new ControllerError('CLUSTER_NOT_FOUND', 404, `cluster ${name} not found`);
    return { name: 'default', api: kubeApi(kc) };
  };
  const svc = new CatalogService({
    entries: [
      entry('mixed', { web: both, worker: amd }),
      entry('armonly', { app: armv7 }, false),
      // The same image under another name: pic-armonly is still being finalized after its removal.
      entry('armtoo', { app: armv7 }, false),
      entry('gone', { app: `127.0.0.1:${closed}/pic/both:v1` }),
      entry('missing', { app: `${reg.host}/pic/absent:v1` }),
    ],
    registry: new RegistryClient({ timeoutMs: 10_000 }),
    clusters,
    secretValue: () => 'not-random',
  });
  await addNode(k, 'x86-1', 'amd64');
  await addNode(k, 'pi5-1', 'arm64');
  await addNode(k, 'pi3-1', 'arm', 'v7');

  t.test('mixed nodes: affinity on the architectures that can run each image', async (t) => {
    const r = await svc.install('mixed', { storage: 'local-path' });
    t.equal(r.install.namespace, 'pic-mixed');
    t.same(
      r.images.map((i) => [i.image, i.nodes.sort(), i.excluded.sort()]),
      [
        [both, ['pi5-1', 'x86-1'], ['pi3-1']],
        [amd, ['x86-1'], ['pi3-1', 'pi5-1']],
      ],
    );
    t.same(
      r.images[0]!.platforms.map((p) => `${p.os}/${p.architecture}`),
      ['linux/amd64', 'linux/arm64'],
    );
    const web = await k.api('GET', '/apis/apps/v1/namespaces/pic-mixed/deployments/web');
    t.same(web.body.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
      { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] },
      { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }] },
    ]);
    const worker = await k.api('GET', '/apis/apps/v1/namespaces/pic-mixed/deployments/worker');
    t.same(worker.body.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
      { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] },
    ]);
    const c = worker.body.spec.template.spec.containers[0];
    t.equal(c.image, amd);
    t.same(c.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } });
    t.same(c.env, [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } }]);
    t.same(worker.body.spec.template.spec.volumes[0], { name: 'data', persistentVolumeClaim: { claimName: 'worker-data' } });
    const pvc = await k.api('GET', '/api/v1/namespaces/pic-mixed/persistentvolumeclaims/worker-data');
    t.equal(pvc.body.spec.storageClassName, 'local-path');
    t.equal(pvc.body.spec.resources.requests.storage, '1Gi');
    const secret = await k.api('GET', '/api/v1/namespaces/pic-mixed/secrets/creds');
    t.equal(Buffer.from(secret.body.data.password, 'base64').toString(), 'not-random');

    t.same(
      r.install.workloads.map((w) => [w.name, w.affinity, w.ready, w.desired]),
      [
        ['web', ['amd64', 'arm64'], 0, 1],
        ['worker', ['amd64'], 0, 1],
      ],
    );
    t.equal(r.install.state, 'progressing', 'no kubelet runs the pods');
    t.same(r.install.objects, [
      'Secret/creds',
      'ConfigMap/conf',
      'PersistentVolumeClaim/web-data',
      'Deployment/web',
      'Service/web',
      'PersistentVolumeClaim/worker-data',
      'Deployment/worker',
      'Service/worker',
      'Namespace/pic-mixed',
    ]);
    await t.rejects(svc.install('mixed', {}), { code: 'CATALOG_ALREADY_INSTALLED', status: 409 });

    // The Deployment reports a ready replica: status says so.
    const st = await k.api(
      'PATCH',
      '/apis/apps/v1/namespaces/pic-mixed/deployments/web/status',
      { status: { replicas: 1, readyReplicas: 1 } },
      'application/merge-patch+json',
    );
    t.equal(st.status, 200);
    const [s] = await svc.status(undefined, 'mixed');
    t.same(
      s!.workloads.map((w) => [w.name, w.ready]),
      [
        ['web', 1],
        ['worker', 0],
      ],
    );
    t.equal((await svc.status('default')).length, 1);

    // Objects that are not the install's stay: one in another namespace with the same labels.
    const foreign = await k.api('POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'conf', labels: { 'app.kubernetes.io/managed-by': 'pi-controller', 'catalog.pi-controller.io/entry': 'mixed' } },
      data: {},
    });
    t.equal(foreign.status, 201);
    const before = await catalogObjects(k);
    const rm = await svc.remove('mixed', undefined);
    t.same(rm.deleted, [...r.install.objects.slice(0, -1).reverse(), 'Namespace/pic-mixed']);
    for (const id of r.install.objects.slice(0, -1)) {
      const [kind, name] = id.split('/');
      const path =
        kind === 'Deployment'
          ? `/apis/apps/v1/namespaces/pic-mixed/deployments/${name}`
          : `/api/v1/namespaces/pic-mixed/${kind === 'PersistentVolumeClaim' ? 'persistentvolumeclaims' : `${kind!.toLowerCase()}s`}/${name}`;
      const g = await k.api('GET', path);
      // Without a controller manager a PVC keeps its protection finalizer: it is deleted, not yet gone.
      t.ok(g.status === 404 || g.body.metadata.deletionTimestamp, `${id} deleted`);
    }
    t.same(
      await catalogObjects(k),
      before.filter((o) => !o.includes('pic-mixed')),
    );
    t.ok((await catalogObjects(k)).includes('ConfigMap/default/conf'), 'the foreign object stays');
    await t.rejects(svc.status(undefined, 'mixed'), { code: 'CATALOG_NOT_INSTALLED', status: 404 });
    await t.rejects(svc.remove('mixed', undefined), { code: 'CATALOG_NOT_INSTALLED', status: 404 });
  });

  t.test('an arm/v7 image on a cluster with an armv7 node: only there', async (t) => {
    const r = await svc.install('armonly', {});
    t.same(r.install.workloads[0]!.affinity, ['arm']);
    t.same(r.images[0]!.nodes, ['pi3-1']);
    await svc.remove('armonly', 'default');
  });

  t.test('no node can run the image: refused, nothing created', async (t) => {
    t.equal((await k.api('DELETE', '/api/v1/nodes/pi3-1')).status, 200);
    const before = await catalogObjects(k);
    const err = await svc.install('armtoo', {}).catch((e: unknown) => e);
    t.match(err, {
      code: 'PLATFORM_UNSUPPORTED',
      status: 409,
      message: new RegExp(
        `no node can run ${armv7.replace(/[.]/g, '\\.')} \\(built for linux/arm/v7\\); the nodes are linux/amd64, linux/arm64`,
      ),
      details: { image: armv7, platforms: ['linux/arm/v7'], nodePlatforms: ['linux/amd64', 'linux/arm64'] },
    });
    t.same(await catalogObjects(k), before);
  });

  t.test('registry down or image missing: a clear error, nothing created', async (t) => {
    const before = await catalogObjects(k);
    await t.rejects(svc.install('gone', {}), {
      code: 'REGISTRY_UNREACHABLE',
      status: 502,
      message: /ECONNREFUSED/,
      details: { image: `127.0.0.1:${closed}/pic/both:v1` },
    });
    await t.rejects(svc.install('missing', {}), { code: 'IMAGE_NOT_FOUND', details: { image: `${reg.host}/pic/absent:v1` } });
    t.same(await catalogObjects(k), before);
    t.equal((await k.api('GET', '/api/v1/namespaces/pic-gone')).status, 404);
  });

  t.test("the shipped entries' objects pass the API server's validation (server-side dry run)", async (t) => {
    for (const e of loadCatalog()) {
      for (const storage of ['local-path', 'emptyDir'] as const) {
        const [ns, ...objs] = buildObjects(e, { storage, placements: [], now: new Date().toISOString() });
        // The namespace for real (a dry run in a namespace that does not exist is refused), the rest dry.
        const made = await k.api('POST', '/api/v1/namespaces', {
          ...ns,
          metadata: { ...ns!.metadata, name: `dry-${e.name}-${storage}`.toLowerCase() },
        });
        t.equal(made.status, 201);
        for (const o of objs) {
          const r = await k.api('POST', `${kindPath(o.kind, made.body.metadata.name)}?dryRun=All`, {
            ...o,
            metadata: { ...o.metadata, namespace: made.body.metadata.name },
          });
          t.equal(
            r.status,
            201,
            `${e.name} (${storage}) ${o.kind}/${o.metadata.name}: ${r.status === 201 ? 'valid' : JSON.stringify(r.body.message)}`,
          );
        }
      }
    }
  });

  t.test('a provisioned cluster is reached by its name through its sealed kubeconfig, as serve wires it', async (t) => {
    // The record and its sealed kubeconfig as cluster create leaves them (src/provision/k3s.ts), in
    // a real SQLite file; the kubeconfig is this rig's, so the install lands in the same API server.
    const dir = tempDir(t);
    const store = openStore({ file: join(dir, 'state.db'), log: silentLogger() });
    t.teardown(() => store.close());
    const secrets = openSecretBox(join(dir, 'ca'));
    const runner = new JobRunner({ store, bus: recordingBus(store, silentLogger()), log: silentLogger(), secrets, kinds: [] });
    const port = provisionPort({ store, secrets, runner });
    const pi = store.clusters.create({ name: 'pis' });
    store.clusters.setKubeconfig(pi.id, secrets.seal(Buffer.from(readFileSync(k.kubeconfig, 'utf8'))), 'https://127.0.0.1');
    const declared = store.clusters.create({ name: 'declared' });
    const managed = new CatalogService({
      entries: [entry('viastored', { app: both })],
      registry: new RegistryClient({ timeoutMs: 10_000 }),
      clusters: catalogClusters(store, undefined, (id) => port.kubeconfig(id)),
      secretValue: () => 'not-random',
    });
    const r = await managed.install('viastored', { cluster: 'pis' });
    t.equal(r.install.cluster, 'pis');
    t.equal((await k.api('GET', '/apis/apps/v1/namespaces/pic-viastored/deployments/app')).status, 200, 'created in that API server');
    t.same(
      (await managed.status(pi.id, 'viastored')).map((i) => i.cluster),
      ['pis'],
      'by id too',
    );
    await t.rejects(managed.status('declared'), { code: 'CLUSTER_NOT_CONNECTED', status: 409, details: { cluster: declared.name } });
    await t.rejects(managed.status(undefined), { code: 'KUBERNETES_OFF', status: 503 });
    await managed.remove('viastored', 'pis');
    // After a reset the cluster has no kubeconfig: not reachable any more, not a stale client.
    store.clusters.clearProvisioned(pi.id);
    await t.rejects(managed.status('pis'), { code: 'CLUSTER_NOT_CONNECTED', status: 409 });
  });

  t.test('unknown entries and clusters', async (t) => {
    await t.rejects(svc.install('nope', {}), { code: 'CATALOG_ENTRY_NOT_FOUND', status: 404 });
    await t.rejects(svc.install('mixed', { cluster: 'elsewhere' }), { code: 'CLUSTER_NOT_FOUND', status: 404 });
  });
});
