/**
 * The flags an install gives K3s. Node labels from the probe: the discovery probe's real command run by `sh` on a fake root (a Pi 3
 * with a 32-bit kernel booting from SD, and a Pi 4), its output parsed and mapped to the labels K3s
 * registers the Node with; values sanitised to label values; and the `--node-label` words surviving
 * INSTALL_K3S_EXEC's quoting as an installer splits it (the lab installer's xargs split, run here).
 * That a real kubelet registers them is proved in test/provision/k3s.test.ts. The `pi` profile: its
 * flags per role, chosen at create (REST body, CLI `--profile pi`; anything else refused with 422 and
 * no job), and kept in the cluster's membership so nodes added and upgrades later install with it.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Capabilities } from '../../src/api/discovery.js';
import { parseProbe, probeCommand } from '../../src/discovery/probe.js';
import { CLUSTER_CREATE_KIND, nodeLabelArgs, nodeLabelsOf, PI_PROFILE, profileFlags } from '../../src/provision/k3s.js';
import { CLUSTER_ADD_NODE_KIND, clusterMembers } from '../../src/provision/k3s-lifecycle.js';
import { openSecretBox } from '../../src/certs/index.js';
import { EXIT } from '../../src/cli/exit.js';
import { startServer } from '../support/server.js';
import { cliAt } from '../support/cli.js';
import { storedJobsOnly } from '../support/finished-jobs.js';
import { cmd } from '../../src/provision/quote.js';
import { tempDir } from '../support/tmp.js';

/** A fake root with the files the probe reads. */
function fakeRoot(dir: string, f: { model: string; compatible: string[]; arch: string; cmdline: string; revision: string }): string {
  const root = join(dir, 'root') + '/';
  for (const d of ['proc/device-tree', 'proc/sys/kernel', 'boot/firmware']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'proc/device-tree/model'), f.model + '\0');
  writeFileSync(join(root, 'proc/device-tree/compatible'), f.compatible.map((c) => c + '\0').join(''));
  writeFileSync(join(root, 'proc/cpuinfo'), `processor\t: 0\nRevision\t: ${f.revision}\n`);
  writeFileSync(join(root, 'proc/sys/kernel/arch'), f.arch + '\n');
  writeFileSync(join(root, 'boot/firmware/cmdline.txt'), f.cmdline + '\n');
  return root;
}

const probe = (root: string): Capabilities => parseProbe(execFileSync('sh', ['-c', probeCommand(root)], { encoding: 'utf8' }));

t.test('labels from what the probe reads of a host', async (t) => {
  const dir = tempDir(t, 'pic-labels-');
  const pi3 = probe(
    fakeRoot(join(dir, 'pi3'), {
      model: 'Raspberry Pi 3 Model B Plus Rev 1.3',
      compatible: ['raspberrypi,3-model-b-plus', 'brcm,bcm2837'],
      arch: 'armv7l',
      cmdline: 'console=tty1 root=/dev/mmcblk0p2 rootwait',
      revision: 'a020d3',
    }),
  );
  t.same(nodeLabelsOf(pi3), {
    'pi-controller.io/managed': 'true',
    'pi-controller.io/model': 'Raspberry-Pi-3-Model-B-Plus-Rev-1.3',
    'pi-controller.io/soc': 'bcm2837',
    'pi-controller.io/arch-variant': 'v7',
    'pi-controller.io/boot-media': 'sd',
  });
  const pi4 = probe(
    fakeRoot(join(dir, 'pi4'), {
      model: 'Raspberry Pi 4 Model B Rev 1.5',
      compatible: ['raspberrypi,4-model-b', 'brcm,bcm2711'],
      arch: 'aarch64',
      cmdline: 'console=tty1 root=PARTUUID=1234-02 rootwait',
      revision: 'd03115',
    }),
  );
  t.same(
    nodeLabelsOf(pi4),
    {
      'pi-controller.io/managed': 'true',
      'pi-controller.io/model': 'Raspberry-Pi-4-Model-B-Rev-1.5',
      'pi-controller.io/soc': 'bcm2711',
    },
    'a 64-bit kernel has no arm variant (kubernetes.io/arch is the kubelet’s), an unknown boot medium no label',
  );
  t.same(nodeLabelsOf(undefined), { 'pi-controller.io/managed': 'true' }, 'without a probe: managed only');
});

