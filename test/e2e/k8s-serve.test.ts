/**
 * End to end with the real processes: a real kube-apiserver 1.20.2 (test/support/k8s), the real
 * `pi-controller serve --kubeconfig` process, and two real `pi-controller agent --sim` processes
 * enrolled against it with join tokens, each over the behavioural BCM2711 model whose register
 * page is a file in its state directory (the silicon is the only thing simulated).
 *
 * serve reaches the API server through a TCP forwarder that this test opens late, so serve
 * starts while the API server cannot be reached. Then: `kubectl apply` sets a bit in an agent's
 * register page; serve is killed with SIGKILL in the middle of 500 changes and started again on
 * the same data directory and kubeconfig, and everything must converge; SIGTERM ends it with 0.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tcpGate } from '../support/k8s/gate.js';
import { repoRoot } from '../support/paths.js';
import { startServe, type ServeProcess } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../agent/rig.js';
import { scaled } from '../support/wait.js';

const skip = k8sUnavailable();
t.setTimeout(scaled(420_000));

type T = { teardown(fn: () => void | Promise<void>): void };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API objects are inspected field by field
type Obj = any;

const GPIOPINS = '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins';

/** The level of a pin as the register page file holds it (GPLEV0 at 0x34, bit = pin). */
function level(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(0x34) >>> pin) & 1;
}

function gpio(name: string, node: string, pin: number, extra: string): string {
  return `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: ${name}}\nspec: {nodeName: ${node}, pin: ${pin}, ${extra}}\n`;
}

interface AgentProc {
  child: ChildProcess;
  page: string;
  output(): string;
}

/** Runs `pi-controller agent --sim` as a process (it stops with this test process: stdin pipe). */
function startAgentProcess(t: T, stateDir: string, server: string, token: string): AgentProc {
  const child = spawn(
    process.execPath,
    [
      join(repoRoot(), 'dist/src/cli/main.js'),
      'agent',
      '--server',
      server,
      '--join-token',
      token,
      '--state-dir',
      stateDir,
      '--sim',
      '--health-interval',
      '2000',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PI_CONTROLLER_STOP_WITH_PARENT: '1' },
    },
  );
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  });
  return { child, page: join(stateDir, 'gpiomem.sim'), output: () => out };
}

