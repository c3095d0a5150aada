/**
 * Building blocks shared by every schema in src/api. The schemas are the single source for
 * the TypeScript types (`Static<>`), REST request validation, the OpenAPI document and,
 * later, the CRDs' openAPIV3Schema, so they stay within what OpenAPI v3 structural schemas
 * accept: no `$ref`, no `patternProperties`, `additionalProperties: false` on objects.
 */
import { Kind, Type, TypeRegistry, type TSchema } from '@sinclair/typebox';

/** A DNS-1123 label: what Kubernetes accepts as an object or node name. */
export const Name = Type.String({
  pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
  minLength: 1,
  maxLength: 63,
  description: 'DNS-1123 label',
});

/** Server-generated identifier (UUID). */
export const Id = Type.String({ minLength: 1, maxLength: 64, description: 'server-generated id' });

/** ISO-8601 timestamp, always UTC. */
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 UTC timestamp' });

/** Kubernetes-style label key: 1-63 characters, alphanumeric at both ends, `-_./` inside. */
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_./]{0,61}[A-Za-z0-9])?$';

/** Kubernetes-style labels: short keys and string values; a key outside the pattern is refused. */
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.String({ maxLength: 63 }), {
  description: 'labels (key/value)',
  additionalProperties: false,
});

/** The prefix of every label pi-controller puts on a Node. */
export const LABEL_PREFIX = 'pi-controller.io/';

/** A string made into a label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** Closed object: unknown properties are refused (422), never ignored. */
export function Obj<P extends Parameters<typeof Type.Object>[0]>(props: P, opts: { description?: string; title?: string } = {}) {
  return Type.Object(props, { additionalProperties: false, ...opts });
}

/** A node's name as a path parameter (`/:node`). */
export const NodeParams = Obj({ node: Type.String({ minLength: 1, maxLength: 128 }) });

/** A union of string literals, emitted as a JSON Schema `enum` (CRD-friendly, unlike anyOf). */
export function StringEnum<T extends string[]>(values: [...T], opts: { description?: string; default?: T[number] } = {}) {
  // Registering the checker is idempotent and holds no configuration: it teaches TypeBox's
  // compiler what the `StringEnum` kind means (it has no built-in string enum).
  if (!TypeRegistry.Has('StringEnum')) {
    TypeRegistry.Set<{ enum: string[] }>('StringEnum', (schema, value) => typeof value === 'string' && schema.enum.includes(value));
  }
  return Type.Unsafe<T[number]>({ [Kind]: 'StringEnum', type: 'string', enum: values, ...opts });
}

/** Pagination query shared by list routes. */
export const ListQuery = Obj({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

/** Error body returned by every failing request. */
export const ErrorBody = Obj({
  error: Obj({
    code: Type.String(),
    message: Type.String(),
    problems: Type.Optional(Type.Array(Obj({ path: Type.String(), message: Type.String(), code: Type.String() }))),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

/** `{ items: T[] }`: every list response. */
export function ListOf<T extends TSchema>(item: T) {
  return Obj({ items: Type.Array(item), total: Type.Integer({ minimum: 0 }) });
}

/** Route parameters `:id` (id or name where the resource has a name). */
export const IdParams = Obj({ id: Type.String({ minLength: 1, maxLength: 128 }) });
