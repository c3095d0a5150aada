/**
 * `cluster.create` from lab hosts: the first server with --cluster-init, its join token read and stored
 * sealed, an agent joining, the kubeconfig fetched, rewritten and stored sealed, and the ready check;
 * then the machine's kubectl with the stored kubeconfig sees two Ready kubelets. K3s is the lab's
 * stand-in (test/lab/k3s/README.md) around real etcd, kube-apiserver, containerd and kubelet. The
 * uninstall scripts must then leave no process and no K3s file on either host.
 *
 * In the same run: each Node carries the labels the install gave K3s (`--node-label`) from what the
 * discovery probe read of its host (model, SoC, arm variant, boot medium), as its real kubelet
 * registered them; and the agent's sshd is killed (with every session under it) while the agent's
 * install runs, then started again: the job retries that step to success, and the steps done before
 * it are not run again.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { CLUSTER_CREATE_KIND, clusterCreateKind, nodeLabelsOf, readyNodes } from '../../src/provision/k3s.js';
import { parseProbe, probeCommand } from '../../src/discovery/probe.js';
import { labSkipReason, labUp, type Lab, type LabHost } from '../support/lab.js';
import { killSshd, labSock, startSshd } from '../support/lab-ssh.js';
import {
  k3sLabSkipReason,
  killStandInAtTeardown,
  k3sMemory,
  k3sPids,
  onHost,
  standInBundle,
  STAND_IN_VERSION,
} from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled, waitFor } from '../support/wait.js';

/**
 * What both tests drive `cluster.create` with: a real SQLite store and secret box in a temporary
 * folder, a job runner reaching the lab's sshd through its namespace, a declared cluster, and the
 * lab's SSH login for a host.
 */
function jobRig(t: Test, lab: Lab, prefix: string, name: string) {
  const base = tempDir(t, prefix);
  chmodSync(base, 0o755);
  const store = openStore({ file: join(base, 'k3s.sqlite') });
  t.teardown(() => store.close());
  const secrets = openSecretBox(join(base, 'secrets'));
  const runner = new JobRunner({
    store,
    bus: new EventBus(),
    log: silentLogger(),
    kinds: [clusterCreateKind({ store, secrets, probe: { command: probeCommand, parse: parseProbe } })],
    secrets,
    transport: (host, port) => labSock(lab, host, port),
    // Five attempts: the sshd-kill test restarts the agent's sshd 2 s after the kill, and a retry may come before it listens.
    retry: { attempts: 5, baseMs: 500, maxMs: 2_000 },
  });
  t.teardown(() => runner.stop());
  const cluster = store.clusters.create({ name });
  const login = (h: LabHost) => ({ host: h.address, user: 'pi', identityFile: lab.clientKey });
  return { base, store, secrets, runner, cluster, login };
}

