import t from 'tap';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './support/paths.js';

interface PackageJson {
  name: string;
  engines: { node: string };
  files: string[];
  scripts: Record<string, string>;
}

t.test('package manifest', async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as PackageJson;
  t.equal(pkg.name, 'pi-controller');
  t.match(pkg.engines.node, /^>=20/, 'supports Node 20 (Raspberry Pi OS trixie ships 20.19)');
  for (const f of ['dist/src', 'dist/web', 'prebuilds', 'crds', 'binding.gyp', 'native']) {
    t.ok(pkg.files.includes(f), `the npm tarball includes ${f}`);
  }
  t.equal(pkg.scripts.test, 'bash scripts/test.sh', 'npm test runs the whole suite through one script');
  const ci = readFileSync(join(repoRoot(), '.ci', 'run'), 'utf8');
  t.match(ci, /\nnpm ci\nnpm test\n/, '.ci/run is npm ci followed by exactly npm test');
});

t.test('npm run test:unit runs every test that needs no rig', async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as PackageJson;
  t.equal(pkg.scripts['test:unit'], 'bash scripts/test.sh --unit');
  const list = (...args: string[]) =>
    execFileSync(process.execPath, ['scripts/test-files.mjs', ...args], { cwd: repoRoot(), encoding: 'utf8' })
      .trim()
      .split('\n');
  const all = list();
  const unit = list('--unit');
  t.ok(all.includes('dist/test/server/api.test.js') && unit.includes('dist/test/server/api.test.js'), 'a plain server test is a unit test');
  t.ok(unit.includes('dist/test/native/gpio-rp1.test.js'), 'so is a native-suite file');
  for (const rig of [
    'dist/test/legs/armv7.test.js',
    'dist/test/kernel/rig.test.js',
    'dist/test/e2e/k8s-serve.test.js',
    'dist/test/cluster/k8s-rig.test.js',
    'dist/test/ui/ui.test.js',
  ]) {
    t.ok(all.includes(rig), `${rig} is in the whole suite`);
    t.notOk(unit.includes(rig), `and not in the unit loop`);
  }
  t.ok(
    unit.every((f) => all.includes(f)),
    'the unit loop is a part of the whole suite',
  );
});
