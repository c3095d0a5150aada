// The install hook's decisions (scripts/install.cjs), for hosts this machine is not. The legs in
// test/legs run the same code for real: under qemu, from an installed tarball, with no compiler.
import t from 'tap';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import type { NativeHost } from '../../src/hw/prebuild.js';

interface Hook {
  compareVersions(a: string, b: string): number;
  prebuildMismatch(host: NativeHost, file: string): string | null;
  missingTools(env: NodeJS.ProcessEnv): string[];
  advice(reason: string): string;
}
const hook = createRequire(import.meta.url)(join(repoRoot(), 'scripts', 'install.cjs')) as Hook;

const dir = mkdtempSync(join(tmpdir(), 'pi-controller-install-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'pi-controller.node');
writeFileSync(join(dir, 'glibc-version'), '2.33\n');
const pi = (machine: string, glibc: string | null = '2.36', arch = 'arm', musl = false): NativeHost => ({
  platform: 'linux',
  arch,
  machine,
  glibc,
  musl,
});

t.test('glibc versions compare numerically', async (t) => {
  t.equal(hook.compareVersions('2.31', '2.33'), -1, 'older');
  t.equal(hook.compareVersions('2.33', '2.33'), 0, 'equal');
  t.equal(hook.compareVersions('2.36', '2.33'), 1, 'newer');
  t.equal(hook.compareVersions('2.4', '2.17'), -1, 'not as strings');
});

t.test('the linux-arm prebuild is refused on an ARMv6 CPU only', async (t) => {
  t.match(hook.prebuildMismatch(pi('armv6l'), file), /needs an ARMv7 or newer CPU and this one is armv6l/, 'Pi 1 / Zero / Zero W');
  t.equal(hook.prebuildMismatch(pi('armv7l'), file), null, 'Pi 2/3 on a 32-bit kernel');
  t.equal(hook.prebuildMismatch(pi('armv8l'), file), null, 'Pi 3/4 32-bit userland on a compat kernel');
  t.equal(hook.prebuildMismatch(pi('aarch64'), file), null, 'Pi 4/5 32-bit userland on the 64-bit kernel');
});

t.test('a prebuild is refused where its glibc is missing', async (t) => {
  t.match(hook.prebuildMismatch(pi('aarch64', '2.31', 'arm64'), file), /needs glibc 2\.33 or newer and this system has 2\.31/, 'bullseye');
  t.equal(hook.prebuildMismatch(pi('aarch64', '2.33', 'arm64'), file), null, 'the very version is enough');
  t.match(hook.prebuildMismatch(pi('x86_64', null, 'x64', true), file), /built for glibc and this system uses musl/, 'Alpine');
  t.equal(hook.prebuildMismatch(pi('x86_64', null, 'x64'), file), null, 'an unknown glibc version is given the benefit of the doubt');
});

t.test('the tools a source build needs are looked up on PATH', async (t) => {
  t.same(hook.missingTools({ PATH: dir }), ['a C++ compiler (g++)', 'make', 'python3'], 'all three named');
  t.same(hook.missingTools({ PATH: dir, CXX: 'clang++-99 -O2' }).slice(0, 1), ['the C++ compiler clang++-99'], 'CXX is honoured');
  t.match(hook.advice('why'), /^pi-controller: cannot load the native addon: why\.\n/, 'advice starts with the reason');
  t.match(
    hook.advice('why'),
    /sudo apt install -y build-essential python3 [\s\S]*\n {2}npm rebuild pi-controller$/,
    'and ends with the commands',
  );
});
