// `npm run build:web`: the web UI (web/, Preact + TypeScript JSX) bundled by esbuild into dist/web:
// index.html and assets/ with content-hashed names (the server caches those for a year). Type
// checking is tsc's (web/tsconfig.json, run first by the npm script); esbuild only strips types.
// Prints the bundle's size, raw and gzipped, and writes it to dist/web/size.json; dist/web/.built
// marks the build's time (scripts/test.sh rebuilds only when a file under web/ is newer).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const out = 'dist/web';
const stamp = join(out, '.built');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { main: 'web/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// index.html names the hashed files; nothing inline (the page's CSP allows no inline script or style).
const outputs = Object.keys(result.metafile.outputs).map((p) => relative(out, p));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
const html = readFileSync('web/index.html', 'utf8')
  .replace('%MAIN_JS%', `/${js}`)
  .replace('%MAIN_CSS%', css ? `/${css}` : '');
writeFileSync(join(out, 'index.html'), html);

const files = ['index.html', ...outputs];
let raw = 0;
let gz = 0;
for (const f of files) {
  const b = readFileSync(join(out, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
writeFileSync(stamp, `${new Date().toISOString()}\n`);
writeFileSync(join(out, 'size.json'), JSON.stringify({ files, rawBytes: raw, gzipBytes: gz }, null, 2) + '\n');
console.log(`web UI: ${files.join(', ')}: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