const skip = labSkipReason() ?? k3sLabSkipReason();
// Two clusters (or three upgrades) take minutes under load: a file deadline above tap's 300 s, stretched by the load as every wait is.
t.setTimeout(scaled(600_000));
if (skip) {
  console.log(`# skipping the K3s lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('cluster.create: 1 server + 1 agent become 2 Ready kubelets', async (t) => {
    const t0 = Date.now();
    const lab = labUp(t, 2);
    const [s1, a1] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
    killStandInAtTeardown(t, lab);
    const { base, store, secrets, runner, cluster, login } = jobRig(t, lab, 'pic-k3s-', 'lab');
    const job = runner.submit(CLUSTER_CREATE_KIND, {
      login: login(s1),
      params: {
        clusterId: cluster.id,
        servers: [login(s1)],
        agents: [login(a1)],
        version: STAND_IN_VERSION,
        airgap: standInBundle(base),
        roots: { [s1.address]: s1.root, [a1.address]: a1.root },
        readyTimeoutMs: scaled(300_000),
      },
    });
    // The agent's sshd dies (with every session under it, the installer's included) while its install runs.
    const installing = await waitFor(
      () =>
        store.jobs.logs(job.id, 0, 5000).some((l) => l.line.startsWith(`[${a1.address}] $ sudo sh -c`) && l.line.includes('install.env')),
      scaled(300_000),
      200,
    );
    t.ok(installing, "the agent's install started");
    await killSshd(lab, a1);
    await new Promise((res) => setTimeout(res, 2_000));
    startSshd(lab, a1);
    const done = await runner.wait(job.id);
    const logs = store.jobs.logs(job.id, 0, 5000).map((l) => l.line);
    if (done.state !== 'succeeded') t.comment(logs.slice(-60).join('\n'));
    t.equal(done.state, 'succeeded', `the job succeeded ${done.error ?? ''}`);
    const steps = runner.steps(job.id);
    t.same(
      steps.map((s) => [s.name, s.state]),
      [
        [`server ${s1.address}`, 'succeeded'],
        ['join-token', 'succeeded'],
        [`agents join (${a1.address})`, 'succeeded'],
        ['kubeconfig', 'succeeded'],
        ['ready', 'succeeded'],
      ],
    );
    // Retried: run again, or its check found the agent registered (the service outlives the session, as under systemd).
    t.comment(`agents join: ${steps[2]!.attempts} run(s)`);
    t.ok(
      logs.some((l) => new RegExp(`^agents join \\(${a1.address.replace(/\./g, '\\.')}\\): attempt 1 failed: SSH_DISCONNECTED`).test(l)),
      'the drop is in the log: the running step failed there and was retried',
    );
    t.ok(
      logs.some((l) => /^agents join \(.*\): (running \(attempt [2-9]\)|done already)$/.test(l)),
      'a later attempt of the same step ran it again or found it done',
    );
    t.same([steps[0]!.attempts, steps[1]!.attempts], [1, 1], 'the steps done before the drop ran once');
    t.equal(logs.filter((l) => /^(server \S+|join-token): running/.test(l)).length, 2, 'and were not run again');
    const c = store.clusters.require(cluster.id);
    t.equal(c.state, 'ready');
    t.equal(c.k3sVersion, STAND_IN_VERSION);

    // The token and kubeconfig are sealed at rest and in no log line.
    const sealed = store.clusters.sealed(cluster.id);
    const token = secrets.open(sealed.joinToken!).toString('utf8');
    const tokenOnHost = onHost(lab, s1, ['cat', `${s1.root}var/lib/rancher/k3s/server/node-token`]).trim();
    t.equal(token, tokenOnHost, 'the stored token is the first server node-token');
    const secret = token.split(':').pop()!;
    t.notOk(sealed.joinToken!.includes(Buffer.from(secret)), 'the token is not stored in clear');
    t.notOk(
      logs.some((l) => l.includes(secret)),
      'the token is in no job log line',
    );
    const kubeconfig = secrets.open(sealed.kubeconfig!).toString('utf8');
    t.match(kubeconfig, new RegExp(`server: https://${s1.address.replace(/\./g, '\\.')}:6443`));
    t.match(kubeconfig, /current-context: lab/);
    t.equal(sealed.apiServer, `https://${s1.address}:6443`);

    // The machine's kubectl, from the controller's namespace, with the stored kubeconfig.
    const kc = join(base, 'kubeconfig');
    writeFileSync(kc, kubeconfig, { mode: 0o600 });
    const nodes = execFileSync(
      'ip',
      ['netns', 'exec', lab.controller.ns, '/usr/bin/kubectl', '--kubeconfig', kc, 'get', 'nodes', '-o', 'json'],
      {
        encoding: 'utf8',
      },
    );
    const r = readyNodes(nodes);
    t.same(r.ready.sort(), [s1.hostname, a1.hostname].sort(), 'both kubelets are Ready Nodes');
    t.same(r.notReady, []);
    // Each Node's labels, as its kubelet registered them, from what the probe reads of its host.
    const items = (JSON.parse(nodes) as { items: { metadata: { name: string; labels: Record<string, string> } }[] }).items;
    for (const h of [s1, a1]) {
      const want = nodeLabelsOf(parseProbe(onHost(lab, h, ['sh', '-c', probeCommand(h.root)])));
      t.ok(want['pi-controller.io/model'] && want['pi-controller.io/soc'], `${h.hostname}: the probe found a Pi (${h.model})`);
      const labels = items.find((n) => n.metadata.name === h.hostname)?.metadata.labels ?? {};
      const ours = Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith('pi-controller.io/')));
      t.same(ours, want, `${h.hostname}: the Node carries the probe's labels`);
      t.ok(labels['kubernetes.io/arch'], "kubernetes.io/arch is the kubelet's own");
    }
    const table = execFileSync('ip', ['netns', 'exec', lab.controller.ns, '/usr/bin/kubectl', '--kubeconfig', kc, 'get', 'nodes'], {
      encoding: 'utf8',
    });
    t.comment(table.trim());
    // the air-gap images were imported into the agent's containerd
    const images = onHost(lab, a1, [`${a1.root}usr/local/bin/k3s`, 'ctr', 'images', 'ls', '-q']);
    t.match(images, /k8s\.gcr\.io\/pause:3\.2/);
    t.match(images, /lab\.local\/busybox:1\.35/);

    const mem = { server: k3sMemory(s1), agent: k3sMemory(a1) };
    const total = Object.values(mem.server).reduce((a, b) => a + b, 0) + Object.values(mem.agent).reduce((a, b) => a + b, 0);
    t.comment(`RSS kB: ${JSON.stringify(mem)}; total ${Math.round(total / 1024)} MB`);
    t.comment(`from lab up to 2 Ready nodes: ${((Date.now() - t0) / 1000).toFixed(1)} s (lab up ${lab.upSeconds.toFixed(1)} s)`);

    // Uninstall: no process and no K3s file left on either host.
    onHost(lab, a1, [`${a1.root}usr/local/bin/k3s-agent-uninstall.sh`]);
    onHost(lab, s1, [`${s1.root}usr/local/bin/k3s-uninstall.sh`]);
    for (const h of [s1, a1]) {
      t.same(k3sPids(h), [], `no stand-in process left on ${h.hostname}`);
      for (const f of [
        'usr/local/bin/k3s',
        'var/lib/rancher/k3s',
        'etc/rancher/k3s',
        'etc/systemd/system/k3s.service',
        'etc/systemd/system/k3s-agent.service',
      ])
        t.notOk(existsSync(h.root + f), `${h.hostname}: ${f} removed`);
    }
    t.comment(`wall time of the test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  t.test('cluster.create HA: 3 servers + 2 agents become 5 Ready kubelets; the API outlives the first server', async (t) => {
    const t0 = Date.now();
    const lab = labUp(t, 5);
    const hosts = lab.hosts;
    const [s1, s2, s3, a1, a2] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]];
    killStandInAtTeardown(t, lab);
    const { base, store, secrets, runner, cluster, login } = jobRig(t, lab, 'pic-k3s-ha-', 'ha');
    const job = runner.submit(CLUSTER_CREATE_KIND, {
      login: login(s1),
      params: {
        clusterId: cluster.id,
        servers: [s1, s2, s3].map(login),
        agents: [a1, a2].map(login),
        version: STAND_IN_VERSION,
        airgap: standInBundle(base),
        roots: Object.fromEntries(hosts.map((h) => [h.address, h.root])),
        readyTimeoutMs: scaled(400_000),
      },
    });
    const done = await runner.wait(job.id);
    if (done.state !== 'succeeded')
      t.comment(
        store.jobs
          .logs(job.id, 0, 5000)
          .map((l) => l.line)
          .slice(-60)
          .join('\n'),
      );
    t.equal(done.state, 'succeeded', `the job succeeded ${done.error ?? ''}`);
    t.equal(store.clusters.require(cluster.id).ha, true);
    const kubeconfig = secrets.open(store.clusters.sealed(cluster.id).kubeconfig!).toString('utf8');
    const kc = join(base, 'kubeconfig');
    writeFileSync(kc, kubeconfig, { mode: 0o600 });
    const getNodes = (file: string) =>
      readyNodes(
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            lab.controller.ns,
            '/usr/bin/kubectl',
            '--kubeconfig',
            file,
            '--request-timeout=20s',
            'get',
            'nodes',
            '-o',
            'json',
          ],
          {
            encoding: 'utf8',
          },
        ),
      );
    const r = getNodes(kc);
    t.same(r.ready.sort(), hosts.map((h) => h.hostname).sort(), 'five Ready kubelets');
    const members = onHost(lab, s1, ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', 'member', 'list']);
    t.equal(members.trim().split('\n').length, 3, 'three etcd members');
    const mem = Object.fromEntries(hosts.map((h) => [h.hostname, k3sMemory(h)]));
    const total = Object.values(mem).reduce((a, m) => a + Object.values(m).reduce((x, y) => x + y, 0), 0);
    t.comment(`RSS kB: ${JSON.stringify(mem)}; total ${Math.round(total / 1024)} MB`);
    t.comment(`from lab up to 5 Ready nodes: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Stop every process of the first server: the second server still serves the API (etcd keeps 2 of 3).
    onHost(lab, s1, [`${s1.root}usr/local/bin/k3s-killall.sh`]);
    t.same(k3sPids(s1), [], 'nothing of the first server runs');
    const kc2 = join(base, 'kubeconfig-s2');
    writeFileSync(kc2, kubeconfig.replace(`https://${s1.address}:6443`, `https://${s2.address}:6443`), { mode: 0o600 });
    const after = getNodes(kc2);
    t.same([...after.ready, ...after.notReady].sort(), hosts.map((h) => h.hostname).sort(), 'the second server lists all five nodes');
    t.comment(`wall time of the HA test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
}
