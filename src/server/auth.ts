/**
 * Authentication and the audit trail. Every request outside the public paths must carry a
 * valid bearer token (`Authorization: Bearer pct_...`); the role check is per route
 * (routes.ts). Every mutation that passed authentication is written to the audit log with
 * the actor, the action, the target and the resulting status, whether it succeeded or not.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../api/errors.js';
import type { Store } from '../store/index.js';
import type { AppState } from './routes.js';

/** Paths reachable without a token: liveness and readiness only. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/** Extracts the token from `Authorization: Bearer` (or, for WebSocket clients that cannot set headers, `access_token`). */
export function presentedToken(header: string | undefined, query?: URLSearchParams): string | undefined {
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m?.[1];
  }
  return query?.get('access_token') ?? undefined;
}

/** The subprotocol a browser offers first on the event stream; the token rides in a second one, `bearer.<token>`. */
export const STREAM_PROTOCOL = 'pi-controller.events';

/**
 * The token a browser's WebSocket carries in `Sec-WebSocket-Protocol` (browsers cannot set
 * `Authorization` on a WebSocket, and a token in the URL would end up in logs and history):
 * the offer `pi-controller.events, bearer.<token>`.
 */
export function protocolToken(header: string | string[] | undefined): string | undefined {
  const offers = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((p) => p.trim());
  return offers.find((p) => p.startsWith('bearer.'))?.slice('bearer.'.length) || undefined;
}

export function authMiddleware(store: Store): Middleware<AppState> {
  return async (ctx, next) => {
    if (PUBLIC_PATHS.has(ctx.path)) return next();
    const token = presentedToken(ctx.get('authorization') || undefined);
    const actor = token ? store.tokens.verify(token) : undefined;
    if (!actor) {
      ctx.set('WWW-Authenticate', 'Bearer realm="pi-controller"');
      throw new UnauthenticatedError(token ? 'the bearer token is invalid, expired or revoked' : 'a bearer token is required');
    }
    ctx.state.actor = actor;
    return next();
  };
}

/** Writes one audit row for every mutating request that reached a route (after it finishes or fails). */
export function auditMiddleware(store: Store, log: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    let status = 500;
    let errorCode: string | undefined;
    try {
      await next();
      status = ctx.status;
    } catch (err) {
      // The error middleware sits outside this one, so take the status from the error itself.
      const e = err as { status?: number; code?: unknown };
      status = e.status ?? 500;
      errorCode = typeof e.code === 'string' ? e.code : 'INTERNAL';
      throw err;
    } finally {
      const a = ctx.state.audit;
      const actor = ctx.state.actor;
      if (a && actor && !a.recorded) {
        try {
          store.audit.record({
            actorId: actor.id,
            actorName: actor.name,
            action: a.action,
            method: ctx.method,
            path: ctx.path,
            status,
            target: a.target,
            detail: errorCode ? { error: errorCode } : null,
          });
        } catch (err) {
          log.error({ err }, 'could not write the audit log');
        }
      }
    }
  };
}
