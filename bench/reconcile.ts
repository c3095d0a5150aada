/**
 * `npm run bench:reconcile`: custom resource to register write, on a real kube-apiserver 1.20.2.
 *
 * - A real API server with etcd (test/support/k8s), the control plane's store, bus and agent hub
 *   on mutual TLS, the cluster reconciler, and simulated agents over file-backed BCM2711 register
 *   pages, all agents in this one process (so the figures include their share of the CPU).
 * - 1000 GPIOPins: 20 agents x 50 pins (GPIO2-51), since one BCM2711 has 54 GPIOs and 0-1 are
 *   reserved, so 10 agents cannot hold 1000 pins.
 * - Latency: 200 single changes one after another, each a PATCH of `spec.value` from this client,
 *   timed until the level register (GPLEV) of that node's page shows the new value. Baseline in
 *   the same run: the PATCH round trip alone (what the API server itself costs).
 * - Where the time of a single change goes, per stage (p50/p99): the PATCH round trip; PATCH sent
 *   to the reconciler's watch event; watch event to desired state stored; stored to the snapshot
 *   sent to the node's agent; sent to the agent's applied report (validation, register writes,
 *   its state file, the link both ways); applied report to the status write accepted.
 * - Throughput: 2000 changes from 32 concurrent clients, timed until every page shows the last
 *   value of every pin, with the GPIOPin requests the API server counted for them
 *   (`apiserver_request_total` from /metrics) and the CPU time it used, per change. Ceilings in
 *   the same run: 2000 bare PATCHes of ConfigMaps from 32 clients (the API server and etcd
 *   alone, nothing watching), and 2000 bare GPIOPin PATCHes once the reconciler stopped (a
 *   custom resource's write, of which a change needs two: its PATCH and the status write).
 * - kubectl: 20 changes made with `kubectl patch` (a process each), timed to the register.
 * etcd keeps its data on a tmpfs when /dev/shm exists (a test rig; the line says which).
 * Measured on x86 against file-backed register pages (the behavioural model), not on a Pi.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler } from '../src/cluster/reconciler.js';
import { silentLogger } from '../src/log/index.js';
import { startK8s, k8sUnavailable } from '../test/support/k8s/cluster.js';
import { newAgent, startRig, type TestAgent } from '../test/agent/rig.js';

const AGENTS = 20;
const PINS = Array.from({ length: 50 }, (_, i) => i + 2);
const LATENCY_CHANGES = 200;
const LOAD_CHANGES = 2000;
const LOAD_CLIENTS = 32;
const KUBECTL_CHANGES = 20;
const LIMIT_MS = 180_000;

const teardowns: (() => void | Promise<void>)[] = [];
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * From the API server's /metrics: its request counters for GPIOPins (`apiserver_request_total`)
 * by verb, subresource and code, the requests a change costs counted by the server itself; and
 * the CPU time the API server process has used (`process_cpu_seconds_total`).
 */
