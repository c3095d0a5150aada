/**
 * Route definitions. Every REST route is declared once, as data: method, path, the role it
 * needs, the schemas of its params/query/body and response, and its handler. The same list
 * mounts the Koa routers (with auth, validation and audit middleware), generates the OpenAPI
 * document, and is what the route-table test walks.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { ParameterizedContext } from 'koa';
import { Router } from '@koa/router';
import type { Role, TokenInfo } from '../api/tokens.js';
import { roleAtLeast } from '../api/tokens.js';
import { ForbiddenError, UnauthenticatedError, ValidationError, type Problem } from '../api/errors.js';
import type { Validator } from '../api/validate.js';
import { readJsonBody, type BodyLimits } from './body.js';
import { convertString } from '../api/convert.js';
import type { Store } from '../store/index.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler receives: typed, validated inputs and the caller. */
export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  actor: TokenInfo;
  ctx: ParameterizedContext<AppState>;
  /** Sets the audit record's target (id or name of the object acted on). */
  auditTarget(target: string): void;
}

/** What a handler returns: a body (status 200), or an explicit status and body. */
export type HandlerResult =
  | {
      status: number;
      body?: unknown;
      /** An already serialized JSON body. */
      json?: string | Buffer;
      /** A strong validator of the body: sent as `ETag`; a matching `If-None-Match` gets 304 without the body. */
      etag?: string;
    }
  | undefined;

export interface RouteSpec<P extends TSchema = TSchema, Q extends TSchema = TSchema, B extends TSchema = TSchema> {
  method: Method;
  /** Path relative to the router's prefix, in @koa/router syntax (`/:id`). */
  path: string;
  /** The least role that may call this route. */
  role: Role;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Success status and response schema, for the OpenAPI document. */
  response: { status: number; schema?: TSchema; description?: string };
  /** Audit action name; required for every mutating method. */
  audit?: string;
  /**
   * Run a mutating handler, its events and its audit record in one SQLite transaction (one
   * fsync, all or nothing). Default true for mutations; false for handlers that await I/O.
   */
  transactional?: boolean;
  handler(input: HandlerInput<Static<P>, Static<Q>, Static<B>>): Promise<HandlerResult> | HandlerResult;
}

/** Declares a route with inference of the handler's input types from the schemas. */
export function route<P extends TSchema, Q extends TSchema, B extends TSchema>(spec: RouteSpec<P, Q, B>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** Koa state set by the auth middleware. */
export interface AppState {
  actor?: TokenInfo;
  /** Set by a mutating route; `recorded` once its audit row is written. */
  audit?: { action: string; target: string | null; recorded?: boolean };
}

/** A resource: one router with a prefix and its routes. */
export interface Resource {
  /** Prefix under the API root, e.g. `/nodes`. */
  prefix: string;
  tag: string;
  routes: RouteSpec[];
}

/** Marks a middleware with the role it enforces, so the route-table test can check every layer. */
export const ROLE_TAG = Symbol('pi-controller.role');
export type RoleGuard = ((ctx: ParameterizedContext<AppState>, next: () => Promise<unknown>) => Promise<unknown>) & { [ROLE_TAG]: Role };

/** Middleware that refuses a caller without a token (401) or with too small a role (403). */
export function requireRole(role: Role): RoleGuard {
  const guard = (async (ctx: ParameterizedContext<AppState>, next: () => Promise<unknown>) => {
    const actor = ctx.state.actor;
    if (!actor) throw new UnauthenticatedError();
    if (!roleAtLeast(actor.role, role)) throw new ForbiddenError(role, actor.role);
    return next();
  }) as RoleGuard;
  guard[ROLE_TAG] = role;
  return guard;
}

const MUTATING = new Set<Method>(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Builds the Koa router of one resource. */
export function buildRouter(
  apiRoot: string,
  res: Resource,
  deps: { validator: Validator; bodyLimits: BodyLimits; store: Store },
): Router<AppState> {
  const router = new Router<AppState>({ prefix: apiRoot + res.prefix });
  for (const spec of res.routes) {
    if (MUTATING.has(spec.method) && !spec.audit)
      throw new Error(`route ${spec.method} ${res.prefix}${spec.path} mutates but names no audit action`);
    const handler = async (ctx: ParameterizedContext<AppState>) => {
      const v = deps.validator;
      // Validate everything first and report every problem together: nothing runs on bad input.
      const params = spec.params ? convert(spec.params, ctx.params) : ctx.params;
      const query = spec.query ? convert(spec.query, ctx.query) : {};
      const problems: Problem[] = [];
      if (spec.params) problems.push(...v.problems(spec.params, params, '/params'));
      if (spec.query) problems.push(...v.problems(spec.query, query, '/query'));
      let body: unknown;
      if (spec.body) {
        body = await readJsonBody(ctx, deps.bodyLimits);
        problems.push(...v.problems(spec.body, body, '/body'));
      }
      if (problems.length) throw new ValidationError(problems);
      if (spec.audit) ctx.state.audit = { action: spec.audit, target: null };
      const input = {
        params,
        query,
        body,
        actor: ctx.state.actor!,
        ctx,
        auditTarget: (t: string) => {
          if (ctx.state.audit) ctx.state.audit.target = t;
        },
      } as HandlerInput<unknown, unknown, unknown>;
      let result: HandlerResult;
      if (spec.audit && spec.transactional !== false) {
        // The change, the events it emits and its audit row commit together.
        result = deps.store.tx(() => {
          const r = spec.handler(input as never);
          if (r instanceof Promise) throw new Error(`transactional route ${spec.method} ${res.prefix}${spec.path} returned a promise`);
          const a = ctx.state.audit!;
          const actor = ctx.state.actor!;
          deps.store.audit.record({
            actorId: actor.id,
            actorName: actor.name,
            action: a.action,
            method: ctx.method,
            path: ctx.path,
            status: r?.status ?? spec.response.status,
            target: a.target,
            detail: null,
          });
          a.recorded = true;
          return r;
        });
      } else {
        result = await spec.handler(input as never);
      }
      ctx.status = result?.status ?? spec.response.status;
      if (result?.etag !== undefined) {
        // Authenticated data: a cache may keep it for this client only and must revalidate.
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.set('ETag', result.etag);
        if (ctx.fresh) {
          ctx.status = 304;
          return;
        }
      }
      if (result?.json !== undefined) {
        ctx.type = 'application/json';
        ctx.body = result.json;
      } else if (result?.body !== undefined) ctx.body = result.body;
    };
    router.register(spec.path, [spec.method], [requireRole(spec.role), handler], { name: `${spec.method} ${res.prefix}${spec.path}` });
  }
  return router;
}

/**
 * Strings from the URL converted to what the schema asks for (`"5"` to 5). Only exact spellings
 * convert: an integer is decimal digits within ±2^53 (`1.5`, `1e400`, `0x10`, `" 5"` stay strings),
 * a number is a finite JSON number, a boolean `true` or `false`. Anything else stays as it came
 * and fails validation with its path.
 */
function convert(schema: TSchema, value: Record<string, unknown>): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = { ...value };
  for (const [k, v] of Object.entries(out)) {
    const s = props[k];
    if (s && typeof v === 'string') out[k] = convertString(s, v);
  }
  return out;
}
