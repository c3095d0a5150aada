// Provisioning speed in the lab (`npm run bench:provision`, root, scripts/setup/40-k8s.sh, 45-kubelet.sh
// and 50-lab.sh): wall time from known lab hosts to every Node Ready, for a 1-host cluster and for a
// 5-host cluster (1 server + 4 agents) made by one `cluster.create` job (agents in parallel), beside a
// baseline from the same run: the same 5 hosts one after another (the server, then `cluster.add-node`
// for each agent, each waiting for its Node to be Ready), as a sequential installer would.
//
// K3s is the lab's stand-in (test/lab/k3s/README.md) around real etcd, kube-apiserver, containerd and
// kubelets, installed air-gapped over real SSH; every host is an x86 network namespace on this one
// 2-core machine, so five kubelets starting together compete for the same two cores, where five Pis
// would each have their own. The figures are for this machine, not for Pis.
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { openStore, type Store } from '../src/store/index.js';
import { EventBus } from '../src/events/bus.js';
import { silentLogger } from '../src/log/index.js';
import { openSecretBox } from '../src/certs/index.js';
import { JobRunner } from '../src/provision/jobs.js';
import { CLUSTER_CREATE_KIND, clusterCreateKind } from '../src/provision/k3s.js';
import { addNodeKind, CLUSTER_ADD_NODE_KIND } from '../src/provision/k3s-lifecycle.js';
import { labSkipReason, labUp, type Lab, type LabHost } from '../test/support/lab.js';
import { labSock } from '../test/support/lab-ssh.js';
import { k3sLabSkipReason, onHost, standInBundle, STAND_IN_VERSION } from '../test/support/k3s-lab.js';

const HOSTS = 5;
/** Rounds of the three measurements (medians printed); each round costs a few minutes. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const READY_TIMEOUT_MS = 900_000;

interface Rig {
  store: Store;
  runner: JobRunner;
  lab: Lab;
  base: string;
}

const login = (lab: Lab, h: LabHost) => ({ host: h.address, user: 'pi', identityFile: lab.clientKey });

/** Runs one job to its end; throws with its error and last log lines unless it succeeded. */
async function runJob(rig: Rig, kind: string, h: LabHost, params: Record<string, unknown>): Promise<void> {
  const job = rig.runner.submit(kind, { login: login(rig.lab, h), params });
  const done = await rig.runner.wait(job.id);
  if (done.state !== 'succeeded') {
    const tail = rig.store.jobs
      .logs(job.id, 0, 5000)
      .map((l) => l.line)
      .slice(-30)
      .join('\n');
    throw new Error(`${kind} ${done.state}: ${done.error ?? ''}\n${tail}`);
  }
}

/** Uninstalls the stand-in from every host (not timed), so that each measurement starts from bare hosts. */
function uninstallAll(lab: Lab): void {
  for (const h of lab.hosts) {
    for (const s of ['k3s-agent-uninstall.sh', 'k3s-uninstall.sh']) {
      const script = `${h.root}usr/local/bin/${s}`;
      if (existsSync(script)) onHost(lab, h, [script]);
    }
  }
}

function common(rig: Rig, hosts: LabHost[]) {
  return {
    version: STAND_IN_VERSION,
    airgap: standInBundle(rig.base),
    roots: Object.fromEntries(hosts.map((h) => [h.address, h.root])),
    readyTimeoutMs: READY_TIMEOUT_MS,
  };
}

/** A `cluster.create` job of `server` and `agents` (joining in parallel) on a new cluster record; its id. */
async function create(rig: Rig, name: string, server: LabHost, agents: LabHost[], hosts: LabHost[]): Promise<string> {
  const cluster = rig.store.clusters.create({ name });
  await runJob(rig, CLUSTER_CREATE_KIND, server, {
    clusterId: cluster.id,
    servers: [login(rig.lab, server)],
    agents: agents.map((h) => login(rig.lab, h)),
    ...common(rig, hosts),
  });
  return cluster.id;
}

