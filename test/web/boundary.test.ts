/**
 * The web UI is built only on the REST API and the event stream: web/ imports Preact, its own
 * files and its stylesheet, and from the server's code only types (`import type` from src/api,
 * erased by the build). Nothing of the server is bundled: no TypeBox, Koa or SQLite in dist/web.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../support/paths.js';

const PACKAGES = new Set(['preact', 'preact/hooks']);

/** Every import of one web/ file that breaks the rule, as `file: specifier (why)`. */
export function webImportProblems(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TSX);
  const problems: string[] = [];
  for (const st of sf.statements) {
    if (!(ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) || !st.moduleSpecifier) continue;
    const spec = (st.moduleSpecifier as ts.StringLiteral).text;
    const typeOnly = ts.isImportDeclaration(st)
      ? st.importClause?.isTypeOnly === true ||
        (st.importClause !== undefined &&
          !st.importClause.name &&
          st.importClause.namedBindings !== undefined &&
          ts.isNamedImports(st.importClause.namedBindings) &&
          st.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
      : st.isTypeOnly;
    if (!spec.startsWith('.')) {
      if (!PACKAGES.has(spec)) problems.push(`${file}: ${spec} (a package other than preact)`);
      continue;
    }
    const target = posix.normalize(posix.join(posix.dirname(file), spec));
    if (target.startsWith('web/')) continue;
    if (target.startsWith('src/api/') && typeOnly) continue;
    problems.push(`${file}: ${spec} (${target.startsWith('src/api/') ? 'only types may come from src/api' : 'outside web/ and src/api'})`);
  }
  return problems;
}

t.test('web/ imports only Preact, itself, and types from src/api', async (t) => {
  const root = repoRoot();
  const files = readdirSync(join(root, 'web')).filter((f) => /\.tsx?$/.test(f));
  t.ok(files.length > 3, `${files.length} files checked`);
  const problems = files.flatMap((f) => webImportProblems(`web/${f}`, readFileSync(join(root, 'web', f), 'utf8')));
  t.same(problems, []);
});

t.test('the check itself refuses what it should', async (t) => {
  t.same(webImportProblems('web/x.ts', "import type { Node } from '../src/api/nodes.js';\nimport { h } from 'preact';"), []);
  t.same(webImportProblems('web/x.ts', "import { type Node } from '../src/api/nodes.js';"), []);
  t.match(webImportProblems('web/x.ts', "import { Node } from '../src/api/nodes.js';"), [/only types may come from src\/api/]);
  t.match(webImportProblems('web/x.ts', "import { openStore } from '../src/store/index.js';"), [/outside web/]);
  t.match(webImportProblems('web/x.ts', "import React from 'react';"), [/a package other than preact/]);
});

t.test(
  'no server code in the built bundle',
  { skip: !existsSync(join(repoRoot(), 'dist/web/assets')) && 'dist/web is not built' },
  async (t) => {
    const dir = join(repoRoot(), 'dist/web/assets');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
      const js = readFileSync(join(dir, f), 'utf8');
      for (const marker of ['@sinclair/typebox', 'TypeBoxError', 'better-sqlite3', 'Koa', '"node:'])
        t.notOk(js.includes(marker), `${f} holds no ${marker}`);
    }
  },
);
