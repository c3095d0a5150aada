/**
 * The agent image (`npm run image`): the OCI layout holds up (every digest, size, diff_id and
 * media type), each platform's image runs the agent from its own root file system (chroot; the
 * ARM ones under qemu-user), enrols with a real control plane and applies a pin to its register
 * page, and the docker-archive exports are well formed and load into a private containerd.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { blob, buildImage, cannotRun, finished, readLayout, startInImage, unpack, type BuildSummary } from '../support/image.js';
import { simChip, startRig, until } from '../agent/rig.js';
import { pushBlob, pushManifest, registryMissing, startRegistry } from '../support/oci-registry.js';
import { RegistryClient } from '../../src/catalog/registry.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

t.setTimeout(scaled(1_500_000));
const out = tempDir(t, 'pic-image-');
// The commit the image is built from (read before the build).
const revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot(), encoding: 'utf8' }).trim();
const summary: BuildSummary = await buildImage(out);
const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
for (const p of summary.platforms)
  t.comment(
    `${p.platform}: ${(p.compressed / 1048576).toFixed(1)} MiB compressed, ${(p.uncompressed / 1048576).toFixed(1)} MiB uncompressed`,
  );

t.test('the OCI layout', async (t) => {
  const { top, index, platforms } = readLayout(out);
  t.same(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  t.equal(top.manifests.length, 1, 'index.json names one image');
  t.equal(top.manifests[0]!.mediaType, MEDIA.index, 'an image index');
  t.equal(top.manifests[0]!.annotations?.['org.opencontainers.image.ref.name'], pkg.version, 'tagged with the version');
  t.equal(index.mediaType, MEDIA.index);
  t.same(
    index.manifests.map((m) => m.platform),
    [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
      { architecture: 'arm', os: 'linux', variant: 'v7' },
    ],
    'three platforms, arm with variant v7',
  );
  const referenced = new Set<string>([top.manifests[0]!.digest]);
  const check = (what: string, d: { digest: string; size: number }): Buffer => {
    referenced.add(d.digest);
    const b = blob(out, d.digest);
    t.equal(sha(b), d.digest, `${what}: the blob's sha256 is its digest`);
    t.equal(b.length, d.size, `${what}: size ${d.size}`);
    return b;
  };
  check('index', top.manifests[0]!);
  for (const p of platforms) {
    check(`${p.slug} manifest`, p.descriptor);
    t.equal(p.descriptor.mediaType, MEDIA.manifest);
    t.equal(p.manifest.mediaType, MEDIA.manifest);
    t.equal(p.manifest.schemaVersion, 2);
    t.equal(p.manifest.config.mediaType, MEDIA.config);
    check(`${p.slug} config`, p.manifest.config);
    t.equal(p.config.architecture, p.descriptor.platform!.architecture, `${p.slug}: the config's architecture`);
    t.equal(p.config.variant, p.descriptor.platform!.variant, `${p.slug}: the config's variant`);
    t.equal(p.config.os, 'linux');
    t.equal(p.manifest.layers.length, 3, `${p.slug}: root, node and app layers`);
    t.equal(p.config.rootfs.type, 'layers');
    t.equal(p.config.history.length, p.manifest.layers.length, 'one history entry per layer');
    p.manifest.layers.forEach((l, i) => {
      t.equal(l.mediaType, MEDIA.layer, `${p.slug} layer ${i}: gzip'd tar`);
      const gz = check(`${p.slug} layer ${i}`, l);
      t.equal(sha(gunzipSync(gz)), p.config.rootfs.diff_ids[i], `${p.slug} layer ${i}: diff_id is the sha256 of the uncompressed tar`);
    });
    t.same(p.config.config.Entrypoint, ['/usr/local/bin/node', '/opt/pi-controller/dist/src/cli/main.js', 'agent']);
    t.match(p.config.config.Labels, {
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.source': /\S/,
    });
    // Owner 0:0 and one modification time on every entry of every layer.
    const listing = execFileSync(
      'tar',
      ['--numeric-owner', '--full-time', '-tvzf', join(out, 'blobs/sha256', p.manifest.layers[0]!.digest.slice(7))],
      {
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n');
    t.same([...new Set(listing.map((l) => l.split(/\s+/)[1]))], ['0/0'], `${p.slug}: every root-layer entry is owned by 0/0`);
    t.equal(new Set(listing.map((l) => l.split(/\s+/).slice(3, 5).join(' '))).size, 1, `${p.slug}: one modification time`);
  }
  const orphans = readdirSync(join(out, 'blobs/sha256')).filter((h) => !referenced.has(`sha256:${h}`));
  t.same(orphans, [], 'no blob that nothing references');
});

t.test('each platform runs the agent from the image root', async (t) => {
  const { platforms } = readLayout(out);
  for (const p of platforms) {
    await t.test(p.slug, async (t) => {
      const why = cannotRun(p.config.architecture);
      if (why) {
        t.pass(p.slug, { skip: why });
        return;
      }
      const root = join(tempDir(t, `pic-root-${p.slug}-`), 'root');
      unpack(out, p.manifest, root);
      t.ok(existsSync(join(root, 'usr/local/bin/node')), "the image's Node");
      t.notOk(existsSync(join(root, 'opt/pi-controller/node_modules/better-sqlite3')), 'no control plane dependency (better-sqlite3)');
      t.notOk(existsSync(join(root, 'bin/sh')), 'no shell');

      const help = await finished(startInImage(root, p.config, ['--help']));
      t.equal(help.code, 0, `agent --help exits 0 ${help.err}`);
      t.match(help.out, /Usage: pi-controller agent/);

      // A control plane on this machine; the image's agent enrols with a join token, connects
      // over mutual TLS and applies a pin to the simulated register page in its state directory.
      const rig = await startRig(t);
      const node = `pi-image-${p.config.architecture}`;
      const { token } = rig.hub.createJoinToken(node);
      const state = '/var/lib/pi-controller-agent';
      const child: ChildProcess = startInImage(root, p.config, [
        '--sim',
        '--server',
        rig.hub.url,
        '--join-token',
        token,
        '--state-dir',
        state,
        '--node-name',
        node,
        '--log-level',
        'warn',
      ]);
      t.teardown(() => void child.kill('SIGKILL'));
      const ended = finished(child);
      let exit: Awaited<typeof ended> | null = null;
      void ended.then((r) => (exit = r));
      const connected = (): boolean => {
        try {
          return rig.hub.info(node).connected && rig.hub.info(node).health !== null;
        } catch {
          return false;
        }
      };
      await until(() => connected() || exit !== null, scaled(120_000));
      t.equal(exit, null, 'the agent is still running');
      t.ok(connected(), 'enrolled and connected, health reported');
      t.match(rig.hub.info(node), { connected: true, agentVersion: pkg.version, simulated: true });

      const put = await rig.srv.req('PUT', `/api/v1/nodes/${node}/gpio/17`, { body: { spec: { pin: 17, mode: 'output', value: 1 } } });
      t.equal(put.status, 201);
      await until(() => rig.hub.info(node).applied.some((i) => i.name === '17' && i.phase === 'Applied'), scaled(60_000));
      const chip = simChip(join(root, state, 'gpiomem.sim'), false);
      t.teardown(() => chip.close());
      t.equal(chip.getMode(17), 'output', 'GPIO17 is an output in the register page the image wrote');
      t.equal(chip.read(17), 1, 'and drives 1');

      child.kill('SIGTERM');
      const r = await ended;
      t.equal(r.code, 0, `stops on SIGTERM with 0 ${r.err.slice(-2000)}`);
    });
  }
});

t.test('the docker-archive exports', async (t) => {
  const { platforms } = readLayout(out);
  for (const p of platforms) {
    const archive = summary.platforms.find((s) => s.platform === p.slug)!.archive;
    const dir = tempDir(t, 'pic-archive-');
    execFileSync('tar', ['-xf', archive, '-C', dir]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    t.equal(manifest.length, 1, `${p.slug}: one image`);
    const m = manifest[0]!;
    t.same(m.RepoTags, [`${summary.name}:${pkg.version}`]);
    t.equal(sha(readFileSync(join(dir, m.Config))), p.manifest.config.digest, `${p.slug}: the same config as the OCI manifest`);
    t.same(
      m.Layers.map((l) => sha(readFileSync(join(dir, l)))),
      p.config.rootfs.diff_ids,
      `${p.slug}: the layers are the uncompressed tars of the diff_ids`,
    );
    const repos = JSON.parse(readFileSync(join(dir, 'repositories'), 'utf8')) as Record<string, Record<string, string>>;
    t.same(repos, { [summary.name]: { [pkg.version]: p.config.rootfs.diff_ids.at(-1)!.slice(7) } });
  }

  await t.test('ctr images import into a private containerd', async (t) => {
    if (!existsSync('/usr/bin/containerd') || !existsSync('/usr/bin/ctr')) {
      t.pass('ctr import', { skip: "containerd is not installed (scripts/setup/60-image.sh installs Debian's containerd)" });
      return;
    }
    if (process.getuid?.() !== 0) {
      t.pass('ctr import', { skip: 'containerd needs root' });
      return;
    }
    const dir = tempDir(t, 'pic-containerd-');
    const sock = join(dir, 'containerd.sock');
    writeFileSync(
      join(dir, 'config.toml'),
      [
        'version = 2',
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${sock}"`,
        '[ttrpc]',
        `  address = "${dir}/ttrpc.sock"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
      ].join('\n'),
    );
    const daemon = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr.on('data', (c: Buffer) => (log += c.toString()));
    t.teardown(() => void daemon.kill('SIGKILL'));
    const ctr = (...args: string[]): string =>
      execFileSync('ctr', ['--address', sock, '--namespace', 'k8s.io', ...args], { encoding: 'utf8' });
    await until(() => existsSync(sock), scaled(30_000)).catch(() => t.fail(`containerd did not start: ${log.slice(-2000)}`));
    for (const p of platforms) {
      const archive = summary.platforms.find((s) => s.platform === p.slug)!.archive;
      const platform = [p.config.os, p.config.architecture, p.config.variant].filter(Boolean).join('/');
      // Unpacked into the native snapshotter: every layer applies.
      ctr('images', 'import', '--platform', platform, '--snapshotter', 'native', archive);
      const name = `docker.io/library/${summary.name}:${pkg.version}`;
      const ls = ctr('images', 'ls');
      t.match(ls, name, `${p.slug}: listed as ${name}`);
      const target = ls
        .split('\n')
        .find((l) => l.startsWith(name))!
        .split(/\s+/)[2]!;
      const stored = JSON.parse(ctr('content', 'get', target)) as { config: { digest: string }; layers: { digest: string }[] };
      t.equal(stored.config.digest, p.manifest.config.digest, `${p.slug}: containerd holds the image's config`);
      t.same(
        stored.layers.map((l) => l.digest),
        p.config.rootfs.diff_ids,
        `${p.slug}: and its layers`,
      );
      ctr('images', 'rm', name);
    }
  });
});

t.test('pushed to a real registry, the image resolves to its three platforms', { skip: registryMissing() ?? false }, async (t) => {
  const reg = await startRegistry(t);
  const { top, index, platforms } = readLayout(out);
  const repo = 'pi-controller/agent';
  // Blobs, then each platform's manifest by digest, then the index under the version tag.
  for (const p of platforms) {
    for (const d of [p.manifest.config, ...p.manifest.layers]) t.equal(await pushBlob(reg, repo, blob(out, d.digest)), d.digest);
    await pushManifest(reg, repo, p.descriptor.digest, blob(out, p.descriptor.digest), MEDIA.manifest);
  }
  const digest = await pushManifest(reg, repo, pkg.version, blob(out, top.manifests[0]!.digest), MEDIA.index);
  t.equal(digest, top.manifests[0]!.digest);
  const r = await new RegistryClient().resolve(`${reg.host}/${repo}:${pkg.version}`);
  t.equal(r.digest, top.manifests[0]!.digest, 'the registry serves the index the build wrote');
  t.same(
    r.platforms,
    index.manifests.map((m) => m.platform),
  );
  const one = await new RegistryClient().resolve(`${reg.host}/${repo}@${platforms[2]!.descriptor.digest}`);
  t.same(one.platforms, [{ os: 'linux', architecture: 'arm', variant: 'v7' }], 'a platform manifest alone: the platform from its config');
});
