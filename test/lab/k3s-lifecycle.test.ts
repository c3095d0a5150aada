/**
 * The life of a provisioned cluster through the CLI and REST, on a control plane (real SQLite file)
 * that reaches three lab hosts over SSH with the stand-in K3s (test/lab/k3s/README.md: real etcd,
 * kube-apiserver, containerd and kubelet): 1 server + 2 agents created; the refusals (the only server,
 * a host that is no node, shell syntax in a host); `cluster remove-node` of an agent leaves two Ready
 * Nodes and a host with no K3s file, unit or process; a fourth host joins as a second server, and
 * `cluster remove-node` of the first server takes it out of etcd (through the stand-in's copy of K3s's
 * member controller), points the stored kubeconfig at the second server and leaves the host clean;
 * `cluster reset` leaves every host clean, the kubeconfig and join token forgotten and the cluster pending.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { readyNodes } from '../../src/provision/k3s.js';
import { labSkipReason, labUp, type LabHost } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { clusterCreateArgv, k3sLabSkipReason, k3sPids, onHost, standInBundle } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const skip = labSkipReason() ?? k3sLabSkipReason();

/** What K3s (the stand-in) can leave on a host: its files, units, links and processes. */
function leftOn(h: LabHost): string[] {
  const files = [
    'usr/local/bin/k3s',
    'usr/local/bin/k3s-killall.sh',
    'usr/local/bin/k3s-uninstall.sh',
    'usr/local/bin/k3s-agent-uninstall.sh',
    'usr/local/bin/kubectl',
    'usr/local/bin/crictl',
    'usr/local/bin/ctr',
    'usr/local/bin/k3s-lab.env',
    'var/lib/rancher/k3s',
    'etc/rancher/k3s',
    'etc/systemd/system/k3s.service',
    'etc/systemd/system/k3s.service.env',
    'etc/systemd/system/k3s-agent.service',
    'etc/systemd/system/k3s-agent.service.env',
  ].filter((f) => existsSync(h.root + f));
  return [...files, ...k3sPids(h).map((p) => `pid ${p}`)];
}

