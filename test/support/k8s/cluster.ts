/**
 * A real Kubernetes API server for tests: etcd 3.4 (Debian) and kube-apiserver 1.20.2 (built by
 * scripts/setup/40-k8s.sh into the cache) on 127.0.0.1 with free ports, etcd's data on a tmpfs
 * (/dev/shm) where there is one, a temporary directory
 * with an openssl-made CA and serving certificate, a static admin token, and a kubeconfig. With
 * `controllerManager: true` the kube-controller-manager from the same build runs the namespace
 * and garbage-collector controllers. Everything is stopped (SIGTERM, then SIGKILL) and the
 * directory removed when the test ends, and on process exit.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from '../../../src/cluster/raw.js';

/** Where the rig's binaries are: the folder 40-k8s.sh recorded, or null when it has not run. */
export function k8sBinDir(): string | null {
  const caches = [
    process.env.PI_CONTROLLER_CACHE ?? '/var/cache/pi-controller',
    join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/root', '.cache'), 'pi-controller'),
  ];
  for (const c of caches) {
    const f = join(c, 'k8s.current');
    if (!existsSync(f)) continue;
    const dir = readFileSync(f, 'utf8').trim();
    if (existsSync(join(dir, 'kube-apiserver')) && existsSync(join(dir, 'kube-controller-manager'))) return dir;
  }
  return null;
}

/** Why the rig cannot run here, or null when it can (tests skip with this reason). */
export function k8sUnavailable(): string | null {
  if (!k8sBinDir()) return 'kube-apiserver is not built: run scripts/setup/40-k8s.sh (npm test does)';
  for (const b of ['/usr/bin/etcd', '/usr/bin/kubectl', '/usr/bin/openssl']) if (!existsSync(b)) return `${b} is missing`;
  return null;
}

