/**
 * The built web UI (dist/web, from `npm run build:web`; scripts/test.sh builds it when web/ changed):
 * its size against the budget of 100 KiB gzipped (a size, not a speed: it does not vary with the
 * machine's load), and a page the strict CSP allows: no inline script or style, only hashed assets.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot } from '../support/paths.js';

const BUDGET_GZIP = 100 * 1024;
const web = join(repoRoot(), 'dist', 'web');

if (!existsSync(join(web, 'index.html'))) {
  console.log('# skipping: dist/web is not built (npm run build:web)');
  t.plan(0, 'dist/web is not built: run npm run build:web');
} else {
  t.test('bundle size', async (t) => {
    const files = ['index.html', ...readdirSync(join(web, 'assets')).map((f) => join('assets', f))];
    let raw = 0;
    let gz = 0;
    for (const f of files) {
      const b = readFileSync(join(web, f));
      raw += b.length;
      gz += gzipSync(b, { level: 9 }).length;
    }
    console.log(`# web UI bundle: ${files.length} files, ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
    t.ok(gz <= BUDGET_GZIP, `${(gz / 1024).toFixed(1)} KiB gzipped is within the budget of ${BUDGET_GZIP / 1024} KiB`);
  });

  t.test('index.html loads only hashed assets, nothing inline', async (t) => {
    const html = readFileSync(join(web, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((r) => !r.startsWith('data:'));
    t.ok(refs.length >= 2, `a script and a stylesheet: ${refs.join(', ')}`);
    for (const r of refs) {
      t.match(r, /^\/assets\/[a-z]+-[A-Z0-9]{8,}\.(js|css)$/, `${r} is a hashed asset`);
      t.ok(existsSync(join(web, r)), `${r} exists`);
    }
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    t.notMatch(html, /<style|\sstyle=/, 'no inline style');
  });
}
