/**
 * The catalog's entries: one YAML file per entry in the package's top-level `catalog/` folder
 * (and, when configured, a folder of the operator's own). Every file is checked when loaded:
 * the schema (src/api/catalog.ts), then what a schema cannot say: every image reference parses
 * and is pinned (a tag other than `latest`, or a digest), every environment variable has one
 * source, secrets and ConfigMaps referred to exist, names are unique. A bad entry is refused
 * with every problem and the file's path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CatalogEntry } from '../api/catalog.js';
import { ControllerError, type Problem } from '../api/errors.js';
import { Validator } from '../api/validate.js';
import { parseImageRef } from './registry.js';

/** The `catalog/` folder shipped with the package (beside dist/ in the installed package). */
export const SHIPPED_CATALOG = fileURLToPath(new URL('../../../catalog/', import.meta.url));

/** A catalog file that is not a valid entry; `details.problems` lists each problem with its path. */
export class CatalogEntryError extends ControllerError {
  readonly problems: Problem[];
  constructor(file: string, problems: Problem[]) {
    super('CATALOG_ENTRY_INVALID', 500, `${file}: ${problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}`, {
      details: { file, problems },
      expose: true,
    });
    this.problems = problems;
  }
}

/** Problems the schema cannot find. */
export function entryProblems(e: CatalogEntry): Problem[] {
  const out: Problem[] = [];
  const add = (path: string, code: string, message: string) => out.push({ path, code, message });
  const secrets = new Map((e.secrets ?? []).map((s) => [s.name, new Set(s.keys)]));
  const configMaps = new Set((e.configMaps ?? []).map((c) => c.name));
  const seen = new Set<string>();
  e.components.forEach((c, i) => {
    const at = `/components/${i}`;
    if (seen.has(c.name)) add(`${at}/name`, 'duplicate', `component ${c.name} appears twice`);
    seen.add(c.name);
    try {
      const ref = parseImageRef(c.image);
      if (!ref.digest && (!/:[^/]+$/.test(c.image) || ref.tag === 'latest'))
        add(`${at}/image`, 'unpinned', `${c.image} is not pinned: name a version tag or a digest`);
    } catch (err) {
      add(`${at}/image`, 'image', (err as Error).message);
    }
    (c.env ?? []).forEach((v, j) => {
      if ((v.value === undefined) === (v.secret === undefined))
        add(`${at}/env/${j}`, 'source', `${v.name} needs exactly one of value and secret`);
      if (v.secret && !secrets.get(v.secret.name)?.has(v.secret.key))
        add(`${at}/env/${j}/secret`, 'reference', `no generated secret ${v.secret.name} with key ${v.secret.key}`);
    });
    (c.mounts ?? []).forEach((m, j) => {
      if ((m.configMap === undefined) === (m.secret === undefined))
        add(`${at}/mounts/${j}`, 'source', 'a mount needs exactly one of configMap and secret');
      if (m.configMap !== undefined && !configMaps.has(m.configMap))
        add(`${at}/mounts/${j}/configMap`, 'reference', `no ConfigMap ${m.configMap} in the entry`);
    });
    const ports = new Set<string>();
    for (const p of c.ports) {
      if (ports.has(p.name)) add(`${at}/ports`, 'duplicate', `port name ${p.name} appears twice`);
      ports.add(p.name);
    }
  });
  return out;
}

/** Parses and checks one entry's text. @throws CatalogEntryError */
export function parseEntry(text: string, file: string, validator = new Validator()): CatalogEntry {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CatalogEntryError(file, [{ path: '', code: 'yaml', message: String((err as Error).message).split('\n')[0]! }]);
  }
  const problems = validator.problems(CatalogEntry, doc);
  if (problems.length) throw new CatalogEntryError(file, problems);
  const entry = doc as CatalogEntry;
  const more = entryProblems(entry);
  if (more.length) throw new CatalogEntryError(file, more);
  return entry;
}

/**
 * Loads every `*.yaml` entry of the folders, in order; a later folder's entry replaces an
 * earlier one of the same name (an operator's folder may override a shipped entry). Sorted by name.
 * @throws CatalogEntryError for the first bad file.
 */
export function loadCatalog(dirs: readonly string[] = [SHIPPED_CATALOG]): CatalogEntry[] {
  const validator = new Validator();
  const byName = new Map<string, CatalogEntry>();
  for (const dir of dirs) {
    const files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    for (const f of files) {
      const path = join(dir, f);
      const e = parseEntry(readFileSync(path, 'utf8'), path, validator);
      byName.set(e.name, e);
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Every image an entry uses. */
export const entryImages = (e: CatalogEntry): string[] => [...new Set(e.components.map((c) => c.image))];
