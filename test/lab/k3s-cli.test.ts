/**
 * `pi-controller cluster create` and `cluster kubeconfig --merge` against a running control plane
 * (real SQLite file) that provisions two lab hosts over SSH with the stand-in K3s
 * (test/lab/k3s/README.md: real etcd, kube-apiserver, containerd and kubelet); the machine's kubectl
 * with the merged kubeconfig then sees two Ready Nodes, labelled from the probe the daemon hands the
 * install (`pi-controller.io/model`, `soc`, `managed`), and created with `--profile pi`: the real
 * kube-apiserver, kube-controller-manager and kubelets run with the profile's flags. Also the REST refusals: no token, a host name
 * with shell syntax, a host named twice, a kubeconfig asked for before provisioning.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { PI_PROFILE, readyNodes } from '../../src/provision/k3s.js';
import { labelValue } from '../../src/api/common.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { clusterCreateArgv, k3sLabSkipReason, killStandInAtTeardown, standInBundle } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const skip = labSkipReason() ?? k3sLabSkipReason();
if (skip) {
  console.log(`# skipping the K3s CLI lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('cluster create and cluster kubeconfig --merge', async (t) => {
    const t0 = Date.now();
    const lab = labUp(t, 2);
    const [s1, a1] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
    killStandInAtTeardown(t, lab);
    const dir = tempDir(t, 'pic-k3s-cli-');
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
        roots: { [s1.address]: s1.root, [a1.address]: a1.root },
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
    const rest = async (method: string, path: string, body?: unknown, token: string | null = cp.adminToken ?? null) => {
      const res = await fetch(cp.url + path, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      return { status: res.status, body: { code: json.error?.code } };
    };

    t.test('bad input is refused with a code and changes nothing', async (t) => {
      t.equal((await rest('POST', '/api/v1/clusters', { name: 'refused' })).status, 201);
      const noToken = await rest('POST', '/api/v1/clusters/refused/provision', { servers: [s1.address] }, null);
      t.equal(noToken.status, 401, `no token: ${noToken.status} ${noToken.body.code}`);
      const evil = await rest('POST', '/api/v1/clusters/refused/provision', { servers: ['a;touch /tmp/x'] });
      t.equal(evil.status, 422);
      t.ok(evil.body.code, `code ${evil.body.code}`);
      const twice = await rest('POST', '/api/v1/clusters/refused/provision', { servers: [s1.address], agents: [s1.address] });
      t.equal(twice.status, 422, `twice: ${twice.body.code}`);
      t.equal(twice.body.code, 'INVALID_ARGUMENT');
      const none = await rest('GET', '/api/v1/clusters/refused/kubeconfig');
      t.equal(none.status, 404, `none: ${none.body.code}`);
      t.equal(none.body.code, 'NO_KUBECONFIG');
      t.equal(cp.store.clusters.require('refused').state, 'pending');
      t.same(cp.store.jobs.list({}).items, [], 'no job was started');
    });

    t.test('1 server + 1 agent: two Ready kubelets through the merged kubeconfig', async (t) => {
      const bundle = standInBundle(dir);
      const r = await cli(...clusterCreateArgv(lab, bundle, { servers: [s1.address], agents: [a1.address] }), '--profile', 'pi');
      t.equal(r.code, EXIT.OK, r.err + r.out.slice(-3000));
      const jobId = r.out.split('\n')[0]!.trim();
      t.equal(cp.store.jobs.require(jobId).state, 'succeeded');
      t.match(r.out, /all 2 nodes Ready/);
      t.equal(cp.store.clusters.require('lab').state, 'ready');

      const m = await cli('cluster', 'kubeconfig', 'lab', '--merge');
      t.equal(m.code, EXIT.OK, m.err);
      t.equal(readFileSync(kubeconfigFile, 'utf8').length > 0, true);
      const nodes = execFileSync(
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
      );
      const ready = readyNodes(nodes);
      t.same(ready.ready.sort(), [s1.hostname, a1.hostname].sort());
      t.same(ready.notReady, []);
      const items = (JSON.parse(nodes) as { items: { metadata: { name: string; labels: Record<string, string> } }[] }).items;
      for (const h of [s1, a1]) {
        const labels = items.find((n) => n.metadata.name === h.hostname)?.metadata.labels ?? {};
        t.equal(labels['pi-controller.io/managed'], 'true', `${h.hostname}: managed`);
        t.equal(labels['pi-controller.io/model'], labelValue(h.model), `${h.hostname}: its model, as the probe read it`);
        t.match(labels['pi-controller.io/soc'], /^bcm\d+$/, `${h.hostname}: its SoC`);
      }
      // The pi profile's flags reached the real components (the stand-in hands K3s's pass-through flags on).
      const argsOf = (h: typeof s1, name: string) =>
        readFileSync(`/proc/${readFileSync(`${h.root}var/lib/rancher/k3s/lab/pids/${name}.pid`, 'utf8').trim()}/cmdline`, 'utf8').split(
          '\0',
        );
      const as = (flag: string) => `--${flag.slice(flag.indexOf('=') + 1)}`;
      for (const f of PI_PROFILE.kubelet) {
        t.ok(argsOf(s1, 'kubelet').includes(as(f)), `server kubelet: ${as(f)}`);
        t.ok(argsOf(a1, 'kubelet').includes(as(f)), `agent kubelet: ${as(f)}`);
      }
      for (const f of PI_PROFILE.server) {
        const component = f.startsWith('--kube-apiserver-arg') ? 'kube-apiserver' : 'kube-controller-manager';
        t.ok(argsOf(s1, component).includes(as(f)), `${component}: ${as(f)}`);
      }
      const again = await cli('cluster', 'create', 'lab', '--servers', s1.address);
      t.equal(again.code !== EXIT.OK, true, 'a ready cluster is not provisioned again');
      t.comment(`wall time to 2 Ready nodes through the CLI: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });
}
