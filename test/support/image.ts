/**
 * The agent image in tests: `npm run image` (scripts/image/build.mjs) into a directory, the OCI
 * layout read back with every digest checked by whoever asks, a platform's layers unpacked into a
 * root file system, and the image's own Node run in it: chroot into that root (its C library, its
 * Node, its node_modules, nothing of this machine's), through qemu-user for the ARM platforms.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';
import { onPath } from './cross.js';

const run = promisify(execFile);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}
export interface Manifest {
  schemaVersion: number;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}
export interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config: { Entrypoint: string[]; Env: string[]; WorkingDir: string; Labels: Record<string, string> };
  rootfs: { type: string; diff_ids: string[] };
  history: { created: string; created_by: string }[];
}
export interface BuildSummary {
  name: string;
  version: string;
  index: string;
  platforms: {
    platform: string;
    manifest: string;
    compressed: number;
    uncompressed: number;
    layers: { what: string; compressed: number; uncompressed: number }[];
    archive: string;
  }[];
}

/** Runs `npm run image`'s script into `out` (only `platforms`, e.g. `['linux/amd64']`, when given); resolves with its summary. */
export async function buildImage(out: string, env: Record<string, string> = {}, platforms?: string[]): Promise<BuildSummary> {
  const only = platforms ? ['--platform', platforms.join(',')] : [];
  const r = await run(process.execPath, [join(repoRoot(), 'scripts/image/build.mjs'), '--out', out, ...only, '--json'], {
    env: { ...process.env, ...env },
    maxBuffer: 16 << 20,
    timeout: 900_000,
  });
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as BuildSummary;
}

/** A blob of the layout at `dir`. */
export function blob(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
}

export function blobJson<T>(dir: string, digest: string): T {
  return JSON.parse(blob(dir, digest).toString('utf8')) as T;
}

/** The layout's image index (the one index.json names) and each platform's manifest and config. */
export function readLayout(dir: string): {
  top: Index;
  index: Index;
  platforms: { descriptor: Descriptor; manifest: Manifest; config: ImageConfig; slug: string }[];
} {
  const top = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const index = blobJson<Index>(dir, top.manifests[0]!.digest);
  const platforms = index.manifests.map((descriptor) => {
    const manifest = blobJson<Manifest>(dir, descriptor.digest);
    const p = descriptor.platform!;
    return {
      descriptor,
      manifest,
      config: blobJson<ImageConfig>(dir, manifest.config.digest),
      slug: [p.os, p.architecture, p.variant].filter(Boolean).join('-'),
    };
  });
  return { top, index, platforms };
}

/** Unpacks a manifest's layers, in order, into `rootDir` (created). */
export function unpack(dir: string, manifest: Manifest, rootDir: string): void {
  mkdirSync(rootDir, { recursive: true });
  for (const l of manifest.layers) execFileSync('tar', ['-xzf', join(dir, 'blobs', 'sha256', l.digest.slice(7)), '-C', rootDir]);
}

/** The qemu-user emulator an architecture needs on this x86-64 machine ('' for amd64). */
export function emulator(architecture: string): string {
  return architecture === 'arm64' ? 'qemu-aarch64-static' : architecture === 'arm' ? 'qemu-arm-static' : '';
}

/** Why the image cannot be run here (not root for chroot, or qemu missing), or null. */
export function cannotRun(architecture: string): string | null {
  if (process.getuid?.() !== 0) return 'running the image needs unshare, mount and chroot (root)';
  const q = emulator(architecture);
  if (q && !onPath(q)) return `${q} not found (scripts/setup/20-cross.sh installs qemu-user-static)`;
  return null;
}

/**
 * Starts the image's entrypoint with `args` in `rootDir` with only the image's Env, as a container
 * runtime would: chroot in a private mount namespace with /proc mounted (the agent's health reads
 * it). An ARM image goes through a copy of the static qemu-user emulator placed in the root (at
 * /.qemu). `sh -c ... exec` keeps one process, so a signal to the child reaches the agent.
 */
export function startInImage(rootDir: string, config: ImageConfig, args: string[]): ChildProcess {
  const q = emulator(config.architecture);
  const prefix: string[] = [];
  if (q) {
    copyFileSync(onPath(q)!, join(rootDir, '.qemu'));
    prefix.push('/.qemu');
  }
  mkdirSync(join(rootDir, 'proc'), { recursive: true });
  const env = Object.fromEntries(config.config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  // unshare, sh, mount and chroot come from this machine; the image's Env is for what runs inside.
  const script = `PATH=/usr/sbin:/usr/bin:/sbin:/bin; mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`;
  return spawn(
    onPath('unshare') ?? '/usr/bin/unshare',
    ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, rootDir, ...prefix, ...config.config.Entrypoint, ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Resolves with the exit code and output of a process. */
export function finished(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** A layout directory exists with an index (for messages). */
export function isLayout(dir: string): boolean {
  return existsSync(join(dir, 'oci-layout')) && existsSync(join(dir, 'index.json'));
}

const FAKE_INDEX = 'application/vnd.oci.image.index.v1+json';
const FAKE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * A small image layout as `npm run image` lays one out (index.json naming an image index over the
 * platforms), with a manifest per platform, two text layers each and a config naming the agent's
 * entry point; returns each platform's layer digests (`amd64`, `arm/v7`).
 */
export function fakeLayout(dir: string, platforms: { architecture: string; variant?: string }[]): Record<string, string[]> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (data: string | Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  const layers: Record<string, string[]> = {};
  const manifests = platforms.map((p) => {
    const slug = `${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
    const ls = [put(`root of ${slug}`), put(`app of ${slug}`)];
    layers[slug] = ls.map((l) => l.digest);
    const config = put(
      JSON.stringify({
        architecture: p.architecture,
        os: 'linux',
        config: { Entrypoint: ['/usr/local/bin/node', '/opt/pi-controller/dist/src/cli/main.js', 'agent'] },
      }),
    );
    const m = put(JSON.stringify({ schemaVersion: 2, mediaType: FAKE_MANIFEST, config, layers: ls }));
    return { mediaType: FAKE_MANIFEST, ...m, platform: { os: 'linux', ...p } };
  });
  const index = put(JSON.stringify({ schemaVersion: 2, mediaType: FAKE_INDEX, manifests }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: FAKE_INDEX, ...index }] }));
  return layers;
}
