/**
 * The one error middleware: typed errors become `{ error: { code, message, ... } }` with the
 * status they carry; anything unexpected is a 500 whose message is logged, never sent. The
 * mapping itself is src/api/error-response.ts (the agent link's enrolment endpoint uses it too).
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { ControllerError } from '../api/errors.js';
import { errorBody, errorResponse } from '../api/error-response.js';

export { errorBody } from '../api/error-response.js';

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
      const r = errorResponse(err);
      ctx.status = r.status;
      if (r.headers) ctx.set(r.headers);
      ctx.body = r.body;
      if (!r.log) return;
      if (err instanceof ControllerError) log.error({ err }, 'request failed');
      else log.error({ err, method: ctx.method, path: ctx.path }, 'unexpected error');
    }
  };
}