/** Waits until `check()` resolves to a value that is not undefined, polling; the error names `what` and the last state. */
async function eventually<R>(what: string, ms: number, check: () => Promise<R | undefined>, state: () => string = () => ''): Promise<R> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await check().catch(() => undefined);
    if (r !== undefined) return r;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s; ${state()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

t.test('serve --kubeconfig with two agent processes on a real API server', { skip: skip ?? false }, async (t) => {
  const k: K8sCluster = await startK8s(t);
  const fwd = await tcpGate(t, Number(new URL(k.server).port));
  const dir = tempDir(t, 'pic-k8s-serve-');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, readFileSync(k.kubeconfig, 'utf8').replace(k.server, `https://127.0.0.1:${fwd.port}`));
  const dataDir = join(dir, 'data');
  const [port, agentPort] = [await freePort(), await freePort()];
  const args = ['--port', String(port), '--agent-port', String(agentPort), '--kubeconfig', kubeconfig];
  let cp: ServeProcess = await startServe(dataDir, { args, timeoutMs: 60_000 });
  t.teardown(() => void cp.child.kill('SIGKILL'));
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Obj }> => {
    const r = await fetch(cp.url + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  const kube = async () => (await api('GET', '/api/v1/kubernetes')).body as Obj;
  const agents: Record<string, AgentProc> = {};

  t.test('the API server cannot be reached at start: serve serves REST, retries, and reconciles once it can', async (t) => {
    const retrying = await eventually(
      'a failed start attempt',
      30_000,
      async () => {
        const s = await kube();
        return s.state === 'retrying' ? s : undefined;
      },
      () => cp.output().slice(-2000),
    );
    t.match(retrying, {
      enabled: true,
      connected: false,
      synced: false,
      lastError: /ECONNREFUSED/,
      server: `https://127.0.0.1:${fwd.port}`,
      source: `file ${kubeconfig}`,
    });
    t.ok(retrying.attempts >= 1 && typeof retrying.nextAttemptAt === 'string', 'the next attempt is scheduled');
    t.equal((await api('GET', '/api/v1/nodes')).status, 200, 'the REST API keeps working');
    t.match(cp.output(), /will retry \(the REST API keeps serving\)/);
    await fwd.open();
    const up = await eventually(
      'the reconciler running after the API server came back',
      90_000,
      async () => {
        const s = await kube();
        return s.state === 'running' && s.synced ? s : undefined;
      },
      () => JSON.stringify(cp.output().slice(-2000)),
    );
    t.match(up, { connected: true, lastError: null, runningSince: /^\d{4}-/ });
    const metrics = (await api('GET', '/metrics')).body as string;
    t.match(metrics, /^pi_controller_kubernetes_connected 1$/m);
    t.match(metrics, /^pi_controller_kubernetes_synced 1$/m);
    t.match(metrics, /^pi_controller_kubernetes_queue_depth \d+$/m);
    t.equal((await k.kubectl(['get', 'crd', 'gpiopins.gpio.pi-controller.io', '-o', 'name'])).status, 0, 'serve installed the CRDs');
  });

  const top = t;
  t.test('two agents enrol with join tokens and connect', async (t) => {
    for (const node of ['pi-one', 'pi-two']) {
      const tok = await api('POST', '/api/v1/agents/join-tokens', { node });
      t.equal(tok.status, 201);
      agents[node] = startAgentProcess(top, join(dir, node), String(tok.body.server), String(tok.body.token));
    }
    await eventually(
      'both agents connected',
      60_000,
      async () => {
        const list = (await api('GET', '/api/v1/agents')).body.items as { node: string; connected: boolean }[];
        return list.filter((a) => a.connected).length === 2 ? true : undefined;
      },
      () => `agent output: ${agents['pi-one']!.output().slice(-1000)} ${agents['pi-two']!.output().slice(-1000)}`,
    );
    t.pass('both connected');
  });

  t.test("kubectl apply of a GPIOPin sets the bit in that agent's register page; status Ready", async (t) => {
    const r = await k.kubectl(['apply', '-f', '-'], gpio('led', 'pi-one', 27, 'mode: output, value: 1'));
    t.equal(r.status, 0, r.stderr);
    await until(() => level(agents['pi-one']!.page, 27) === 1, 30_000);
    t.equal(level(agents['pi-two']!.page, 27), 0, 'the other node is untouched');
    const w = await k.kubectl(['wait', '--for=condition=Ready', '--timeout=30s', 'gpiopin/led']);
    t.equal(w.status, 0, w.stderr);
    const o = (await k.api('GET', `${GPIOPINS}/led`)).body as Obj;
    t.match(o.status, { phase: 'Ready', observedGeneration: o.metadata.generation, value: 1, level: 1, mode: 'output' });
  });

  t.test('serve killed with SIGKILL in the middle of 500 changes, started again: everything converges', async (t) => {
    // 50 outputs, GPIO2-26 on each node; 10 flips each, sent one at a time straight to the API server.
    const pins: { name: string; node: string; pin: number }[] = [];
    for (const node of ['pi-one', 'pi-two']) for (let pin = 2; pin <= 26; pin++) pins.push({ name: `out-${node}-${pin}`, node, pin });
    const apply = await k.kubectl(
      ['apply', '-f', '-'],
      pins.map((p) => gpio(p.name, p.node, p.pin, 'mode: output, value: 0')).join('---\n'),
    );
    t.equal(apply.status, 0, apply.stderr);
    const want = new Map<string, number>([['led', 1], ...pins.map((p) => [p.name, 0] as [string, number])]);
    let restarted: Promise<ServeProcess> | undefined;
    let accepted = 0;
    for (let i = 0; i < 500; i++) {
      const p = pins[i % pins.length]!;
      const v = want.get(p.name)! ^ 1;
      want.set(p.name, v);
      const r = await k.api('PATCH', `${GPIOPINS}/${p.name}`, { spec: { value: v } }, 'application/merge-patch+json');
      if (r.status === 200) accepted++;
      if (i === 250) {
        cp.child.kill('SIGKILL');
        await new Promise((r) => cp.child.once('exit', r));
        // Started again at once; the changes go on while it comes up.
        restarted = startServe(dataDir, { args, timeoutMs: 60_000 });
        restarted.catch(() => undefined); // awaited (and its failure reported) after the loop
      }
    }
    t.equal(accepted, 500, 'every change accepted by the API server');
    cp = await restarted!;
    const pageOf = (node: string) => agents[node]!.page;
    const pinOf = new Map([
      ['led', { node: 'pi-one', pin: 27 }],
      ...pins.map((p) => [p.name, p] as [string, { node: string; pin: number }]),
    ]);
    let stuck: string[] = [];
    const converged = await eventually(
      'convergence',
      120_000,
      async () => {
        const items = ((await k.api('GET', GPIOPINS)).body as Obj).items as Obj[];
        stuck = [];
        for (const [name, v] of want) {
          const o = items.find((x) => x.metadata.name === name);
          const where = pinOf.get(name)!;
          const c = o?.status?.conditions?.find((x: Obj) => x.type === 'Ready');
          const ok =
            o &&
            o.spec.value === v &&
            o.status?.observedGeneration === o.metadata.generation &&
            o.status.phase === 'Ready' &&
            c?.status === 'True' &&
            o.status.value === v;
          const bit = level(pageOf(where.node), where.pin);
          if (!ok || bit !== v)
            stuck.push(
              `${name} (want ${v}, register ${bit}, generation ${o?.metadata.generation}, status ${JSON.stringify({ phase: o?.status?.phase, observedGeneration: o?.status?.observedGeneration, value: o?.status?.value, reason: c?.reason })})`,
            );
        }
        return stuck.length === 0 ? items.length : undefined;
      },
      () => `stuck: ${stuck.length}: ${stuck.slice(0, 10).join('; ')}`,
    );
    t.equal(converged, 51, 'every object Ready at its generation, and every register bit at the last spec');
    const s = await kube();
    t.match(s, { state: 'running', synced: true, connected: true }, 'the restarted serve reconciles');
  });

  t.test('SIGTERM: the reconciler stops first and serve exits with 0', async (t) => {
    const exited = new Promise<[number | null, string | null]>((r) => cp.child.once('exit', (code, sig) => r([code, sig])));
    cp.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const res = await Promise.race([exited, new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 30_000)))]);
    clearTimeout(timer);
    t.same(res, [0, null], 'exit code 0 (not still running after 30 s, not ended by a signal)');
    const out = cp.output();
    const a = out.indexOf('"msg":"kubernetes reconciler stopped"');
    const b = out.indexOf('"msg":"control plane stopped"');
    t.ok(a >= 0 && b > a, 'the reconciler stopped before the rest of the control plane');
  });
});
