/** Reading a JSON request body with a size limit; malformed JSON is a 422 like any other bad input. */
import type { Context } from 'koa';
import { ControllerError, ValidationError } from '../api/errors.js';

/** Reads and parses the body. An empty body reads as `undefined` (and then fails its schema). */
export async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
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
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError([{ path: '/body', code: 'json', message: `invalid JSON: ${(err as Error).message}` }]);
  }
}
