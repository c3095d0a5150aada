/**
 * The one error middleware: typed errors become `{ error: { code, message, ... } }` with the
 * status they carry; anything unexpected is a 500 whose message is logged, never sent.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { ControllerError, ValidationError } from '../api/errors.js';

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

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

export function errorMiddleware(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Nothing answered: unknown route (404) or a known path with the wrong method (405, Allow set by the router).
      if ((ctx.body === undefined || ctx.body === null) && [404, 405, 501].includes(ctx.status)) {
        const status = ctx.status;
        if (status === 404) ctx.body = errorBody('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
        else if (status === 405)
          ctx.body = errorBody('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
        else ctx.body = errorBody('NOT_IMPLEMENTED', `method ${ctx.method} is not implemented`);
        ctx.status = status; // setting a body resets the status to 200
      }
    } catch (err) {
      if (err instanceof ControllerError) {
        ctx.status = err.status;
        const extra: Record<string, unknown> = {};
        if (err instanceof ValidationError) extra.problems = err.problems;
        else if (err.details) extra.details = err.details;
        ctx.body = errorBody(err.code, err.expose ? err.message : 'internal error', extra);
        if (err.status >= 500) log.error({ err }, 'request failed');
        return;
      }
      // Koa/http-errors style errors (e.g. from ctx.throw or the router) carry status and expose.
      const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; headers?: Record<string, string> };
      const status = e.status ?? e.statusCode ?? 500;
      if (status < 500 && e.expose) {
        ctx.status = status;
        if (e.headers) ctx.set(e.headers);
        ctx.body = errorBody(STATUS_CODES[status] ?? 'BAD_REQUEST', e.message ?? 'bad request');
        return;
      }
      log.error({ err, method: ctx.method, path: ctx.path }, 'unexpected error');
      ctx.status = 500;
      ctx.body = errorBody('INTERNAL', 'internal error');
    }
  };
}
