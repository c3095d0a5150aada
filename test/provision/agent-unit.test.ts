/**
 * The agent as a systemd unit (src/provision/agent-unit.ts), without a host: the platform a host's
 * `uname -m` asks for, the layers and entry point picked from an OCI image layout (written here as
 * `npm run image` writes one: index.json naming an image index over the platforms), the unit file
 * and the values refused from it, and the requests: `agent` on create and add-node over REST and the
 * CLI, refused with a code and no job for a path that holds no image or a daemon with no agent
 * endpoint, and kept for nodes added later. The install on a real host, its enrolment and its
 * removal run in the lab: test/lab/k3s-agent.test.ts.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentUnitText, imageFor, platformOf, unitNodeName, unitWord } from '../../src/provision/agent-unit.js';
import { CLUSTER_CREATE_KIND } from '../../src/provision/k3s.js';
import { CLUSTER_ADD_NODE_KIND, clusterMembers } from '../../src/provision/k3s-lifecycle.js';
import { type ProvisionError } from '../../src/provision/errors.js';
import { openSecretBox } from '../../src/certs/index.js';
import { EXIT } from '../../src/cli/exit.js';
import { startServer } from '../support/server.js';
import { cliAt } from '../support/cli.js';
import { storedJobsOnly, unusedEnrolment } from '../support/finished-jobs.js';
import { tempDir } from '../support/tmp.js';
import { fakeLayout as layout } from '../support/image.js';

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'none';
  } catch (err) {
    return (err as ProvisionError).code;
  }
};

t.test("a host's machine names the image's platform", async (t) => {
  t.same(platformOf('x86_64\n'), { architecture: 'amd64' });
  t.same(platformOf('aarch64'), { architecture: 'arm64' });
  t.same(platformOf('armv7l'), { architecture: 'arm', variant: 'v7' });
  t.same(platformOf('armv8l'), { architecture: 'arm', variant: 'v7' }, 'a 32-bit userland on a 64-bit CPU');
  t.equal(
    code(() => platformOf('armv6l')),
    'INVALID_ARGUMENT',
    'a Pi 1 or Zero (ARMv6): the image has no build for it',
  );
});

t.test('the layers and entry point of a platform, from an image layout', async (t) => {
  const dir = tempDir(t, 'pic-agent-image-');
  const layers = layout(dir, [{ architecture: 'amd64' }, { architecture: 'arm', variant: 'v7' }]);
  const arm = imageFor(dir, { architecture: 'arm', variant: 'v7' });
  t.same(
    arm.layers.map((l) => l.digest),
    layers['arm/v7'],
    'the arm/v7 layers, in order',
  );
  t.same(arm.entrypoint, ['/usr/local/bin/node', '/opt/pi-controller/dist/src/cli/main.js', 'agent']);
  t.same(
    imageFor(dir, { architecture: 'amd64' }).layers.map((l) => l.digest),
    layers.amd64,
  );
  try {
    imageFor(dir, { architecture: 'arm64' });
    t.fail('no arm64 build');
  } catch (err) {
    t.match(err, {
      code: 'INVALID_ARGUMENT',
      message: /has no linux\/arm64 build \(it has amd64, arm\/v7\)/,
      details: { have: ['amd64', 'arm/v7'] },
    });
  }
  t.equal(
    code(() => imageFor(join(dir, 'nope'), { architecture: 'amd64' })),
    'INVALID_ARGUMENT',
    'a directory with no layout',
  );
});

t.test('the unit file, and values systemd would read as more than text', async (t) => {
  const text = agentUnitText({
    rootfs: '/opt/pi-controller/agent/rootfs',
    state: '/var/lib/pi-controller-agent',
    entrypoint: ['/usr/local/bin/node', '/opt/pi-controller/dist/src/cli/main.js', 'agent'],
    server: 'https://10.0.0.5:8444',
    node: 'pi-4',
  });
  t.match(text, /^RootDirectory=\/opt\/pi-controller\/agent\/rootfs$/m);
  t.match(text, /^MountAPIVFS=yes$/m);
  t.match(text, /^BindPaths=\/var\/lib\/pi-controller-agent:\/var\/lib\/pi-controller-agent$/m);
  t.match(
    text,
    /^ExecStart=\/usr\/local\/bin\/node \/opt\/pi-controller\/dist\/src\/cli\/main\.js agent --server https:\/\/10\.0\.0\.5:8444 --node-name pi-4 --state-dir \/var\/lib\/pi-controller-agent --join-token-file \/var\/lib\/pi-controller-agent\/join-token$/m,
  );
  t.match(text, /^WantedBy=multi-user\.target$/m);
  t.equal(unitNodeName(text), 'pi-4', 'the node name read back from the unit, for the revocation at its removal');
  t.equal(unitNodeName('[Service]\nExecStart=/n agent\n'), undefined, 'a unit without --node-name names none');
  t.notMatch(text, /--sim/);
  t.match(agentUnitText({ rootfs: '/r', state: '/s', entrypoint: ['/n'], server: 'https://h:1', node: 'x86', sim: true }), / --sim$/m);
  for (const bad of ['pi 4', 'pi$HOME', 'pi%n', 'pi"4', "pi'4", 'pi\\4', 'pi;4', 'pi\n4', ''])
    t.equal(
      code(() => unitWord('node', bad)),
      'INVALID_ARGUMENT',
      `refused: ${JSON.stringify(bad)}`,
    );
  t.equal(unitWord('server', 'https://[fd00::1]:8444'), 'https://[fd00::1]:8444', 'an IPv6 URL is fine');
});

t.test("systemd's own parser reads the unit file without a complaint", async (t) => {
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  if (!analyze) {
    t.comment('skipping: no systemd-analyze (Debian package systemd; scripts/setup/50-lab.sh installs it)');
    return t.pass('skipped: no systemd-analyze');
  }
  const dir = tempDir(t, 'pic-agent-unit-');
  /** `systemd-analyze verify` of `text` as a unit file: its exit code and what it said. */
  const verify = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    const r = spawnSync(analyze, ['verify', '--man=no', join(dir, name)], { encoding: 'utf8' });
    return { code: r.status, said: `${r.stdout}${r.stderr}`.trim() };
  };
  // The entry point as this machine has it: verify checks that the command exists on the host (it does
  // not look inside RootDirectory=), so the image's /usr/local/bin/node is swapped for this Node.
  const text = agentUnitText({
    rootfs: dir,
    state: dir,
    entrypoint: [process.execPath, '/opt/pi-controller/dist/src/cli/main.js', 'agent'],
    server: 'https://10.0.0.5:8444',
    node: 'pi-4',
    sim: true,
  });
  t.same(verify('pi-controller-agent.service', text), { code: 0, said: '' }, 'no warning, no error');
  // The check can fail: a value systemd cannot parse is reported with its line.
  const bad = verify('bad.service', text.replace('MountAPIVFS=yes', 'MountAPIVFS=sometimes'));
  t.match(bad.said, /bad\.service:\d+: Failed to parse boolean value, ignoring: sometimes/);
});