/** One `cluster.create` job: the first host as the server, the rest as agents joining in parallel. */
async function createAll(rig: Rig, name: string, hosts: LabHost[]): Promise<number> {
  const [server, ...agents] = hosts as [LabHost, ...LabHost[]];
  const t0 = performance.now();
  await create(rig, name, server, agents, hosts);
  return performance.now() - t0;
}

/** The baseline: the server's cluster first, then each agent added and Ready before the next starts. */
async function oneByOne(rig: Rig, name: string, hosts: LabHost[]): Promise<number> {
  const [server, ...agents] = hosts as [LabHost, ...LabHost[]];
  const t0 = performance.now();
  const clusterId = await create(rig, name, server, [], hosts);
  for (const h of agents)
    await runJob(rig, CLUSTER_ADD_NODE_KIND, h, {
      clusterId,
      host: login(rig.lab, h),
      role: 'agent',
      first: login(rig.lab, server),
      ...common(rig, hosts),
    });
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)] ?? Number.NaN;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const skip = labSkipReason() ?? k3sLabSkipReason();
  if (skip) {
    console.log(`bench provision: skipped: ${skip}`);
    return;
  }
  const teardowns: (() => void)[] = [];
  const base = mkdtempSync(join(tmpdir(), 'pic-bench-provision-'));
  chmodSync(base, 0o755);
  teardowns.push(() => rmSync(base, { recursive: true, force: true }));
  try {
    const lab = labUp({ teardown: (fn) => teardowns.push(fn) }, HOSTS);
    teardowns.push(() => uninstallAll(lab));
    const store = openStore({ file: join(base, 'bench.sqlite') });
    teardowns.push(() => store.close());
    const secrets = openSecretBox(join(base, 'secrets'));
    const runner = new JobRunner({
      store,
      bus: new EventBus(),
      log: silentLogger(),
      kinds: [clusterCreateKind({ store, secrets }), addNodeKind({ store, secrets })],
      secrets,
      transport: (host, port) => labSock(lab, host, port),
      retry: { attempts: 3, baseMs: 500, maxMs: 2_000 },
    });
    teardowns.push(() => void runner.stop());
    const rig: Rig = { store, runner, lab, base };
    console.log(`lab: ${HOSTS} hosts up in ${lab.upSeconds.toFixed(1)} s; load average ${load()}`);

    const ones: number[] = [];
    const fives: number[] = [];
    const seqs: number[] = [];
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    for (let i = 0; i < ROUNDS; i++) {
      ones.push(await createAll(rig, `one-${i}`, lab.hosts.slice(0, 1)));
      uninstallAll(lab);
      fives.push(await createAll(rig, `five-${i}`, lab.hosts));
      uninstallAll(lab);
      seqs.push(await oneByOne(rig, `sequential-${i}`, lab.hosts));
      uninstallAll(lab);
      console.log(`  round ${i + 1}: 1 host ${s(ones[i]!)}, 5 hosts ${s(fives[i]!)}, one by one ${s(seqs[i]!)} (load ${load()})`);
    }
    const [one, five, seq] = [median(ones), median(fives), median(seqs)];
    console.log(`medians of ${ROUNDS}:`);
    console.log(`  1 host (1 server):                         ${s(one)}`);
    console.log(`  5 hosts (1 server + 4 agents, one job):    ${s(five)}`);
    console.log(`  baseline: the same 5 hosts one by one:     ${s(seq)}`);
    console.log(`  5 hosts / 1 host: ${(five / one).toFixed(2)}x (goal <= 1.5x)`);
    console.log(`  one by one / one job: ${(seq / five).toFixed(2)}x`);
  } finally {
    for (const fn of teardowns.reverse()) {
      try {
        fn();
      } catch (err) {
        console.error(`teardown: ${(err as Error).message}`);
      }
    }
  }
}

await main();
