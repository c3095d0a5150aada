/**
 * Reading a JSON request body within bounds: at most `limits.bytes` bytes (413) and at most
 * `limits.depth` levels of nested objects and arrays (422, problem code `max-depth`). Malformed
 * JSON is a 422 like any other bad input.
 *
 * The depth bound protects everything that walks a body later: schema validation, the store's
 * JSON.stringify of open-ended fields (`jobs.params`) and the event stream all recurse, and a
 * body nested 10,000 deep would overflow their stacks.
 */
import type { Context } from 'koa';
import { ControllerError, ValidationError } from '../api/errors.js';

export interface BodyLimits {
  /** Largest body in bytes. */
  bytes: number;
  /** Deepest nesting of objects and arrays; the body itself is level 1. */
  depth: number;
}

/** Reads and parses the body. An empty body reads as `undefined` (and then fails its schema). */
export async function readJsonBody(ctx: Context, limits: BodyLimits): Promise<unknown> {
  const limit = limits.bytes;
  const len = ctx.request.length;
  if (len !== undefined && len > limit) throw new ControllerError('PAYLOAD_TOO_LARGE', 413, `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ControllerError('PAYLOAD_TOO_LARGE', 413, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  if (!ctx.is('application/json', '+json')) {
    throw new ControllerError('UNSUPPORTED_MEDIA_TYPE', 415, 'request bodies must be application/json');
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError([{ path: '/body', code: 'json', message: `invalid JSON: ${(err as Error).message}` }]);
  }
  const deep = tooDeep(value, limits.depth);
  if (deep !== undefined)
    throw new ValidationError([{ path: `/body${deep}`, code: 'max-depth', message: `nested deeper than ${limits.depth} levels` }]);
  return value;
}

/** One container met in the walk; `parent` links rebuild the path of the one that is too deep. */
interface Frame {
  value: object;
  depth: number;
  key: string;
  parent: Frame | undefined;
}

/**
 * The JSON pointer of the first object or array nested deeper than `max`, or undefined. Walks
 * with an explicit stack (never recursion, which is what the bound is there to protect).
 */
export function tooDeep(root: unknown, max: number): string | undefined {
  if (root === null || typeof root !== 'object') return undefined;
  const stack: Frame[] = [{ value: root, depth: 1, key: '', parent: undefined }];
  while (stack.length) {
    const f = stack.pop()!;
    if (f.depth > max) return pointer(f);
    for (const [k, v] of Object.entries(f.value)) {
      if (v !== null && typeof v === 'object') stack.push({ value: v as object, depth: f.depth + 1, key: k, parent: f });
    }
  }
  return undefined;
}

function pointer(f: Frame): string {
  const parts: string[] = [];
  for (let p: Frame | undefined = f; p?.parent; p = p.parent) parts.push(p.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return parts
    .reverse()
    .map((k) => `/${k}`)
    .join('');
}