t.test('values are sanitised to label values of at most 63 characters, or left out', async (t) => {
  const base = parseProbe('@@@ end\n');
  const labels = nodeLabelsOf({ ...base, model: `  Pi "5" $(reboot); \`id\` 'x' ${'long '.repeat(30)}`, soc: '---', arch: 'armv6l' });
  const model = labels['pi-controller.io/model']!;
  t.ok(model.length <= 63, `${model.length} characters`);
  t.match(model, /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a valid label value');
  t.match(model, /^Pi-5-reboot-id-x-long/);
  t.notOk('pi-controller.io/soc' in labels, 'a value that sanitises to nothing is left out');
  t.equal(labels['pi-controller.io/arch-variant'], 'v6');
});

t.test('the --node-label words survive INSTALL_K3S_EXEC as an installer splits it', async (t) => {
  const args = ['server', '--data-dir', "/tmp/a b/it's $(x)/", ...nodeLabelArgs({ 'pi-controller.io/model': 'Raspberry-Pi-4', a: 'b' })];
  const exec = cmd(...args);
  t.match(exec, /--node-label pi-controller\.io\/model=Raspberry-Pi-4/);
  // The lab installer's split (test/lab/k3s/install.sh): shell words, quotes honoured, nothing run.
  const split = execFileSync(
    'bash',
    ['-c', `mapfile -d '' W < <(printf '%s\\n' "$1" | xargs -r printf '%s\\0'); printf '%s\\n' "\${W[@]}"`, 'sh', exec],
    {
      encoding: 'utf8',
    },
  );
  t.same(split.split('\n').slice(0, -1), args);
});

t.test('the pi profile: K3s pass-through flags, servers all, agents the kubelet’s', async (t) => {
  const server = profileFlags('pi', 'server');
  const agent = profileFlags('pi', 'agent');
  t.same(server, [...PI_PROFILE.server, ...PI_PROFILE.kubelet]);
  t.same(agent, [...PI_PROFILE.kubelet]);
  for (const f of server) t.match(f, /^--(kube-apiserver|kube-controller-manager|kubelet)-arg=[a-z-]+=[A-Za-z0-9=,.]+$/, f);
  t.same(profileFlags(undefined, 'server'), []);
  t.same(profileFlags('default', 'agent'), []);
  // Quoted for the installer like every other word (none needs quotes: they reach it as written).
  t.equal(cmd('server', ...server), ['server', ...server].join(' '));
});

t.test('the profile is chosen at create and kept for nodes added later', async (t) => {
  const s = await startServer(t, storedJobsOnly());
  s.store.clusters.create({ name: 'lab' });
  const bad = await s.req('POST', '/api/v1/clusters/lab/provision', { body: { servers: ['s1'], profile: 'tiny' } });
  t.equal(bad.status, 422, 'an unknown profile is a schema error');
  t.equal(s.store.jobs.list({}).total, 0, 'no job');
  const cli = cliAt(s.url, s.admin, s.dir);
  t.equal((await cli('cluster', 'create', 'lab', '--servers', 's1', '--profile', 'tiny')).code, EXIT.USAGE, '--profile tiny: usage');
  const r = await cli('cluster', 'create', 'lab', '--servers', 's1', '--agents', 'a1', '--profile', 'pi');
  t.equal(r.code, EXIT.OK, r.err);
  const job = s.store.jobs.require(r.out.trim());
  t.equal(job.kind, CLUSTER_CREATE_KIND);
  t.equal(job.params.profile, 'pi', 'the job installs with the pi profile');

  // Once that create has succeeded, an added node installs with the same profile.
  s.store.jobs.setState(job.id, 'succeeded');
  const c = s.store.clusters.require('lab');
  t.equal(clusterMembers(s.store, c.id).install.profile, 'pi');
  const secrets = openSecretBox(join(s.dir, 'secrets'));
  s.store.clusters.setJoinToken(c.id, secrets.seal(Buffer.from('K10abc::server:secret')));
  const add = await s.req('POST', '/api/v1/clusters/lab/add-node', { body: { host: 'a2', role: 'agent' } });
  t.equal(add.status, 202, JSON.stringify(add.body));
  const added = s.store.jobs.list({ kind: CLUSTER_ADD_NODE_KIND }).items[0]!;
  t.equal(added.params.profile, 'pi');
});