if (skip) {
  console.log(`# skipping the K3s lifecycle lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('cluster remove-node and cluster reset', async (t) => {
    const t0 = Date.now();
    const lab = labUp(t, 4);
    const [s1, a1, a2, s2] = lab.hosts as [LabHost, LabHost, LabHost, LabHost];
    t.teardown(() => {
      for (const h of lab.hosts) {
        const killall = `${h.root}usr/local/bin/k3s-killall.sh`;
        if (existsSync(killall)) onHost(lab, h, [killall]);
      }
    });
    const dir = tempDir(t, 'pic-k3s-life-');
    chmodSync(dir, 0o755);
    const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': join(dir, 'data'), '/http/port': 0 } });
    const cp = await startControlPlane({
      config,
      version: 'test',
      logging: quietLogging(),
      out: () => undefined,
      provision: {
        transport: (host, port) => labSock(lab, host, port),
        retry: { attempts: 3, baseMs: 500, maxMs: 2_000 },
        roots: Object.fromEntries(lab.hosts.map((h) => [h.address, h.root])),
      },
    });
    t.teardown(() => cp.close());
    const kubeconfigFile = join(dir, 'kube', 'config');
    const cli = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const io: Io = {
        out: (s) => (out += s),
        err: (s) => (err += s),
        env: { HOME: dir, PI_CONTROLLER_URL: cp.url, PI_CONTROLLER_TOKEN: cp.adminToken, KUBECONFIG: kubeconfigFile },
        cwd: dir,
        onStop: () => undefined,
      };
      const code = await run(argv, io);
      return { code, out, err };
    };
    const rest = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(cp.url + path, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.adminToken ?? ''}` },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      return { status: res.status, code: json.error?.code };
    };
    const nodes = () =>
      readyNodes(
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            lab.controller.ns,
            '/usr/bin/kubectl',
            '--kubeconfig',
            kubeconfigFile,
            '--context',
            'lab',
            'get',
            'nodes',
            '-o',
            'json',
          ],
          { encoding: 'utf8' },
        ),
      );
    const kubectl = (args: string[], input?: string) =>
      execFileSync(
        'ip',
        ['netns', 'exec', lab.controller.ns, '/usr/bin/kubectl', '--kubeconfig', kubeconfigFile, '--context', 'lab', ...args],
        {
          encoding: 'utf8',
          ...(input !== undefined ? { input } : {}),
        },
      ).trim();
    const jobCount = () => cp.store.jobs.list({}).total;

    const bundle = standInBundle(dir);
    const created = await cli(...clusterCreateArgv(lab, bundle, { servers: [s1.address], agents: [a1.address, a2.address] }));
    if (created.code !== EXIT.OK) t.comment(created.err + created.out.slice(-4000));
    t.equal(created.code, EXIT.OK, 'cluster create exits 0');
    t.equal((await cli('cluster', 'kubeconfig', 'lab', '--merge')).code, EXIT.OK);
    t.same(nodes().ready.sort(), [s1.hostname, a1.hostname, a2.hostname].sort(), 'three Ready kubelets');
    t.comment(`1 server + 2 agents Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    t.test('refusals: a code, no job, nothing changed', async (t) => {
      const before = jobCount();
      const last = await rest('POST', '/api/v1/clusters/lab/remove-node', { host: s1.address });
      t.equal(last.status, 409);
      t.equal(last.code, 'LAST_SERVER');
      const stranger = await rest('POST', '/api/v1/clusters/lab/remove-node', { host: '10.255.0.9' });
      t.equal(stranger.status, 404);
      t.equal(stranger.code, 'NOT_A_MEMBER');
      const evil = await rest('POST', '/api/v1/clusters/lab/remove-node', { host: 'a;touch /tmp/x' });
      t.equal(evil.status, 422, `shell syntax: ${evil.code}`);
      t.ok(evil.code);
      const cliLast = await cli('cluster', 'remove-node', 'lab', s1.address);
      t.not(cliLast.code, EXIT.OK, 'the CLI fails too');
      t.match(cliLast.err, /LAST_SERVER|only server/);
      t.equal(jobCount(), before, 'no job was started');
      t.equal(cp.store.clusters.require('lab').state, 'ready');
    });

    t.test('remove-node of an agent: two Ready Nodes, a clean host', async (t) => {
      // On the agent: a running pod the drain must evict, and a DaemonSet's pod it must leave alone.
      const ds = JSON.parse(
        kubectl(
          ['create', '-o', 'json', '-f', '-'],
          JSON.stringify({
            apiVersion: 'apps/v1',
            kind: 'DaemonSet',
            metadata: { name: 'ds', namespace: 'default' },
            spec: {
              selector: { matchLabels: { app: 'ds' } },
              template: { metadata: { labels: { app: 'ds' } }, spec: { containers: [{ name: 'c', image: 'lab.local/busybox:1.35' }] } },
            },
          }),
        ),
      ) as { metadata: { uid: string } };
      const pod = (name: string, extra: Record<string, unknown>) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', ...extra },
        spec: {
          nodeName: a2.hostname,
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'c', image: 'lab.local/busybox:1.35', imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
        },
      });
      kubectl(['create', '-f', '-'], JSON.stringify(pod('work', {})));
      kubectl(
        ['create', '-f', '-'],
        JSON.stringify(
          pod('ds-pod', {
            labels: { app: 'ds' },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: ds.metadata.uid, controller: true }],
          }),
        ),
      );
      const until = Date.now() + scaled(180_000);
      while (kubectl(['get', 'pod', 'work', '-o', 'jsonpath={.status.phase}']) !== 'Running') {
        if (Date.now() > until) throw new Error('pod work did not run on the agent in time');
        await new Promise((r) => setTimeout(r, 1_000));
      }

      const r = await cli('cluster', 'remove-node', 'lab', a2.address, '-f', '--interval', '1000');
      if (r.code !== EXIT.OK) t.comment(r.err + r.out.slice(-4000));
      t.equal(r.code, EXIT.OK, 'cluster remove-node exits 0');
      const jobId = r.out.split('\n')[0]!.trim();
      const job = cp.store.jobs.require(jobId);
      t.equal(job.state, 'succeeded');
      const lines = cp.store.jobs.logs(jobId, 0, 10_000).map((l) => l.line);
      t.ok(lines.includes('evicting default/work'), 'the running pod was evicted');
      t.notOk(lines.includes('evicting default/ds-pod'), "the DaemonSet's pod was not");
      t.equal(kubectl(['get', 'pod', 'work', '--ignore-not-found', '-o', 'name']), '', 'the evicted pod is gone');
      t.equal(
        kubectl(['get', 'pod', 'ds-pod', '--ignore-not-found', '-o', 'name']),
        'pod/ds-pod',
        "the DaemonSet's pod is left to its owner",
      );
      t.same(
        cp.store.provision.steps(jobId).map((s) => s.name),
        [
          `cordon ${a2.address}`,
          `drain ${a2.address}`,
          `delete node ${a2.address}`,
          `uninstall ${a2.address}`,
          `verify clean ${a2.address}`,
        ],
      );
      const after = nodes();
      t.same(after.ready.sort(), [s1.hostname, a1.hostname].sort(), 'kubectl get nodes: two Ready');
      t.same(after.notReady, []);
      t.same(leftOn(a2), [], `nothing of K3s is left on ${a2.hostname}`);
      t.not(leftOn(a1).length, 0, 'the other agent still runs K3s');
      const again = await rest('POST', '/api/v1/clusters/lab/remove-node', { host: a2.address });
      t.equal(again.code, 'NOT_A_MEMBER', 'a removed host is no node any more');
    });

    t.test('add-node: the removed host joins again as an agent and is Ready', async (t) => {
      const member = await rest('POST', '/api/v1/clusters/lab/add-node', { host: a1.address, role: 'agent' });
      t.equal(member.code, 'ALREADY_A_MEMBER');
      const role = await rest('POST', '/api/v1/clusters/lab/add-node', { host: a2.address, role: 'boss' });
      t.equal(role.status, 422, `a bad role: ${role.code}`);
      const r = await cli('cluster', 'add-node', 'lab', a2.address, '--role', 'agent', '-f', '--interval', '1000');
      if (r.code !== EXIT.OK) t.comment(r.err + r.out.slice(-4000));
      t.equal(r.code, EXIT.OK, 'cluster add-node exits 0');
      const jobId = r.out.split('\n')[0]!.trim();
      const steps = cp.store.provision.steps(jobId);
      t.same(
        steps.map((s) => s.name),
        [`join ${a2.address} as agent`, `ready ${a2.address}`],
      );
      t.equal(steps[0]!.state, 'succeeded');
      // The join waits for the Node to register; when it is Ready by then, the ready step's check says done.
      t.match(steps[1]!.state, /^(succeeded|skipped)$/);
      const lines = cp.store.jobs.logs(jobId, 0, 10_000).map((l) => l.line);
      const secret = onHost(lab, s1, ['cat', `${s1.root}var/lib/rancher/k3s/server/node-token`])
        .trim()
        .split(':')
        .pop()!;
      t.ok(secret.length >= 16, 'the join secret was read from the server');
      t.notOk(
        lines.some((l) => l.includes(secret)),
        'the join token is in no job log line',
      );
      const after = nodes();
      t.same(after.ready.sort(), [s1.hostname, a1.hostname, a2.hostname].sort(), 'three Ready Nodes again');
      t.same(after.notReady, []);
    });

    t.test(
      'a second server joins; removing the first takes it out of etcd, moves the kubeconfig to the second, leaves its host clean',
      async (t) => {
        const joined = await cli('cluster', 'add-node', 'lab', s2.address, '--role', 'server', '-f', '--interval', '1000');
        if (joined.code !== EXIT.OK) t.comment(joined.err + joined.out.slice(-4000));
        t.equal(joined.code, EXIT.OK, 'cluster add-node --role server exits 0');
        const members = () =>
          onHost(lab, s2, ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', 'member', 'list'])
            .trim()
            .split('\n')
            .map((l) => l.split(', ')[2])
            .sort();
        t.same(members(), [s1.hostname, s2.hostname].sort(), 'two etcd members');

        // An etcd snapshot of the two-server cluster restored: the first server resets etcd to it, the
        // second rejoins the restored cluster as a new member (its own etcd data removed).
        const snap = await cli('backup', '--label', 'two-servers', '--etcd-snapshot', 'lab', '--json');
        t.equal(snap.code, EXIT.OK, snap.err);
        const backup = JSON.parse(snap.out) as { file: string };
        kubectl(['create', 'configmap', 'pi-after-snapshot', '-n', 'default', '--from-literal=at=later']);
        const restored = await cli('cluster', 'restore', 'lab', '--etcd-snapshot', backup.file, '-f', '--interval', '1000');
        if (restored.code !== EXIT.OK) t.comment(restored.err + restored.out.slice(-4000));
        t.equal(restored.code, EXIT.OK, 'cluster restore of a two-server cluster exits 0');
        const restoreJob = cp.store.jobs.list({ kind: 'cluster.restore', limit: 10 }).items[0]!;
        t.same(
          cp.store.provision.steps(restoreJob.id).map((x) => x.name),
          [
            `upload snapshot ${s1.address}`,
            `stop k3s (${s2.address}, ${s1.address})`,
            `cluster-reset ${s1.address}`,
            `start k3s ${s1.address}`,
            `rejoin ${s2.address}`,
            'ready',
            `clean up ${s1.address}`,
          ],
          'the second server rejoins after the first starts on the restored data',
        );
        t.same(members(), [s1.hostname, s2.hostname].sort(), 'two etcd members again after the rejoin');
        t.equal(
          kubectl(['get', 'configmaps', '-n', 'default', '-o', 'name'])
            .split('\n')
            .filter((l) => l === 'configmap/pi-after-snapshot').length,
          0,
          'the ConfigMap made after the snapshot is gone',
        );
        t.same(nodes().notReady, [], 'every Node Ready after the restore');

        const r = await cli('cluster', 'remove-node', 'lab', s1.address, '-f', '--interval', '1000');
        if (r.code !== EXIT.OK) {
          t.comment(r.err + r.out.slice(-4000));
          for (const h of [s1, s2]) {
            const log = `${h.root}var/lib/rancher/k3s/lab/member-controller.log`;
            t.comment(`${h.hostname} member controller: ${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '(no log)'}`);
          }
        }
        t.equal(r.code, EXIT.OK, 'cluster remove-node of the first server exits 0');
        const jobId = r.out.split('\n')[0]!.trim();
        const steps = cp.store.provision.steps(jobId);
        t.same(
          steps.map((x) => x.name),
          [
            `repoint kubeconfig to ${s2.address}`,
            `cordon ${s1.address}`,
            `drain ${s1.address}`,
            `leave etcd ${s1.address}`,
            `delete node ${s1.address}`,
            `uninstall ${s1.address}`,
            `verify clean ${s1.address}`,
          ],
          'the kubeconfig moves first; etcd is left before the Node goes',
        );
        const stateOf = Object.fromEntries(steps.map((x) => [x.name.split(' ').slice(0, -1).join(' '), x.state]));
        t.match(
          stateOf,
          { 'repoint kubeconfig to': 'succeeded', 'leave etcd': 'succeeded', 'delete node': 'succeeded', uninstall: 'succeeded' },
          'each step did its work (a drain with nothing to move, and a clean check, may be done before they run)',
        );
        t.ok(
          steps.every((x) => x.state === 'succeeded' || x.state === 'skipped'),
          steps.map((x) => `${x.name}: ${x.state}`).join(', '),
        );
        const lines = cp.store.jobs.logs(jobId, 0, 10_000).map((l) => l.line);
        t.ok(
          lines.some((l) => l.includes(`etcd member ${s1.hostname} removed`)),
          "the stand-in's member controller answered the annotation",
          { lines: lines.filter((l) => l.includes('etcd')) },
        );
        t.same(members(), [s2.hostname], 'one etcd member left: the second server');
        t.same(leftOn(s1), [], `nothing of K3s is left on ${s1.hostname}`);
        t.equal(
          cp.store.clusters.sealed(cp.store.clusters.require('lab').id).apiServer,
          `https://${s2.address}:6443`,
          'the stored API server',
        );
        t.equal((await cli('cluster', 'kubeconfig', 'lab', '--merge')).code, EXIT.OK);
        t.match(kubectl(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']), `https://${s2.address}:6443`);
        const after = nodes();
        t.ok(after.ready.includes(s2.hostname), 'the second server is a Ready Node, through the kubeconfig as stored now');
        t.notOk([...after.ready, ...after.notReady].includes(s1.hostname), 'the first server is no Node');
        // The stand-in's agents talk to the server they joined (s1) only; K3s's agents would switch servers
        // through their client-side load balancer. So a1 and a2 are not checked here.
        t.equal(
          (await rest('POST', '/api/v1/clusters/lab/remove-node', { host: s2.address })).code,
          'LAST_SERVER',
          'the last server stays',
        );
      },
    );

    t.test('reset: every host clean, kubeconfig and token forgotten, cluster pending', async (t) => {
      const r = await cli('cluster', 'reset', 'lab', '-f', '--interval', '1000');
      if (r.code !== EXIT.OK) t.comment(r.err + r.out.slice(-4000));
      t.equal(r.code, EXIT.OK, 'cluster reset exits 0');
      const jobId = r.out.split('\n')[0]!.trim();
      t.same(
        cp.store.provision.steps(jobId).map((s) => s.name),
        [`uninstall agents (${a1.address}, ${a2.address})`, `uninstall servers (${s2.address})`, 'verify clean', 'forget'],
        'agents first, then servers',
      );
      for (const h of lab.hosts) t.same(leftOn(h), [], `nothing of K3s is left on ${h.hostname}`);
      t.equal(cp.store.clusters.require('lab').state, 'pending');
      const sealed = cp.store.clusters.sealed(cp.store.clusters.require('lab').id);
      t.same([sealed.kubeconfig, sealed.joinToken, sealed.apiServer], [null, null, null]);
      t.equal((await rest('GET', '/api/v1/clusters/lab/kubeconfig')).code, 'NO_KUBECONFIG');
      t.equal((await rest('POST', '/api/v1/clusters/lab/reset')).code, 'NOT_A_MEMBER', 'nothing left to reset');
      t.comment(`wall time of the lifecycle test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });
}
