// The npm tarball as a user gets it: packed from this tree, installed into an empty folder from
// the npm registry with no compiler on PATH, then loaded. Also what happens when no prebuild fits:
// the install hook fails with advice when it runs, the loader throws the same advice when npm
// skipped the hook, and a compiler on PATH makes the hook build from source.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { onPath, tarballFiles } from '../support/cross.js';
import { scaled } from '../support/wait.js';

// Three npm installs and one source build: more than tap's 30 s default when run standalone.
t.setTimeout(scaled(240_000));

const work = mkdtempSync(join(tmpdir(), 'pi-controller-tarball-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

// A PATH with node, npm and a shell only: no g++, cc, gcc, c++, make or python can be found.
const bin = join(work, 'bin');
mkdirSync(bin);
for (const tool of ['node', 'npm', 'sh', 'env']) {
  const p = onPath(tool);
  if (!p) throw new Error(`${tool} not on PATH`);
  symlinkSync(p, join(bin, tool));
}
const bare = (): NodeJS.ProcessEnv => ({
  HOME: process.env.HOME,
  PATH: bin,
  // Where this Node's headers are (scripts/env.sh), so a source build never downloads them.
  ...(process.env.npm_config_nodedir ? { npm_config_nodedir: process.env.npm_config_nodedir } : {}),
});

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
}

/** An empty consumer project. */
function app(name: string, allowScripts: Record<string, boolean>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, allowScripts }));
  return dir;
}

// better-sqlite3 (the control plane's database) builds itself in its install hook: it downloads a
// binary from its GitHub releases or compiles. Neither is possible here (no network but the npm
// registry, and no compiler), so the consumer denies its hook; pi-controller/hw does not need it.
const DENY_SQLITE = { 'better-sqlite3': false };

function npmInstall(dir: string, spec: string, extra: string[] = [], env = bare()): SpawnSyncReturns<string> {
  return run(join(bin, 'npm'), ['install', '--no-audit', '--no-fund', '--foreground-scripts', ...extra, spec], dir, env);
}

/**
 * In the consumer folder: imports pi-controller/hw, opens a simulated BCM2711 chip and drives a
 * pin (the real register code over the chip's behavioural model), or reports the load error.
 */
function load(dir: string): SpawnSyncReturns<string> {
  const script = `
    const hw = await import('pi-controller/hw');
    const pkg = ${JSON.stringify(join(dir, 'node_modules', 'pi-controller'))};
    try {
      const file = hw.addonPath();
      const chip = hw.openChip({ soc: 'bcm2711', simulate: true, trace: true });
      chip.mode(17, 'output');
      chip.write(17, 1);
      const high = chip.read(17);
      chip.write(17, 0);
      const low = chip.read(17);
      const writes = chip.trace().length;
      chip.close();
      console.log(JSON.stringify({ file: file.slice(pkg.length + 1), high, low, writes }));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message }));
    }`;
  return run(join(bin, 'node'), ['--input-type=module', '-e', script], dir, bare());
}
interface Loaded {
  file?: string;
  high?: number;
  low?: number;
  writes?: number;
  code?: string;
  message?: string;
}
const parsed = (r: SpawnSyncReturns<string>): Loaded => {
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Loaded;
  } catch {
    return { message: r.stdout + r.stderr };
  }
};
/** Asserts that pin 17 of the simulated chip followed the writes. */
function drivesPin(t: Test, l: Loaded): void {
  t.same([l.high, l.low], [1, 0], `GPIO17 reads back 1 then 0 (${l.writes} register accesses traced)${l.message ? `: ${l.message}` : ''}`);
}

let tgz = '';
t.test('npm pack', async (t) => {
  const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: repoRoot(), encoding: 'utf8' });
  if (packed.status !== 0) {
    t.fail(`npm pack failed: ${packed.stderr}`);
    return;
  }
  const out = packed.stdout;
  const [info] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number }[];
  tgz = join(work, info?.filename ?? '');
  const files = tarballFiles(tgz);
  for (const arch of ['x64', 'arm64', 'arm']) {
    const f = `prebuilds/linux-${arch}/pi-controller.node`;
    t.ok(files.includes(f), `holds ${f}`);
    t.ok(files.includes(`prebuilds/linux-${arch}/glibc-version`), 'with the glibc version it needs');
    t.comment(`${f}: ${statSync(join(repoRoot(), f)).size} bytes`);
  }
  t.ok(
    files.some((f) => f.startsWith('dist/src/hw/')),
    'holds the compiled hardware API (dist/src/hw)',
  );
  t.ok(
    files.some((f) => f.startsWith('crds/')),
    'holds crds/',
  );
  t.ok(
    ['catalog/minio.yaml', 'catalog/postgresql.yaml', 'catalog/prometheus-grafana.yaml'].every((f) => files.includes(f)),
    'holds the service catalog (catalog/)',
  );
  t.ok(files.includes('scripts/install.cjs') && files.includes('binding.gyp'), 'holds the install hook and the source build');
  t.same(
    files.filter((f) => /^(dist\/test|test|build|bench)\//.test(f) || /\.test\.js$/.test(f)),
    [],
    'no tests, no build/',
  );
  t.comment(`tarball ${info?.filename}: ${info?.size} bytes packed, ${info?.unpackedSize} unpacked, ${files.length} files`);
});