t.test('agent on create and add-node: refused with a code and no job, else kept for nodes added later', async (t) => {
  const dir = tempDir(t, 'pic-agent-req-');
  const image = join(dir, 'image');
  layout(image, [{ architecture: 'arm64' }]);
  for (const withEndpoint of [false, true]) {
    const s = await startServer(t, storedJobsOnly(withEndpoint ? { enrolment: unusedEnrolment } : {}));
    s.store.clusters.create({ name: 'lab' });
    if (!withEndpoint) {
      const off = await s.req('POST', '/api/v1/clusters/lab/provision', { body: { servers: ['s1'], agent: { image } } });
      t.equal(off.status, 409, JSON.stringify(off.body));
      t.match(off.body, { error: { code: 'AGENTS_OFF' } });
      t.equal(s.store.jobs.list({}).total, 0, 'no job');
      continue;
    }
    const none = await s.req('POST', '/api/v1/clusters/lab/provision', {
      body: { servers: ['s1'], agent: { image: join(dir, 'nothing') } },
    });
    t.equal(none.status, 422, JSON.stringify(none.body));
    t.match(none.body, { error: { code: 'INVALID_ARGUMENT', message: /is not an agent image layout/ } });
    const relative = await s.req('POST', '/api/v1/clusters/lab/provision', { body: { servers: ['s1'], agent: { image: 'image' } } });
    t.equal(relative.status, 422, 'a relative path is a schema error');
    t.equal(s.store.jobs.list({}).total, 0, 'no job');

    const cli = cliAt(s.url, s.admin, s.dir);
    t.equal((await cli('cluster', 'create', 'lab', '--servers', 's1', '--agent-sim')).code, EXIT.USAGE, '--agent-sim alone: usage');
    const r = await cli('cluster', 'create', 'lab', '--servers', 's1', '--agent-image', image, '--agent-sim');
    t.equal(r.code, EXIT.OK, r.err);
    const job = s.store.jobs.require(r.out.trim());
    t.equal(job.kind, CLUSTER_CREATE_KIND);
    t.same(job.params.agentUnit, { image, sim: true }, 'the job installs the agent unit');

    // Once that create has succeeded, an added node gets the unit too, or the one its request names.
    s.store.jobs.setState(job.id, 'succeeded');
    const c = s.store.clusters.require('lab');
    t.same(clusterMembers(s.store, c.id).install.agentUnit, { image, sim: true });
    s.store.clusters.setJoinToken(c.id, openSecretBox(join(s.dir, 'secrets')).seal(Buffer.from('K10abc::server:secret')));
    const add = await s.req('POST', '/api/v1/clusters/lab/add-node', { body: { host: 'a2', role: 'agent' } });
    t.equal(add.status, 202, JSON.stringify(add.body));
    const first = (add.body as { id: string }).id;
    s.store.jobs.setState(first, 'running');
    s.store.jobs.setState(first, 'succeeded');
    const own = await cli('cluster', 'add-node', 'lab', 'a3', '--agent-image', image);
    t.equal(own.code, EXIT.OK, own.err);
    const added = s.store.jobs.list({ kind: CLUSTER_ADD_NODE_KIND }).items;
    t.same(added.find((j) => (j.params.host as { host: string }).host === 'a2')?.params.agentUnit, { image, sim: true }, "the cluster's");
    t.same(added.find((j) => (j.params.host as { host: string }).host === 'a3')?.params.agentUnit, { image }, "the request's own");
  }
});
