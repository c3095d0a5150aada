/**
 * The boundary check: parses the imports of every .ts file under src/ and agent/ (static
 * `import` and `export ... from`, and `import('...')` with a string literal) and fails on an
 * import across a boundary the table below does not allow, on a package a folder must not use,
 * and on any import cycle between folders (a folder is `src/<x>`; `src/index.ts` is the unit
 * `src`; all of `agent/` is the unit `agent`). docs/architecture.md shows the same table; a
 * test below checks that the two agree.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './support/paths.js';

/**
 * Which units each unit may import (besides itself). A unit not in the table fails the check
 * until it is added here and in docs/architecture.md.
 */
export const ALLOWED: Record<string, string[]> = {
  'src/api': [],
  'src/log': [],
  'src/mdns': [],
  'src/core': ['src/api'],
  'src/events': ['src/api'],
  'src/config': ['src/api'],
  'src/hw': ['src/api', 'src/log'],
  'src/store': ['src/api', 'src/log'],
  'src/certs': ['src/api', 'src/core', 'src/log'],
  'src/backup': ['src/api', 'src/log', 'src/store'],
  'src/cluster': ['src/api', 'src/core', 'src/events', 'src/log', 'src/store'],
  'src/link': ['src/api', 'src/certs', 'src/core', 'src/events', 'src/log', 'src/store'],
  'src/server': ['src/api', 'src/core', 'src/events', 'src/log', 'src/store'],
  'src/discovery': ['src/api', 'src/config', 'src/core', 'src/events', 'src/log', 'src/mdns', 'src/store'],
  'src/provision': ['src/api', 'src/core', 'src/events', 'src/log', 'src/store'],
  'src/catalog': ['src/api', 'src/core'],
  'src/daemon': [
    'src/api',
    'src/backup',
    'src/catalog',
    'src/certs',
    'src/cluster',
    'src/config',
    'src/core',
    'src/discovery',
    'src/events',
    'src/link',
    'src/log',
    'src/provision',
    'src/server',
    'src/store',
  ],
  'src/cli': ['agent', 'src/api', 'src/backup', 'src/config', 'src/daemon', 'src/log'],
  src: ['src/api', 'src/backup', 'src/config', 'src/core', 'src/daemon', 'src/events', 'src/log', 'src/server', 'src/store'],
  agent: ['src/api', 'src/hw', 'src/log', 'src/mdns'],
};

/** Packages a unit must not use: Koa and Kubernetes stay out of the hardware layer and the agent; only src/hw loads the addon. */
const HW_FORBIDDEN = ['koa', '@koa/router', '@kubernetes/client-node', 'better-sqlite3', 'prom-client'];
export const FORBIDDEN_PACKAGES: Record<string, string[]> = {
  // The driver layer also leaves networking and logging to its callers.
  'src/hw': [...HW_FORBIDDEN, 'ws', 'pino'],
  agent: HW_FORBIDDEN,
  '*': ['node-gyp-build'],
};

/**
 * Violations that exist on this branch and are being removed elsewhere: `agent/cli.ts` imports
 * `src/cli` (its `Io` type and exit codes) while `src/cli` starts the agent. The check fails if
 * one of these disappears, so the entry is removed with it.
 */
export const knownViolations: string[] = [];

/** The unit of a repository path (posix separators). */
export function unitOf(file: string): string {
  const p = file.split('/');
  if (p[0] === 'agent') return 'agent';
  return p.length > 2 ? `src/${p[1]}` : 'src';
}

/** Every import of a source: module specifiers of static imports, re-exports and literal dynamic imports. */
export function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** The package name of a bare specifier (`@scope/name` or `name`). */
function packageOf(spec: string): string {
  const p = spec.split('/');
  return spec.startsWith('@') ? `${p[0]}/${p[1]}` : p[0]!;
}

/** Unit-level edges: `from -> to` with the files that make each. */
export function unitGraph(files: Map<string, string>): { units: Map<string, Set<string>>; packages: Map<string, Set<string>> } {
  const units = new Map<string, Set<string>>();
  const packages = new Map<string, Set<string>>();
  for (const [file, source] of files) {
    const from = unitOf(file);
    if (!units.has(from)) units.set(from, new Set());
    if (!packages.has(from)) packages.set(from, new Set());
    for (const spec of importsOf(source)) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        packages.get(from)!.add(packageOf(spec));
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      if (target.startsWith('..')) continue; // outside src/ and agent/ (none today)
      const to = unitOf(target);
      if (to !== from) units.get(from)!.add(to);
    }
  }
  return { units, packages };
}

