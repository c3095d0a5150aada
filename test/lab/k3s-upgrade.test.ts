/**
 * `pi-controller cluster upgrade` on a running control plane (real SQLite file) that reaches three lab
 * hosts over SSH with the stand-in K3s (test/lab/k3s/README.md: real etcd, kube-apiserver, containerd
 * and kubelet). One cluster, 1 server + 2 agents at v1.20.2+k3s1, is upgraded to v1.20.2+k3s2 (a
 * second air-gap bundle whose `k3s --version` says so; the kubelet stays v1.20.2):
 *
 * 1. With the marker file `k3s-lab-install-fails` in the first agent's bin dir (the stand-in installer
 *    reads it and fails before it touches the service, printing the marker's text), the job upgrades
 *    the server, then fails at that agent's install step with the installer's reason; the second agent
 *    is untouched (old version, schedulable); a second upgrade while the first runs is refused.
 *    The server was cordoned by hand before the upgrade: it is upgraded and stays cordoned. The
 *    cluster's state is `upgrading` while the job runs, `ready` again after.
 * 2. With the marker gone, the same upgrade again: the server (at the version) is skipped, the agents
 *    are upgraded, every node is Ready and at v1.20.2+k3s2, the agents schedulable and the server still
 *    cordoned, and the cluster record says so; the old version is then refused (409 DOWNGRADE_REFUSED).
 * Servers before agents is read from the job's step log and its timestamps.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import type { JobLogLine } from '../../src/api/jobs.js';
import { labSkipReason, labUp, type LabHost } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { clusterCreateArgv, k3sLabSkipReason, killStandInAtTeardown, onHost, STAND_IN_VERSION, standInBundle } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const skip = labSkipReason() ?? k3sLabSkipReason();
// Two clusters (or three upgrades) take minutes under load: a file deadline above tap's 300 s, stretched by the load as every wait is.
t.setTimeout(scaled(600_000));
const NEW = 'v1.20.2+k3s2';

/** The first and last time a line of the job's log names `host` in a step of the upgrade. */
function spanOf(lines: JobLogLine[], host: string): { first: number; last: number } {
  const own = lines.filter((l) => new RegExp(`^(cordon|drain|install \\S+|ready|uncordon) ${host.replace(/\./g, '\\.')}: `).test(l.line));
  const at = own.map((l) => Date.parse(l.at));
  return { first: Math.min(...at), last: Math.max(...at) };
}