export interface K8sCluster {
  /** https://127.0.0.1:port */
  server: string;
  token: string;
  caFile: string;
  caPem: string;
  kubeconfig: string;
  dir: string;
  /** Where etcd keeps its data: a tmpfs (/dev/shm, the default where it exists) or the disk. */
  etcdData: 'tmpfs' | 'disk';
  /**
   * Runs kubectl against this cluster; resolves with stdout, stderr and the exit status (never
   * rejects on a non-zero status). Asynchronous on purpose: a controller in this process must
   * keep running while kubectl waits (e.g. for a finalizer on delete).
   */
  kubectl(args: string[], input?: string): Promise<{ status: number; stdout: string; stderr: string }>;
  /** One request with the admin token (JSON in and out). */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- raw API answers are inspected field by field
  stop(): Promise<void>;
}

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the CA, serving certificate, service-account key pair and token file. */
function makePki(dir: string, token: string): void {
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '30',
    '-subj',
    '/CN=pi-controller-test-ca',
  ]);
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'apiserver.key',
    '-out',
    'apiserver.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'apiserver.crt',
    '-days',
    '30',
    '-extfile',
    'ext.cnf',
  ]);
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,system:masters\n`);
}

const live = new Set<ChildProcess>();
let exitHook = false;

function daemon(cmd: string, args: string[], log: string): ChildProcess {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    // A test that dies without its teardown must not leave servers behind.
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  return child;
}

async function stopChild(c: ChildProcess, graceMs = 3000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Starts etcd + kube-apiserver (+ kube-controller-manager); resolves when /readyz says ok and the
 * `default` namespace exists. */
export async function startK8s(
  t: Teardown,
  opts: { controllerManager?: boolean; readyTimeoutMs?: number; etcdOnDisk?: boolean } = {},
): Promise<K8sCluster> {
  const bin = k8sBinDir();
  if (!bin) throw new Error('kube-apiserver is not built: run scripts/setup/40-k8s.sh');
  const dir = mkdtempSync(join(tmpdir(), 'pic-k8s-'));
  const pki = join(dir, 'pki');
  mkdirSync(pki);
  const token = `pic-test-${process.pid}-${Date.now()}`;
  // etcd fsyncs every write; on this rig (a test, not the product) its data lives in memory when
  // /dev/shm exists, so the API server's write rate is not that of the disk under other load.
  const etcdData: K8sCluster['etcdData'] = !opts.etcdOnDisk && existsSync('/dev/shm') ? 'tmpfs' : 'disk';
  const etcdDir = etcdData === 'tmpfs' ? mkdtempSync('/dev/shm/pic-etcd-') : join(dir, 'etcd');
  // Memory is not given back by a test that dies without its teardown unless this runs.
  if (etcdData === 'tmpfs') process.once('exit', () => rmSync(etcdDir, { recursive: true, force: true }));
  makePki(pki, token);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Reverse order: controllers, API server, then its store.
    for (const p of procs.reverse()) await stopChild(p);
    rmSync(dir, { recursive: true, force: true });
    rmSync(etcdDir, { recursive: true, force: true });
  };
  t.teardown(stop);

  procs.push(
    daemon(
      '/usr/bin/etcd',
      [
        '--name',
        'pic',
        '--data-dir',
        etcdDir,
        '--listen-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-cluster',
        `pic=http://127.0.0.1:${peerPort}`,
        '--log-level',
        'warn',
      ],
      join(dir, 'etcd.log'),
    ),
  );
  procs.push(
    daemon(
      join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${pki}/apiserver.crt`,
        `--tls-private-key-file=${pki}/apiserver.key`,
        `--service-account-key-file=${pki}/sa.pub`,
        `--service-account-signing-key-file=${pki}/sa.key`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.0.0.0/24',
        `--token-auth-file=${pki}/tokens.csv`,
        '--authorization-mode=RBAC',
        '--endpoint-reconciler-type=none',
        // Tests may create objects faster than the default in-flight limits allow.
        '--max-requests-inflight=1000',
        '--max-mutating-requests-inflight=500',
      ],
      join(dir, 'apiserver.log'),
    ),
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(pki, 'ca.crt');
  const caPem = readFileSync(caFile, 'utf8');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: test`,
      `  cluster: {server: "${server}", certificate-authority: "${caFile}"}`,
      'users:',
      `- name: admin`,
      `  user: {token: ${token}}`,
      'contexts:',
      `- name: test`,
      `  context: {cluster: test, user: admin, namespace: default}`,
      'current-context: test',
      '',
    ].join('\n'),
  );
  // The same request path the product uses (keep-alive pool, the kubeconfig's token and CA).
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api: K8sCluster['api'] = (method, path, body, contentType) => rawRequest(kc, method, path, body, contentType, 15_000);

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    const r = await api('GET', '/readyz').catch(() => ({ status: 0, body: '' }));
    // /readyz can say ok before the API server's bootstrap controller has made the `default`
    // namespace (it does so on its own loop); tests create objects there at once.
    const ns = r.status === 200 && r.body === 'ok' ? await api('GET', '/api/v1/namespaces/default').catch(() => ({ status: 0 })) : null;
    if (ns?.status === 200) break;
    const dead = procs.find((p) => p.exitCode !== null);
    if (dead || Date.now() > deadline) {
      const log = readFileSync(join(dir, 'apiserver.log'), 'utf8').slice(-2000);
      await stop();
      throw new Error(`kube-apiserver did not become ready${dead ? ' (a process exited)' : ''}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  if (opts.controllerManager) {
    writeFileSync(join(dir, 'cm.kubeconfig'), readFileSync(kubeconfig));
    procs.push(
      daemon(
        join(bin, 'kube-controller-manager'),
        [
          `--kubeconfig=${kubeconfig}`,
          '--controllers=namespace,garbagecollector',
          '--leader-elect=false',
          `--secure-port=${await freePort()}`,
          '--bind-address=127.0.0.1',
          `--service-account-private-key-file=${pki}/sa.key`,
          `--root-ca-file=${caFile}`,
        ],
        join(dir, 'controller-manager.log'),
      ),
    );
  }

  const kubectl: K8sCluster['kubectl'] = (args, input) =>
    new Promise((resolve) => {
      const child = execFile(
        '/usr/bin/kubectl',
        ['--kubeconfig', kubeconfig, ...args],
        { encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = (err as { code?: unknown } | null)?.code;
          resolve({ status: err ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
        },
      );
      child.stdin?.end(input ?? '');
    });

  return { server, token, caFile, caPem, kubeconfig, dir, etcdData, kubectl, api, stop };
}
