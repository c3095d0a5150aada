/**
 * What the agent and the hardware layer may import: the agent runs on small Pis and loads only
 * its own modules, the hardware layer (src/hw), the shared API types (src/api) and the logger
 * (src/log); src/hw imports only itself and src/api, never the control plane's libraries; and
 * the CLI program does not import the agent (the binary hands it the agent's command).
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from '../support/paths.js';

const root = repoRoot();

/** Every TypeScript file under `dir` (relative to the repository root). */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** The specifiers a file imports: static imports, re-exports and dynamic imports. */
function specifiers(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

/** Where each of a file's imports lands: a repository path for relative ones, the package name for the rest. */
function targets(file: string): string[] {
  return specifiers(file).map((s) => (s.startsWith('.') ? relative(root, join(root, dirname(file), s)) : s));
}

/** Imports of the files under `dir` that `allowed` rejects, as `file -> target`. */
function offences(dir: string, allowed: (target: string) => boolean): string[] {
  return sources(dir).flatMap((f) =>
    targets(f)
      .filter((to) => !allowed(to))
      .map((to) => `${f} -> ${to}`),
  );
}

const local = (to: string, ...dirs: string[]) => dirs.some((d) => to.startsWith(`${d}/`));
const pkg = (to: string) => !to.startsWith('src/') && !to.startsWith('agent/') && !to.startsWith('test/') && to !== 'package.json';

t.test('import boundaries of the agent and the hardware layer', async (t) => {
  t.test('agent/ imports only agent/, src/hw, src/api, src/log and packages', async (t) => {
    t.same(
      offences('agent', (to) => local(to, 'agent', 'src/hw', 'src/api', 'src/log') || pkg(to)),
      [],
    );
  });

  t.test('src/hw imports only src/hw, src/api and no web, database or Kubernetes package', async (t) => {
    const banned = /^(koa|@koa\/|better-sqlite3|@kubernetes\/|ws$|pino)/;
    t.same(
      offences('src/hw', (to) => local(to, 'src/hw', 'src/api') || (pkg(to) && !banned.test(to))),
      [],
    );
  });

  t.test('the CLI program and the control plane do not import the agent', async (t) => {
    // Only the binary (src/cli/main.ts) composes the agent's command into the program.
    const importers = sources('src').filter((f) => f !== join('src', 'cli', 'main.ts') && targets(f).some((to) => local(to, 'agent')));
    t.same(importers, []);
  });

  t.test('the scan sees imports (checked on files known to have them)', async (t) => {
    t.ok(targets(join('agent', 'agent.ts')).includes(join('src', 'api', 'agent.js')), 'a static import');
    t.ok(targets(join('src', 'cli', 'main.ts')).includes(join('agent', 'cli.js')), 'a dynamic import');
  });
});
