// The native suite under AddressSanitizer and UndefinedBehaviorSanitizer. The addon is built with
// g++ -fsanitize=address,undefined into a cache folder of its own (never build/Release, which
// other builds and tests use at the same time), from the sources and defines listed in
// binding.gyp; then every native-suite file runs with that binary and gcc's sanitizer runtimes
// preloaded into an ordinary node.
import t from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { nativeSuiteFiles, runSuiteFile, type SuiteRun } from '../support/native-suite.js';
import { repoRoot } from '../support/paths.js';
import { cacheDir, mapLimit } from '../support/cross.js';
import { scaled } from '../support/wait.js';

const SANITIZE = ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=undefined'];
const CXXFLAGS = ['-std=c++17', '-fexceptions', '-fPIC', '-O1', '-g1', '-Wall', '-Wextra', '-Werror', ...SANITIZE];

interface Gyp {
  targets: { sources: string[]; defines?: string[] }[];
}

/** Every file under native/, for the cache key. */
function nativeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? nativeFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

function nodeHeaders(): string {
  const dir = process.env.npm_config_nodedir ?? resolve(process.execPath, '..', '..');
  return join(dir, 'include', 'node');
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`${cmd} ${args.slice(-3).join(' ')} failed:\n${err}`))));
  });
}

/** Builds (or reuses) the sanitizer build; returns the .node path. */
async function buildSanitized(): Promise<string> {
  const root = repoRoot();
  const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as Gyp;
  const target = gyp.targets[0];
  if (!target) throw new Error('binding.gyp has no target');
  const addonApi = (createRequire(join(root, 'package.json'))('node-addon-api') as { include_dir: string }).include_dir;
  const includes = [`-I${nodeHeaders()}`, `-I${resolve(root, addonApi)}`, `-I${join(root, 'native')}`];
  const defines = [...(target.defines ?? []), 'BUILDING_NODE_EXTENSION'].map((d) => `-D${d}`);
  const hash = createHash('sha256');
  hash.update(JSON.stringify([CXXFLAGS, includes, defines, process.version, execFileSync('g++', ['--version'], { encoding: 'utf8' })]));
  for (const f of nativeFiles(join(root, 'native')).sort()) hash.update(f).update(readFileSync(f));
  hash.update(readFileSync(join(root, 'binding.gyp')));
  const dir = join(cacheDir(), `asan-${hash.digest('hex').slice(0, 16)}`);
  const out = join(dir, 'pi_controller.node');
  if (existsSync(out)) return out;
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const objects = target.sources.map((s) => join(tmp, s.replace(/[/.]/g, '_') + '.o'));
    await mapLimit(target.sources, 2, (src) => {
      const i = target.sources.indexOf(src);
      return run('g++', [...CXXFLAGS, ...defines, ...includes, '-c', join(root, src), '-o', objects[i]!]);
    });
    await run('g++', ['-shared', ...SANITIZE, ...objects, '-o', join(tmp, 'pi_controller.node')]);
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

const REPORT = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;

// The first build takes a while on 2 cores (it is cached afterwards); tap's standalone default is 30 s.
t.setTimeout(scaled(280_000));

t.test('native suite under ASan + UBSan', async (t) => {
  const libasan = execFileSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  const libubsan = execFileSync('g++', ['-print-file-name=libubsan.so'], { encoding: 'utf8' }).trim();
  t.ok(existsSync(libasan) && existsSync(libubsan), `gcc's sanitizer runtimes exist (${libasan})`);
  const started = Date.now();
  const addon = await buildSanitized();
  t.comment(`sanitizer build ${addon} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.ok(statSync(addon).size > 0, 'the sanitizer build exists');
  const symbols = execFileSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' });
  t.match(symbols, /__asan_report_store4/, 'register stores are instrumented by ASan');
  t.match(symbols, /__ubsan_handle_/, 'UBSan checks are compiled in');

  // A clean environment: under the tap runner, its TAP_* and NODE_OPTIONS settings would turn
  // each file into a child of this run and change what it prints.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && !k.startsWith('_TAP') && k !== 'NODE_OPTIONS'),
  );
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    PI_CONTROLLER_ADDON: addon,
    LD_PRELOAD: `${libasan}:${libubsan}`,
    // Node itself is not built with ASan and keeps memory until exit: leak checking would only
    // report Node. Everything else stops at the first report.
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:halt_on_error=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  };
  const files = nativeSuiteFiles();
  t.ok(files.length >= 5, `the native suite has files (${files.length})`);
  const runs: SuiteRun[] = await mapLimit(files, 2, (f) => runSuiteFile([process.execPath], f, env, 120_000));
  for (const r of runs) {
    t.test(`asan: ${basename(r.file)}`, async (t) => {
      t.equal(r.code, 0, `exits 0 (signal ${r.signal ?? 'none'})`);
      t.ok(r.total > 0, `runs assertions (${r.total})`);
      t.equal(r.pass, r.total, `all pass (${r.pass}/${r.total}, ${(r.ms / 1000).toFixed(1)} s)`);
      t.notMatch(r.output, REPORT, 'no sanitizer report');
      if (r.code !== 0 || r.pass !== r.total || REPORT.test(r.output)) t.comment(r.output.slice(-4000));
    });
  }
});