if (skip) {
  console.log(`# skipping the K3s upgrade lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('cluster upgrade', async (t) => {
    const t0 = Date.now();
    const lab = labUp(t, 3);
    const [s1, a1, a2] = lab.hosts as [LabHost, LabHost, LabHost];
    killStandInAtTeardown(t, lab);
    const dir = tempDir(t, 'pic-k3s-upgrade-');
    chmodSync(dir, 0o755);
    const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': join(dir, 'data'), '/http/port': 0 } });
    const cp = await startControlPlane({
      config,
      version: 'test',
      logging: quietLogging(),
      out: () => undefined,
      provision: {
        transport: (host, port) => labSock(lab, host, port),
        retry: { attempts: 2, baseMs: 500, maxMs: 2_000 },
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
      const json = (await res.json().catch(() => ({}))) as { id?: string; state?: string; error?: { code?: string } };
      return { status: res.status, code: json.error?.code, id: json.id, state: json.state };
    };
    const kubectl = (args: string[]) =>
      execFileSync(
        'ip',
        ['netns', 'exec', lab.controller.ns, '/usr/bin/kubectl', '--kubeconfig', kubeconfigFile, '--context', 'lab', ...args],
        { encoding: 'utf8' },
      ).trim();
    /** What the upgrade's checks read: the Node's readiness and schedulability, `k3s --version` on the host and the install's note. */
    const nodeOf = (h: LabHost) => {
      const n = JSON.parse(kubectl(['get', 'node', h.hostname, '-o', 'json'])) as {
        spec?: { unschedulable?: boolean };
        status: { conditions: { type: string; status: string }[] };
      };
      const binary = onHost(lab, h, [`${h.root}usr/local/bin/k3s`, '--version']).split(' ')[2];
      const noted = onHost(lab, h, ['cat', `${h.root}var/lib/pi-controller/k3s/installed-version`]).trim();
      return {
        ready: n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        schedulable: n.spec?.unschedulable !== true,
        binary,
        noted,
      };
    };
    const waitJob = async (id: string) => {
      const until = Date.now() + scaled(900_000);
      for (;;) {
        const job = cp.store.jobs.require(id);
        if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
        if (Date.now() > until) throw new Error(`job ${id} did not end in time`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    };

    const bundle = standInBundle(dir);
    const created = await cli(...clusterCreateArgv(lab, bundle, { servers: [s1.address], agents: [a1.address, a2.address] }));
    if (created.code !== EXIT.OK) t.comment(created.err + created.out.slice(-4000));
    t.equal(created.code, EXIT.OK, 'cluster create exits 0');
    t.equal((await cli('cluster', 'kubeconfig', 'lab', '--merge')).code, EXIT.OK);
    for (const h of lab.hosts) t.same(nodeOf(h), { ready: true, schedulable: true, binary: STAND_IN_VERSION, noted: STAND_IN_VERSION });
    t.comment(`1 server + 2 agents Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const newDir = join(dir, 'k3s2');
    mkdirSync(newDir);
    const bundle2 = standInBundle(newDir, NEW);
    const airgap2 = { installScript: bundle2.installScript, binary: bundle2.binary, images: bundle2.images };

    t.test('an install that fails on one agent stops the job there; the next agent is untouched', async (t) => {
      const jobs = cp.store.jobs.list({}).total;
      t.equal((await rest('POST', '/api/v1/clusters/lab/upgrade', { version: 'v1.20.2' })).code, 'INVALID_VERSION');
      t.equal((await rest('POST', '/api/v1/clusters/lab/upgrade', { version: `${NEW};reboot` })).status, 400);
      t.equal(cp.store.jobs.list({}).total, jobs, 'no job for a bad version');

      kubectl(['cordon', s1.hostname]); // by hand, before the upgrade
      const marker = `${a1.root}usr/local/bin/k3s-lab-install-fails`;
      writeFileSync(marker, 'the test makes this install fail\n');
      t.teardown(() => rmSync(marker, { force: true }));
      const started = await rest('POST', '/api/v1/clusters/lab/upgrade', { version: NEW, airgap: airgap2 });
      t.equal(started.status, 202);
      const again = await rest('POST', '/api/v1/clusters/lab/upgrade', { version: NEW, airgap: airgap2 });
      t.same([again.status, again.code], [409, 'CLUSTER_BUSY'], 'a second upgrade while the first runs');
      t.equal((await rest('GET', '/api/v1/clusters/lab')).state, 'upgrading', 'the cluster is upgrading while the job runs');
      const job = await waitJob(started.id!);
      t.equal(job.state, 'failed');
      await new Promise((r) => setTimeout(r, 200));
      t.equal((await rest('GET', '/api/v1/clusters/lab')).state, 'ready', 'and ready again when it ends');
      t.match(job.error, /^COMMAND_FAILED: .*installing K3s v1\.20\.2\+k3s2 failed: .*the test makes this install fail/);
      const steps = cp.store.provision.steps(job.id);
      const state = (name: string) => steps.find((s) => s.name === name)?.state;
      const failed = steps.filter((s) => s.state === 'failed');
      t.same(
        failed.map((s) => [s.name, s.errorCode]),
        [[`install ${NEW} ${a1.address}`, 'COMMAND_FAILED']],
        "the job failed at the agent's install step",
      );
      t.match(failed[0]!.error, /k3s-lab-install-fails.*the test makes this install fail/, "the installer's reason");
      // A step whose check says done before it runs is `skipped` (a drain with no pod to move, a Node Ready at once).
      for (const s of ['cordon', 'drain', `install ${NEW}`, 'ready', 'uncordon'])
        t.match(state(`${s} ${s1.address}`), /^(succeeded|skipped)$/, `${s} ${s1.address}`);
      t.same(
        [state(`cordon ${s1.address}`), state(`install ${NEW} ${s1.address}`), state(`uncordon ${s1.address}`)],
        ['skipped', 'succeeded', 'skipped'],
        'the server was upgraded, and neither cordoned nor uncordoned by the job: an admin had cordoned it',
      );
      t.equal(state(`cordon ${a1.address}`), 'succeeded', 'the failing agent was cordoned');
      t.match(state(`drain ${a1.address}`), /^(succeeded|skipped)$/);
      t.same(
        steps.filter((s) => s.name.endsWith(` ${a2.address}`) || s.name === `record ${NEW}`).map((s) => s.state),
        Array(6).fill('pending'),
        'no step ran for the next agent or the record',
      );
      const lines = cp.store.jobs.logs(job.id, 0, 10_000);
      t.ok(spanOf(lines, s1.address).last <= spanOf(lines, a1.address).first, "the server's steps ended before the agent's began");

      t.same(nodeOf(s1), { ready: true, schedulable: false, binary: NEW, noted: NEW }, 'the server is upgraded and still cordoned');
      t.same(
        nodeOf(a2),
        { ready: true, schedulable: true, binary: STAND_IN_VERSION, noted: STAND_IN_VERSION },
        'the next agent is untouched',
      );
      const failing = nodeOf(a1);
      t.same([failing.schedulable, failing.noted], [false, STAND_IN_VERSION], 'the failing agent: cordoned, its install not finished');
      t.not(cp.store.clusters.require('lab').k3sVersion, NEW, 'the record does not note the version');
    });

    t.test('the same upgrade again: the server is skipped, every node Ready at the version, the agents schedulable', async (t) => {
      const r = await cli(
        'cluster',
        'upgrade',
        'lab',
        '--version',
        NEW,
        '--airgap-install-script',
        bundle2.installScript,
        '--airgap-binary',
        bundle2.binary,
        '--airgap-images',
        bundle2.images.join(','),
        '-f',
        '--interval',
        '1000',
      );
      if (r.code !== EXIT.OK) t.comment(r.err + r.out.slice(-4000));
      t.equal(r.code, EXIT.OK, 'cluster upgrade exits 0');
      const jobId = r.out.split('\n')[0]!.trim();
      const job = cp.store.jobs.require(jobId);
      t.equal(job.state, 'succeeded');
      const steps = cp.store.provision.steps(jobId);
      t.same(
        steps.filter((s) => s.name.endsWith(` ${s1.address}`)).map((s) => s.state),
        Array(5).fill('skipped'),
        'the server at the version is skipped',
      );
      const state = (name: string) => steps.find((s) => s.name === name)?.state;
      for (const s of steps.filter((s) => !s.name.endsWith(` ${s1.address}`))) t.match(s.state, /^(succeeded|skipped)$/, s.name);
      t.same(
        [a1, a2].flatMap((h) => [state(`install ${NEW} ${h.address}`), state(`uncordon ${h.address}`)]),
        Array(4).fill('succeeded'),
        'both agents installed and uncordoned',
      );
      t.equal(state(`cordon ${a2.address}`), 'succeeded', 'the untouched agent is cordoned now');
      t.equal(state(`record ${NEW}`), 'succeeded');
      const lines = cp.store.jobs.logs(jobId, 0, 10_000);
      const [sv, x, y] = [spanOf(lines, s1.address), spanOf(lines, a1.address), spanOf(lines, a2.address)];
      t.ok(sv.last <= x.first && x.last <= y.first, 'server, then one agent after the other');
      for (const h of lab.hosts) t.same(nodeOf(h), { ready: true, schedulable: h !== s1, binary: NEW, noted: NEW }, h.hostname);
      t.equal(cp.store.clusters.require('lab').k3sVersion, NEW, 'the cluster record notes the version');
      t.equal(cp.store.clusters.require('lab').state, 'ready');
      const jobs = cp.store.jobs.list({}).total;
      const down = await rest('POST', '/api/v1/clusters/lab/upgrade', { version: STAND_IN_VERSION, airgap: bundle });
      t.same([down.status, down.code], [409, 'DOWNGRADE_REFUSED'], 'back to the old version: refused');
      t.equal(cp.store.jobs.list({}).total, jobs, 'no job');
      t.comment(`wall time of the upgrade test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  });
}
