/**
 * Strings from outside (URL query and path, environment variables, flags) converted to the type a
 * schema asks for. Only exact spellings convert: an integer is decimal digits within ±2^53 (`1.5`,
 * `1e400`, `0x10`, `" 5"` stay strings), a number is a finite JSON number, a boolean `true` or
 * `false`. Anything else is returned as it came, so validation refuses it with its path (TypeBox's
 * own conversion reads `1.5` and `1e400` as the integer 1).
 */
import type { TSchema } from '@sinclair/typebox';

const INTEGER = /^-?(0|[1-9][0-9]*)$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;

/** `v` as the type `schema` asks for, or `v` itself when it is not an exact spelling of one. */
export function convertString(schema: TSchema, v: string): unknown {
  const s = schema as { type?: string; anyOf?: TSchema[] };
  if (s.anyOf) {
    for (const member of s.anyOf) {
      const c = convertString(member, v);
      if (c !== v) return c;
    }
    return v;
  }
  if (s.type === 'integer' && INTEGER.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  if (s.type === 'number' && NUMBER.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : v;
  }
  if (s.type === 'boolean' && (v === 'true' || v === 'false')) return v === 'true';
  if (s.type === 'null' && v === 'null') return null;
  return v;
}