t.test('installs with no compiler on PATH and loads the prebuild', async (t) => {
  if (!tgz) return t.fail('no tarball (npm pack failed)');
  for (const tool of ['g++', 'c++', 'gcc', 'cc', 'make', 'python', 'python3']) {
    t.equal(onPath(tool, bin), null, `${tool} cannot be found`);
  }
  const dir = app('with-hook', DENY_SQLITE);
  const r = npmInstall(dir, tgz);
  t.equal(r.status, 0, 'npm install succeeds, the install hook included');
  if (r.status !== 0) t.comment(r.stdout + r.stderr);
  t.match(r.stdout, /node scripts\/install\.cjs/, 'the install hook ran');
  t.notOk(existsSync(join(dir, 'node_modules', 'pi-controller', 'build')), 'nothing was built from source');
  const l = parsed(load(dir));
  t.equal(l.file, 'prebuilds/linux-x64/pi-controller.node', 'the loader picks the x64 prebuild');
  drivesPin(t, l);
});

t.test('installs and loads when npm does not run install scripts', async (t) => {
  if (!tgz) return t.fail('no tarball (npm pack failed)');
  const dir = app('no-hook', DENY_SQLITE);
  const r = npmInstall(dir, tgz, ['--ignore-scripts']);
  t.equal(r.status, 0, 'npm install --ignore-scripts succeeds');
  t.notMatch(r.stdout, /node scripts\/install\.cjs/, 'the hook did not run');
  const l = parsed(load(dir));
  t.equal(l.file, 'prebuilds/linux-x64/pi-controller.node', 'the prebuild is found at run time');
  drivesPin(t, l);

  // Now no prebuild fits (as on a Pi 1 / Zero, or any other platform): the loader says why and how.
  rmSync(join(dir, 'node_modules', 'pi-controller', 'prebuilds', 'linux-x64'), { recursive: true });
  const missing = parsed(load(dir));
  t.equal(missing.code, 'ERR_PI_CONTROLLER_NO_NATIVE_BUILD', 'the loader throws a coded error');
  t.match(missing.message ?? '', /no prebuilt binary for linux-x64/, 'saying why');
  t.match(missing.message ?? '', /apt install -y build-essential python3[\s\S]*npm rebuild pi-controller/, 'and what to do');

  // With a compiler on PATH the hook builds from source, and the loader then picks build/Release.
  const full = { ...bare(), PATH: process.env.PATH };
  const rebuilt = run(join(bin, 'npm'), ['rebuild', '--foreground-scripts', 'pi-controller'], dir, full);
  t.equal(rebuilt.status, 0, 'npm rebuild builds from source when a compiler exists');
  t.match(rebuilt.stderr, /building from source with node-gyp/, 'and says so');
  if (rebuilt.status !== 0) t.comment(rebuilt.stdout + rebuilt.stderr);
  const built = parsed(load(dir));
  t.equal(built.file, 'build/Release/pi_controller.node', 'the loader picks the source build');
  drivesPin(t, built);
});

t.test('the install fails with advice when no prebuild fits and no compiler exists', async (t) => {
  if (!tgz) return t.fail('no tarball (npm pack failed)');
  // The same tarball without the x64 prebuild: this machine becomes one that no prebuild fits.
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tgz, '-C', unpacked]);
  rmSync(join(unpacked, 'package', 'prebuilds', 'linux-x64'), { recursive: true });
  const stripped = join(work, 'no-x64.tgz');
  execFileSync('tar', ['-czf', stripped, '-C', unpacked, 'package']);

  const dir = app('no-fit', DENY_SQLITE);
  const r = npmInstall(dir, stripped);
  t.not(r.status, 0, 'npm install fails');
  const out = r.stdout + r.stderr;
  t.match(out, /pi-controller: cannot load the native addon: no prebuilt binary for linux-x64/, 'saying why');
  t.match(out, /building from source needs a C\+\+ compiler \(g\+\+\), make, python3, which cannot be found/, 'naming what is missing');
  t.match(out, /sudo apt install -y build-essential python3/, 'and the commands that fix it');
});
