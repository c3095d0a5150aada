import t from 'tap';
import { readFileSync } from 'node:fs';
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
  for (const f of ['dist/src', 'prebuilds', 'crds', 'binding.gyp', 'native']) {
    t.ok(pkg.files.includes(f), `the npm tarball includes ${f}`);
  }
  t.equal(pkg.scripts.test, 'bash scripts/test.sh', 'npm test runs the whole suite through one script');
  const ci = readFileSync(join(repoRoot(), '.ci', 'run'), 'utf8');
  t.match(ci, /\nnpm ci\nnpm test\n/, '.ci/run is npm ci followed by exactly npm test');
});
