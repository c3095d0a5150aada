/**
 * `npm run image` is reproducible: two builds of the same tree give the same bytes, so the same
 * index, manifest, config and layer digests and the same docker-archive files.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { buildImage } from '../support/image.js';

/** Every file under `dir` with the sha256 of its bytes. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

t.setTimeout(scaled(1_200_000));

t.test('two builds of the same tree are identical', async (t) => {
  const a = join(tempDir(t, 'pic-image-a-'), 'image');
  const b = join(tempDir(t, 'pic-image-b-'), 'image');
  const first = await buildImage(a);
  const second = await buildImage(b);
  t.equal(second.index, first.index, `the same index digest ${first.index}`);
  t.same(
    second.platforms.map((p) => p.manifest),
    first.platforms.map((p) => p.manifest),
    'the same manifest digest per platform',
  );
  const da = digests(a);
  t.ok(Object.keys(da).length > 3 * 5, `${Object.keys(da).length} files`);
  t.same(digests(b), da, 'every file of the layout and every docker-archive is byte for byte the same');
});
