/**
 * Writes crds/*.yaml from the schemas (`npm run gen:crds`), or with `--check` exits 1 and names
 * the files that differ from what it would write (CI).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdFiles } from './crds.js';

/** The repository's crds/ folder (this file runs from dist/src/cluster). */
export function crdDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../crds');
}

/** Files whose text differs from the generated one (missing files count). */
export function staleCrds(dir = crdDir()): string[] {
  return crdFiles()
    .filter(({ file, text }) => {
      try {
        return readFileSync(join(dir, file), 'utf8') !== text;
      } catch {
        return true;
      }
    })
    .map((f) => f.file);
}

export function writeCrds(dir = crdDir()): string[] {
  mkdirSync(dir, { recursive: true });
  const files = crdFiles();
  for (const { file, text } of files) writeFileSync(join(dir, file), text);
  return files.map((f) => join(dir, f.file));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleCrds();
    if (stale.length) {
      process.stderr.write(`crds/ differs from the schemas: ${stale.join(', ')} (run npm run gen:crds)\n`);
      process.exit(1);
    }
  } else {
    for (const f of writeCrds()) process.stdout.write(`wrote ${f}\n`);
  }
}
