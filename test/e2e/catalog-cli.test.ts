/**
 * The catalog end to end: the real `pi-controller serve --kubeconfig` against a real
 * kube-apiserver (Nodes made by the test with architecture labels: amd64 and arm64), the
 * operator's catalog folder from a config file with an entry whose images are in a real local
 * registry (an amd64+arm64 index and an amd64-only image), and the CLI binary: list, install
 * (node affinity on the amd64-only workload), status, a viewer refused, an unknown cluster
 * refused with 404, remove, and the objects gone from the API server.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { k8sUnavailable, startK8s } from '../support/k8s/cluster.js';
import { pushTestImage, registryMissing, startRegistry } from '../support/oci-registry.js';
import { repoRoot } from '../support/paths.js';
import { startServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const skip = k8sUnavailable() ?? registryMissing() ?? false;
t.setTimeout(scaled(300_000));

interface Run {
  code: number;
  out: string;
  err: string;
}

t.test('catalog list, install, status and remove through the CLI against a real serve', { skip }, async (t) => {
  const [k, reg] = await Promise.all([startK8s(t), startRegistry(t)]);
  await pushTestImage(reg, 'pic/both', 'v1', [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux' },
  ]);
  await pushTestImage(reg, 'pic/amd', 'v1', [{ architecture: 'amd64', os: 'linux' }]);
  for (const [name, arch] of [
    ['x86-1', 'amd64'],
    ['pi5-1', 'arm64'],
  ])
    t.equal(
      (await k.api('POST', '/api/v1/nodes', { metadata: { name, labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux' } } }))
        .status,
      201,
    );

  const dir = tempDir(t);
  const entries = join(dir, 'entries');
  mkdirSync(entries);
  const comp = (name: string, image: string) =>
    [
      `  - name: ${name}`,
      `    image: ${image}`,
      `    ports: [{ name: http, port: 8080 }]`,
      `    resources: { requests: { cpu: 50m, memory: 32Mi }, limits: { memory: 64Mi } }`,
      `    storage: { mountPath: /data, size: 1Gi }`,
    ].join('\n');
  writeFileSync(
    join(entries, 'demo.yaml'),
    [
      'name: demo',
      'version: 1.2.3-1',
      'description: two workloads, one amd64 only',
      'components:',
      comp('web', `${reg.host}/pic/both:v1`),
      comp('worker', `${reg.host}/pic/amd:v1`),
      'notes: demo is up',
      '',
    ].join('\n'),
  );
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `catalog:\n  dir: ${entries}\n`);
  const data = join(dir, 'data');
  const serve = await startServe(data, {
    args: ['--port', '0', '--host', '127.0.0.1', '--agent-port', '0', '--kubeconfig', k.kubeconfig, '-c', config],
    timeoutMs: 120_000,
    stderr: 'collect',
  });
  t.teardown(() => {
    serve.child.kill('SIGTERM');
  });
  const admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const cli = (args: string[], token = admin): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(repoRoot(), 'dist/src/cli/main.js'), '--url', serve.url, '--token', token, ...args],
        { encoding: 'utf8', timeout: scaled(120_000), env: { ...process.env, PI_CONTROLLER_CLI_CONFIG: join(dir, 'cli.json') } },
        (err, out, stderr) => {
          const code = (err as { code?: unknown } | null)?.code;
          resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, out, err: stderr });
        },
      );
    });

  const list = await cli(['--json', 'catalog', 'list']);
  t.equal(list.code, 0, list.err);
  t.same(
    (JSON.parse(list.out) as { name: string }[]).map((e) => e.name),
    ['demo', 'minio', 'postgresql', 'prometheus-grafana'],
  );
  const human = await cli(['catalog', 'list']);
  t.match(human.out, /^NAME\s+VERSION\s+DATA\s+IMAGES/);

  const viewer = (await cli(['token', 'create', 'v', '--role', 'viewer'])).out.split('\n')[0]!;
  const refused = await cli(['catalog', 'install', 'demo'], viewer);
  t.equal(refused.code, 4, 'a viewer may not install');
  const unknown = await cli(['catalog', 'install', 'demo', '--cluster', 'nowhere']);
  t.equal(unknown.code, 5);
  t.match(unknown.err, /CLUSTER_NOT_FOUND/);
  t.equal((await k.api('GET', '/api/v1/namespaces/pic-demo')).status, 404, 'nothing was created');

  const inst = await cli(['catalog', 'install', 'demo', '--storage', 'emptyDir']);
  t.equal(inst.code, 0, inst.err);
  t.match(inst.out, /installed demo 1\.2\.3-1 on default in namespace pic-demo/);
  t.match(inst.out, /pic\/amd:v1: linux\/amd64 \(not on pi5-1: node affinity added\)/);
  t.match(inst.out, /demo is up/);
  const worker = await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/worker');
  t.same(worker.body.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
    { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] },
  ]);
  t.same(worker.body.spec.template.spec.volumes, [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }], 'emptyDir as chosen');
  const web = await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/web');
  t.notOk(web.body.spec.template.spec.affinity, 'every node runs the web image: no affinity');

  const again = await cli(['catalog', 'install', 'demo']);
  t.equal(again.code, 7);
  t.match(again.err, /CATALOG_ALREADY_INSTALLED/);

  const status = await cli(['--json', 'catalog', 'status', 'demo']);
  t.equal(status.code, 0, status.err);
  const st = JSON.parse(status.out) as { state: string; storage: string; workloads: { name: string; affinity: string[] | null }[] };
  t.equal(st.state, 'progressing');
  t.equal(st.storage, 'emptyDir');
  t.same(
    st.workloads.map((w) => [w.name, w.affinity]),
    [
      ['web', null],
      ['worker', ['amd64']],
    ],
  );
  const all = await cli(['catalog', 'status']);
  t.match(all.out, /demo\s+1\.2\.3-1\s+default\s+pic-demo\s+progressing\s+web 0\/1; worker 0\/1 \[amd64\]/);

  const rm = await cli(['--json', 'catalog', 'remove', 'demo'], viewer);
  t.equal(rm.code, 4, 'a viewer may not remove');
  const removed = await cli(['--json', 'catalog', 'remove', 'demo']);
  t.equal(removed.code, 0, removed.err);
  t.same((JSON.parse(removed.out) as { deleted: string[] }).deleted, [
    'Service/worker',
    'Deployment/worker',
    'Service/web',
    'Deployment/web',
    'Namespace/pic-demo',
  ]);
  t.equal((await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/web')).status, 404);
  t.equal((await k.api('GET', '/api/v1/namespaces/pic-demo/services/worker')).status, 404);
  const after = await cli(['catalog', 'status', 'demo']);
  t.equal(after.code, 5);
  t.match(after.err, /CATALOG_NOT_INSTALLED/);
});
