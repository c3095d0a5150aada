/**
 * Validation with the same TypeBox schemas that type the code and document the API. Every
 * problem is reported with its JSON pointer; nothing stops at the first error.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { ValidationError, type Problem } from './errors.js';

/** Compiled checkers, one per schema object (per validator instance: no module-global cache). */
export class Validator {
  readonly #compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

  #check(schema: TSchema): TypeCheck<TSchema> {
    let c = this.#compiled.get(schema);
    if (!c) this.#compiled.set(schema, (c = TypeCompiler.Compile(schema)));
    return c;
  }

  /** Problems found in `value`, each path prefixed with `prefix` (e.g. `/body`). */
  problems(schema: TSchema, value: unknown, prefix = ''): Problem[] {
    const c = this.#check(schema);
    if (c.Check(value)) return [];
    const seen = new Set<string>();
    const out: Problem[] = [];
    for (const e of c.Errors(value)) {
      for (const p of e.type === ValueErrorType.ObjectAdditionalProperties ? keyProblems(e, value, prefix) : [toProblem(e, prefix)]) {
        const key = `${p.path}\u0000${p.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          out.push(p);
        }
      }
    }
    return out;
  }

  /** Returns `value` typed when valid. @throws ValidationError with every problem. */
  parse<T extends TSchema>(schema: T, value: unknown, prefix = ''): Static<T> {
    const p = this.problems(schema, value, prefix);
    if (p.length) throw new ValidationError(p);
    return value as Static<T>;
  }
}

/**
 * An unexpected key in a record with a key pattern (labels): TypeBox names only the first such
 * key, so every key of that object that misses the pattern is reported here, each with its path.
 */
function keyProblems(e: ValueError, root: unknown, prefix: string): Problem[] {
  const pattern = Object.keys((e.schema as { patternProperties?: Record<string, unknown> }).patternProperties ?? {})[0];
  if (pattern === undefined) return [toProblem(e, prefix)];
  const parentPath = e.path.slice(0, e.path.lastIndexOf('/'));
  let obj: unknown = root;
  for (const seg of parentPath.split('/').slice(1)) {
    obj = (obj as Record<string, unknown> | undefined)?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (obj === null || typeof obj !== 'object') return [toProblem(e, prefix)];
  const re = new RegExp(pattern);
  return Object.keys(obj)
    .filter((k) => !re.test(k))
    .map((k) => ({
      path: `${prefix}${parentPath}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`,
      message: `key does not match ${pattern}`,
      code: 'key-pattern',
    }));
}

function kebab(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function toProblem(e: ValueError, prefix: string): Problem {
  const schema = e.schema as { enum?: unknown[]; anyOf?: { type?: string; enum?: unknown[] }[] };
  let message = e.message;
  let code = kebab(ValueErrorType[e.type] ?? 'invalid');
  if (e.type === ValueErrorType.Kind && Array.isArray(schema.enum)) {
    message = `Expected one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    code = 'enum';
  } else if (e.type === ValueErrorType.Union && Array.isArray(schema.anyOf)) {
    message = `Expected ${schema.anyOf.map((s) => (s.enum ? `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}` : (s.type ?? 'value'))).join(' or ')}`;
  } else if (e.type === ValueErrorType.ObjectRequiredProperty) {
    code = 'required';
  } else if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    code = 'additional-property';
    // The path ends with the field's name (a JSON pointer segment: ~1 is /, ~0 is ~).
    const field = (e.path.split('/').pop() ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
    message = `unknown field ${JSON.stringify(field)}`;
  }
  return { path: prefix + e.path, message, code };
}