async function apiMetrics(k: {
  api: (m: string, p: string) => Promise<{ status: number; body: unknown }>;
}): Promise<{ requests: Map<string, number>; cpuS: number }> {
  const r = await k.api('GET', '/metrics');
  const requests = new Map<string, number>();
  let cpuS = NaN;
  if (r.status !== 200 || typeof r.body !== 'string') return { requests, cpuS };
  const value = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1));
  for (const line of r.body.split('\n')) {
    if (line.startsWith('process_cpu_seconds_total ')) cpuS = value(line);
    if (!line.startsWith('apiserver_request_total{') || !line.includes('resource="gpiopins"')) continue;
    const lab = (n: string) => new RegExp(`[{,]${n}="([^"]*)"`).exec(line)?.[1] ?? '';
    const what = `${lab('verb')}${lab('subresource') ? `/${lab('subresource')}` : ''} ${lab('code')}`;
    requests.set(what, (requests.get(what) ?? 0) + value(line));
  }
  return { requests, cpuS };
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const why = k8sUnavailable();
  if (why) {
    process.stdout.write(`bench:reconcile skipped: ${why}\n`);
    return;
  }
  const started = Date.now();
  const load0 = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const overTime = () => Date.now() - started > LIMIT_MS;
  const k = await startK8s(t);
  const rig = await startRig(t);
  const agents: TestAgent[] = [];
  // Health at the product's period (the test rig's 500 ms would have 20 agents sampling their
  // health 40 times a second in this one process).
  for (let i = 0; i < AGENTS; i++) agents.push(await newAgent(t, rig, `pi-${i}`, { agent: { healthIntervalMs: 5000 } }));
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  // Stage clocks: when each stage was first reached after a change, by reconciler key and by node.
  const at = { watch: new Map<string, number>(), stored: new Map<string, number>(), status: new Map<string, number>() };
  const appliedAt = new Map<string, { at: number; rt: number }>();
  rig.hub.onRoundTrip((rt, node) => {
    if (!appliedAt.has(node)) appliedAt.set(node, { at: performance.now(), rt });
  });
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store: rig.srv.store,
    bus: rig.bus,
    agents: rig.hub,
    log: silentLogger(),
    concurrency: 32,
    // The first time after the change: the reconciler's own status write brings another watch event.
    trace: (stage, key) => {
      if (!at[stage].has(key)) at[stage].set(key, performance.now());
    },
  });
  t.teardown(() => rec.stop());
  await rec.start();

  const objs = agents.flatMap((a, i) => PINS.map((pin) => ({ name: `b-${i}-${pin}`, agent: a, node: `pi-${i}`, pin, value: 0 })));
  const base = '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins';
  const until = async (cond: () => boolean) => {
    while (!cond()) {
      if (overTime()) throw new Error('bench:reconcile ran over its time limit');
      await sleep(1);
    }
  };

  // Create all, 32 at a time, and wait for every pin to be an output at 0.
  const c0 = performance.now();
  for (let i = 0; i < objs.length; i += 32) {
    await Promise.all(
      objs.slice(i, i + 32).map((o) =>
        k.api('POST', base, {
          apiVersion: 'gpio.pi-controller.io/v1alpha1',
          kind: 'GPIOPin',
          metadata: { name: o.name },
          spec: { nodeName: o.node, pin: o.pin, mode: 'output', value: 0 },
        }),
      ),
    );
  }
  await until(() => objs.every((o) => o.agent.chip.getMode(o.pin) === 'output'));
  const createMs = performance.now() - c0;

  // Latency, one change at a time, with the time of each stage.
  const lat: number[] = [];
  const rtt: number[] = [];
  const stages: Record<string, number[]> = { toWatch: [], toStored: [], toSent: [], toApplied: [], toStatus: [], total: [] };
  for (let i = 0; i < LATENCY_CHANGES && !overTime(); i++) {
    const o = objs[(i * 37) % objs.length]!;
    const key = `gpio/default/${o.name}`;
    o.value ^= 1;
    for (const m of Object.values(at)) m.delete(key);
    appliedAt.delete(o.node);
    const s = performance.now();
    const r = await k.api('PATCH', `${base}/${o.name}`, { spec: { value: o.value } }, 'application/merge-patch+json');
    rtt.push(performance.now() - s);
    if (r.status !== 200) throw new Error(`PATCH answered ${r.status}`);
    await until(() => o.agent.chip.read(o.pin) === o.value);
    lat.push(performance.now() - s);
    await until(() => at.status.has(key));
    const w = at.watch.get(key),
      st = at.stored.get(key),
      ap = appliedAt.get(o.node),
      done = at.status.get(key)!;
    if (w === undefined || st === undefined || ap === undefined) continue;
    stages.toWatch!.push(w - s);
    stages.toStored!.push(st - w);
    stages.toSent!.push(ap.at - ap.rt - st);
    stages.toApplied!.push(ap.rt);
    stages.toStatus!.push(done - ap.at);
    stages.total!.push(done - s);
  }

  // Throughput: many clients at once.
  let next = 0;
  const m0 = await apiMetrics(k);
  const lists0 = rec.watchOf('gpio')?.lists ?? 0;
  const l0 = performance.now();
  await Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (next < LOAD_CHANGES && !overTime()) {
        const i = next++;
        const o = objs[(i * 13) % objs.length]!;
        o.value ^= 1;
        await k.api('PATCH', `${base}/${o.name}`, { spec: { value: o.value } }, 'application/merge-patch+json');
      }
    }),
  );
  const sentMs = performance.now() - l0;
  await until(() => objs.every((o) => o.agent.chip.read(o.pin) === o.value));
  const loadMs = performance.now() - l0;
  // Requests the API server counted for the sustained phase, after the last status write settled.
  await sleep(1500);
  await rec.idle();
  const m1 = await apiMetrics(k);
  const relists = (rec.watchOf('gpio')?.lists ?? 0) - lists0;
  const perChange = [...m1.requests]
    .map(([w, n]) => [w, n - (m0.requests.get(w) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);

  // kubectl, a process per change.
  const kub: number[] = [];
  for (let i = 0; i < KUBECTL_CHANGES && !overTime(); i++) {
    const o = objs[(i * 53) % objs.length]!;
    o.value ^= 1;
    const s = performance.now();
    const r = await k.kubectl(['patch', 'gpiopin', o.name, '--type=merge', '-p', JSON.stringify({ spec: { value: o.value } })]);
    if (r.status !== 0) throw new Error(`kubectl patch failed: ${r.stderr}`);
    await until(() => o.agent.chip.read(o.pin) === o.value);
    kub.push(performance.now() - s);
  }
  await rec.stop();

  // Ceiling: bare PATCHes of ConfigMaps, same clients, nothing watching them.
  const cms = Array.from({ length: LOAD_CLIENTS }, (_, i) => `bench-cm-${i}`);
  for (const name of cms)
    await k.api('POST', '/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
      data: { v: '0' },
    });
  let nextCm = 0;
  const b0 = performance.now();
  await Promise.all(
    cms.map(async (name) => {
      while (nextCm < LOAD_CHANGES && !overTime()) {
        const i = nextCm++;
        const r = await k.api(
          'PATCH',
          `/api/v1/namespaces/default/configmaps/${name}`,
          { data: { v: String(i) } },
          'application/merge-patch+json',
        );
        if (r.status !== 200) throw new Error(`ConfigMap PATCH answered ${r.status}`);
      }
    }),
  );
  const bareMs = performance.now() - b0;

  // The same for GPIOPins (a custom resource: the API server's unstructured path), nothing
  // watching them now that the reconciler stopped: what one of the two writes of a change costs.
  let nextPin = 0;
  const mp0 = await apiMetrics(k);
  const p0 = performance.now();
  await Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (nextPin < LOAD_CHANGES && !overTime()) {
        const o = objs[(nextPin++ * 13) % objs.length]!;
        o.value ^= 1;
        const r = await k.api('PATCH', `${base}/${o.name}`, { spec: { value: o.value } }, 'application/merge-patch+json');
        if (r.status !== 200) throw new Error(`GPIOPin PATCH answered ${r.status}`);
      }
    }),
  );
  const barePinMs = performance.now() - p0;
  const mp1 = await apiMetrics(k);

  const f = (x: number) => x.toFixed(1);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `machine: ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} (at the end; ${load0} at the start)`,
      'measured on x86 against file-backed register pages (behavioural BCM2711 model); agents in the benchmark process',
      `rig: kube-apiserver 1.20.2 + etcd 3.4 on loopback, etcd data on ${k.etcdData === 'tmpfs' ? 'a tmpfs (/dev/shm: no disk fsync)' : 'disk'}`,
      `${objs.length} GPIOPins on ${AGENTS} simulated agents: created and applied in ${f(createMs)} ms (${f(objs.length / (createMs / 1000))}/s)`,
      `apply-to-register latency (${lat.length} single changes): p50 ${f(pct(lat, 50))} ms, p99 ${f(pct(lat, 99))} ms (goal p99 <= 100 ms)`,
      `  baseline, the API server's PATCH round trip alone: p50 ${f(pct(rtt, 50))} ms, p99 ${f(pct(rtt, 99))} ms; ratio p50 ${f(pct(lat, 50) / pct(rtt, 50))}x`,
      `  stages of a single change, p50 / p99 ms (${stages.total!.length} changes):`,
      ...(
        [
          ['PATCH sent -> watch event at the reconciler', 'toWatch'],
          ['watch event -> desired state stored', 'toStored'],
          ['stored -> snapshot sent to the agent', 'toSent'],
          ['sent -> applied report (agent applies, link both ways)', 'toApplied'],
          ['applied report -> status write accepted', 'toStatus'],
          ['PATCH sent -> status written (all)', 'total'],
        ] as const
      ).map(([what, s]) => `    ${what.padEnd(56)} ${f(pct(stages[s]!, 50)).padStart(7)} / ${f(pct(stages[s]!, 99))}`),
      `  kubectl patch (a process per change) to register, ${kub.length} changes: p50 ${f(pct(kub, 50))} ms, p99 ${f(pct(kub, 99))} ms`,
      `sustained: ${LOAD_CHANGES} changes from ${LOAD_CLIENTS} clients, all in the registers after ${f(loadMs)} ms: ${f(LOAD_CHANGES / (loadMs / 1000))} changes/s (goal >= 500/s); API server accepted them at ${f(LOAD_CHANGES / (sentMs / 1000))}/s`,
      `  GPIOPin requests per change (apiserver_request_total): ${perChange.map(([w, n]) => `${w} ${(n / LOAD_CHANGES).toFixed(2)}`).join(', ') || 'no metrics'}; the reconciler's GPIOPin watch listed again ${relists} times`,
      `  API server CPU (process_cpu_seconds_total): ${f((1000 * (m1.cpuS - m0.cpuS)) / LOAD_CHANGES)} ms per change, against ${f((1000 * (mp1.cpuS - mp0.cpuS)) / LOAD_CHANGES)} ms per bare GPIOPin PATCH below`,
      `  ceiling in the same run: ${LOAD_CHANGES} bare ConfigMap PATCHes from ${LOAD_CLIENTS} clients, nothing watching: ${f(LOAD_CHANGES / (bareMs / 1000))}/s; ratio ${f(LOAD_CHANGES / (loadMs / 1000) / (LOAD_CHANGES / (bareMs / 1000)))}x`,
      `  and ${LOAD_CHANGES} bare GPIOPin PATCHes, reconciler stopped: ${f(LOAD_CHANGES / (barePinMs / 1000))}/s (a change is two such writes, its PATCH and the status write: bound ~${f(LOAD_CHANGES / (barePinMs / 1000) / 2)}/s); ratio ${f(LOAD_CHANGES / (loadMs / 1000) / (LOAD_CHANGES / (barePinMs / 1000) / 2))}x of that bound`,
    ].join('\n') + '\n',
  );
}

try {
  await main();
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
