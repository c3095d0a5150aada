/**
 * The one mapping from a thrown error to an HTTP answer, shared by the REST API's error
 * middleware (src/server/errors.ts) and the agent link's enrolment endpoint (src/link), so both
 * answer with the same `{ error: { code, message, problems?, details? } }` shape and the same
 * rule: a message is shown only when the error is expected (`expose`); anything unexpected is a
 * 500 `INTERNAL` whose message the caller logs and never sends.
 */
import { ControllerError, ValidationError } from './errors.js';

/** The `code` of an http-errors style error (Koa, the router, body parsers) with only a status. */
const STATUS_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'VALIDATION_FAILED',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
};

/** The JSON body of every error answer (schema: `ErrorBody` in common.ts). */
export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

export interface ErrorResponse {
  status: number;
  body: ReturnType<typeof errorBody>;
  /** Headers the error asks for (e.g. `Allow` on a 405 from the router). */
  headers?: Record<string, string>;
  /** Whether the caller should log the error (a 5xx: a bug or an outage, not a bad request). */
  log: boolean;
}

/** The answer to a request that failed with `err` (see the module comment). */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof ControllerError) {
    const extra: Record<string, unknown> = {};
    if (err instanceof ValidationError) extra.problems = err.problems;
    else if (err.details) extra.details = err.details;
    return { status: err.status, body: errorBody(err.code, err.expose ? err.message : 'internal error', extra), log: err.status >= 500 };
  }
  // Koa/http-errors style errors (e.g. from ctx.throw or the router) carry status and expose.
  const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; headers?: Record<string, string> };
  const status = e.status ?? e.statusCode ?? 500;
  if (status < 500 && e.expose) {
    return {
      status,
      body: errorBody(STATUS_CODES[status] ?? 'BAD_REQUEST', e.message ?? 'bad request'),
      ...(e.headers ? { headers: e.headers } : {}),
      log: false,
    };
  }
  return { status: 500, body: errorBody('INTERNAL', 'internal error'), log: true };
}
