/**
 * `serve --kubeconfig`: a kubeconfig that cannot be used is refused at start with one line naming
 * the file and the problem (exit 2, no stack trace, nothing written); without one, serve says
 * once that Kubernetes reconciliation is off and reports it so. The real `serve` process; the
 * running reconciler itself is covered by test/e2e/k8s-serve.test.ts.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { repoRoot } from '../support/paths.js';
import { startServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(120_000));

/** Runs `pi-controller serve` to its end; resolves with the exit code and stderr. */
function serveOnce(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot(), 'dist/src/cli/main.js'), 'serve', '--port', '0', '--agent-port', '0', ...args],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, PI_CONTROLLER_LOG_FORMAT: 'json', ...env },
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // A serve that started anyway would run on: bounded, then ended, and the test fails on its code.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const VALID = (ca: string) =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: k3s',
    `  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "${ca}"}`,
    'users:',
    '- name: admin',
    '  user: {token: abc}',
    'contexts:',
    '- name: default',
    '  context: {cluster: k3s, user: admin}',
    'current-context: default',
    '',
  ].join('\n');

t.test('an unusable kubeconfig is refused at start, naming the file and the problem', async (t) => {
  const dir = tempDir(t, 'pic-kubeconfig-');
  const ca = join(dir, 'ca.crt');
  const cases: [string, string | null, RegExp][] = [
    ['missing.yaml', null, /no such file/],
    ['garbage.yaml', 'clusters: [unclosed\n  : : :', /not a valid kubeconfig/],
    ['empty.yaml', 'apiVersion: v1\nkind: Config\n', /not a valid kubeconfig: it defines no cluster/],
    [
      'no-server.yaml',
      VALID(ca).replace('server: "https://127.0.0.1:6443", ', ''),
      /not a valid kubeconfig: clusters\[0\]\.cluster\.server is missing/,
    ],
    [
      'wrong-context.yaml',
      VALID(ca).replace('current-context: default', 'current-context: prod'),
      /current-context "prod" is not among its contexts/,
    ],
    ['no-ca-file.yaml', VALID(ca), /cannot use its credentials: .*ENOENT/],
  ];
  for (const [name, text, problem] of cases) {
    const file = join(dir, name);
    if (text !== null) writeFileSync(file, text);
    const dataDir = join(dir, `data-${name}`);
    const r = await serveOnce(['--data-dir', dataDir, '--kubeconfig', file]);
    t.equal(r.code, 2, `${name}: exit 2 (configuration)`);
    t.match(
      r.stderr,
      new RegExp(`/kubernetes/kubeconfig: kubeconfig ${file.replace(/[.]/g, '\\.')}: ${problem.source}`),
      `${name}: names the file and the problem`,
    );
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
    t.notOk(existsSync(dataDir), `${name}: nothing was created`);
  }
  // The same through the environment: the path is resolved against the working directory.
  const r = await serveOnce(['--data-dir', join(dir, 'data-env')], { PI_CONTROLLER_KUBECONFIG: join(dir, 'missing.yaml') });
  t.equal(r.code, 2);
  t.match(r.stderr, /kubeconfig .*missing\.yaml: no such file/);
});

t.test(
  'kubernetes.kubeconfig comes from a flag, the environment or the config file; relative paths from the working directory',
  async (t) => {
    const dir = tempDir(t, 'pic-kubeconfig-cfg-');
    t.equal(loadConfig({ cwd: dir }).kubernetes.kubeconfig, '', 'off by default');
    t.equal(loadConfig({ cwd: dir, env: { PI_CONTROLLER_KUBECONFIG: 'k3s.yaml' } }).kubernetes.kubeconfig, join(dir, 'k3s.yaml'));
    writeFileSync(join(dir, 'c.yaml'), 'kubernetes:\n  kubeconfig: /etc/rancher/k3s/k3s.yaml\n');
    t.equal(loadConfig({ cwd: dir, file: 'c.yaml' }).kubernetes.kubeconfig, '/etc/rancher/k3s/k3s.yaml');
    t.equal(
      loadConfig({ cwd: dir, file: 'c.yaml', flags: { '/kubernetes/kubeconfig': '/tmp/other.yaml' } }).kubernetes.kubeconfig,
      '/tmp/other.yaml',
      'the flag wins',
    );
    writeFileSync(join(dir, 'bad.yaml'), 'kubernetes:\n  kubeconfig: 7\n  context: x\n');
    t.throws(() => loadConfig({ cwd: dir, file: 'bad.yaml' }), {
      code: 'CONFIG_INVALID',
      message: /\/kubernetes\/kubeconfig: Expected string/,
    });
    t.throws(() => loadConfig({ cwd: dir, file: 'bad.yaml' }), { message: /\/kubernetes\/context/ }, 'an unknown key is refused');
  },
);

t.test('without a kubeconfig serve says once that reconciliation is off, and reports it', async (t) => {
  const dataDir = tempDir(t, 'pic-kubeconfig-off-');
  const cp = await startServe(dataDir, { args: ['--port', '0', '--agent-port', '0'], timeoutMs: 60_000 });
  t.teardown(() => void cp.child.kill('SIGKILL'));
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const get = async (path: string) => {
    const r = await fetch(cp.url + path, { headers: { authorization: `Bearer ${admin}` } });
    return { status: r.status, text: await r.text() };
  };
  const k = await get('/api/v1/kubernetes');
  t.equal(k.status, 200);
  t.same(JSON.parse(k.text), {
    enabled: false,
    state: 'off',
    source: null,
    server: null,
    connected: false,
    synced: false,
    queueDepth: 0,
    attempts: 0,
    lastError: null,
    nextAttemptAt: null,
    runningSince: null,
  });
  t.match((await get('/metrics')).text, /^pi_controller_kubernetes_connected 0$/m);
  const exited = new Promise((r) => cp.child.once('exit', r));
  cp.child.kill('SIGTERM');
  await exited;
  t.equal(cp.output().match(/Kubernetes reconciliation is off/g)?.length, 1, 'said once');
});

t.test('SIGTERM while the API server holds the first request unanswered: serve still ends, with code 0', async (t) => {
  // A peer that accepts connections and never says a word: the start attempt's requests wait on
  // it for their own timeouts (30 s), longer than a stop may take.
  const held: Socket[] = [];
  const silent = createServer((s) => void held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const port = (silent.address() as AddressInfo).port;
  const dir = tempDir(t, 'pic-kubeconfig-silent-');
  const file = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    file,
    VALID('unused').replace(
      `server: "https://127.0.0.1:6443", certificate-authority: "unused"`,
      `server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true`,
    ),
  );
  const cp = await startServe(join(dir, 'data'), { args: ['--port', '0', '--agent-port', '0', '--kubeconfig', file], timeoutMs: 60_000 });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    cp.child.once('exit', (code, signal) => r({ code, signal })),
  );
  // Bounded: a serve that never ends is killed, and the test fails on the signal.
  const guard = setTimeout(() => cp.child.kill('SIGKILL'), 25_000);
  t.teardown(() => clearTimeout(guard));
  const end = Date.now() + 20_000;
  while (held.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.ok(held.length > 0, 'the start attempt reached the silent API server');
  cp.child.kill('SIGTERM');
  const r = await exited;
  t.same(r, { code: 0, signal: null }, 'ended on its own with code 0, not killed');
  t.match(cp.output(), /kubernetes reconciler stopped/);
});