/** Strongly connected components of more than one unit (Tarjan), each as a sorted cycle description. */
export function cycles(graph: Map<string, Set<string>>): string[] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) {
        const members = scc.sort();
        out.push(`cycle: ${[...members, members[0]].join(' -> ')}`);
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out.sort();
}

/** Every violation in a map of repository path to source. */
export function check(files: Map<string, string>): string[] {
  const { units, packages } = unitGraph(files);
  const found: string[] = [];
  for (const [from, tos] of units) {
    const allowed = ALLOWED[from];
    if (!allowed) {
      found.push(`${from}: not in the allowed-imports table (add it to test/architecture.test.ts and docs/architecture.md)`);
      continue;
    }
    for (const to of [...tos].sort()) if (!allowed.includes(to)) found.push(`${from} -> ${to}: not allowed`);
  }
  for (const [from, pkgs] of packages) {
    for (const p of [...pkgs].sort()) {
      if ((FORBIDDEN_PACKAGES[from] ?? []).includes(p)) found.push(`${from} -> ${p}: forbidden package`);
      if (from !== 'src/hw' && FORBIDDEN_PACKAGES['*']!.includes(p)) found.push(`${from} -> ${p}: only src/hw loads the addon`);
    }
  }
  return [...found.sort(), ...cycles(units)];
}

/** The .ts sources under src/ and agent/ by repository path. */
function sources(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) files.set(relative(root, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'agent'));
  return files;
}

t.test('architecture', async (t) => {
  t.test('the checker finds a folder cycle, a forbidden import and a forbidden package in a made-up tree', async (t) => {
    const fake = new Map([
      ['src/server/a.ts', "import { b } from '../cluster/b.js';\nexport const a = b;"],
      ['src/cluster/b.ts', "import type {\n  A,\n} from '../server/a.js';\nexport const b = 1;"],
      ['src/hw/c.ts', "export const c = await import('../server/a.js');\nimport Koa from 'koa';"],
      ['agent/d.ts', "export { x } from '../src/store/index.js';"],
      ['src/store/index.ts', '// import nothing from "../hw/x.js" in a comment\nexport const x = 1;'],
    ]);
    t.same(check(fake), [
      'agent -> src/store: not allowed',
      'src/cluster -> src/server: not allowed',
      'src/hw -> koa: forbidden package',
      'src/hw -> src/server: not allowed',
      'src/server -> src/cluster: not allowed',
      'cycle: src/cluster -> src/server -> src/cluster',
    ]);
  });

  t.test('a cycle through three folders is one cycle', async (t) => {
    const g = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
      ['d', new Set(['a'])],
    ]);
    t.same(cycles(g), ['cycle: a -> b -> c -> a']);
  });

  t.test('src/ and agent/ keep their boundaries (violations beyond the known ones fail)', async (t) => {
    const found = check(sources(repoRoot()));
    const unexpected = found.filter((v) => !knownViolations.includes(v));
    const gone = knownViolations.filter((v) => !found.includes(v));
    t.same(unexpected, [], 'no import crosses a boundary the table does not allow, and there is no cycle');
    t.same(gone, [], 'every known violation still exists (remove the ones that are fixed from knownViolations)');
  });

  t.test('docs/architecture.md shows the same allowed-imports table', async (t) => {
    const doc = readFileSync(join(repoRoot(), 'docs', 'architecture.md'), 'utf8');
    const rows = new Map<string, string[]>();
    for (const m of doc.matchAll(/^\| `([a-z/]+)` \| ([^|]*) \|/gm)) {
      const cell = m[2]!.trim();
      rows.set(m[1]!, cell === '-' ? [] : [...cell.matchAll(/`([a-z/]+)`/g)].map((x) => x[1]!).sort());
    }
    t.same(
      Object.fromEntries([...rows].sort()),
      Object.fromEntries(
        Object.entries(ALLOWED)
          .map(([k, v]) => [k, [...v].sort()])
          .sort(),
      ),
    );
  });
});
