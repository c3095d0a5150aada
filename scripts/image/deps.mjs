// Which npm packages the agent loads: the module graph of the compiled agent, followed from its
// entry files through relative imports, with every bare specifier (import, dynamic import with a
// literal, require, createRequire(...)('x')) taken as a package, then the closure of those
// packages over their package.json dependencies as installed in node_modules. The image carries
// that closure, not every production dependency of the package: the control plane's (Koa,
// better-sqlite3, the Kubernetes client, ssh2, ...) are never loaded by `pi-controller agent`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*|\)\s*\(\s*)['"]([^'"\n]+)['"]/g;
const BUILTIN = new Set(builtinModules);

/** The package name of a bare specifier ('@scope/name/sub' -> '@scope/name'), or null for a built-in. */
export function packageName(spec) {
  if (spec.startsWith('node:') || BUILTIN.has(spec) || BUILTIN.has(spec.split('/')[0])) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The packages named by the module graph from `entries` (absolute paths of .js/.cjs files).
 * Relative specifiers that name no file (paths built at run time) are not followed.
 * @returns {{ packages: string[], files: string[] }}
 */
export function importedPackages(entries) {
  const seen = new Set();
  const packages = new Set();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(SPECIFIER)) {
      const spec = m[1];
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(dirname(file), spec);
        if (existsSync(target) && statSync(target).isFile() && /\.(c|m)?js$/.test(target)) queue.push(target);
      } else {
        const name = packageName(spec);
        if (name) packages.add(name);
      }
    }
  }
  return { packages: [...packages].sort(), files: [...seen].sort() };
}

/** Node's lookup of package `name` from the package folder `from`, within `root`/node_modules. */
function lookup(root, from, name) {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root) return null;
    // From node_modules/a/node_modules/b up to node_modules/a, then to the root.
    const up = dirname(dir);
    dir = up.endsWith('/node_modules') ? dirname(up) : up;
    if (dir.endsWith('/node_modules')) dir = dirname(dir);
    if (!dir.startsWith(root)) return null;
  }
}

/**
 * The installed folders (relative to `root`, e.g. 'node_modules/pino') of `names` and everything
 * they depend on: dependencies, and optional and peer dependencies where installed. Throws on a
 * dependency that is not installed.
 * @returns {string[]}
 */
export function packageClosure(root, names) {
  const found = new Set();
  const missing = [];
  const visit = (from, name, optional) => {
    const dir = lookup(root, from, name);
    if (!dir) {
      if (!optional) missing.push(`${name} (from ${relative(root, from) || 'the package'})`);
      return;
    }
    const rel = relative(root, dir);
    if (found.has(rel)) return;
    found.add(rel);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(dir, d, false);
    for (const d of Object.keys(pkg.optionalDependencies ?? {})) visit(dir, d, true);
    for (const d of Object.keys(pkg.peerDependencies ?? {})) visit(dir, d, true);
  };
  for (const n of names) visit(root, n, false);
  if (missing.length) throw new Error(`not installed: ${missing.join(', ')}`);
  return [...found].sort();
}
