/**
 * The OpenAPI 3.0 document, generated from the same route list and schemas that validate
 * requests: what it documents is what the server enforces.
 */
import type { TSchema } from '@sinclair/typebox';
import { ErrorBody } from '../api/common.js';
import type { Resource } from './routes.js';

type Json = Record<string, unknown>;

/** Plain JSON copy of a TypeBox schema (drops TypeBox's symbol keys). */
function plain(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

export function openApiDocument(apiRoot: string, resources: Resource[], version: string): Json {
  const paths: Record<string, Json> = {};
  for (const res of resources) {
    for (const r of res.routes) {
      const full = (apiRoot + res.prefix + (r.path === '/' ? '' : r.path)).replace(/:([A-Za-z0-9_]+)/g, '{$1}') || '/';
      const parameters: Json[] = [];
      for (const [where, schema] of [
        ['path', r.params],
        ['query', r.query],
      ] as const) {
        if (!schema) continue;
        const s = plain(schema) as { properties?: Record<string, Json>; required?: string[] };
        for (const [name, p] of Object.entries(s.properties ?? {})) {
          parameters.push({ name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: p });
        }
      }
      const responses: Json = {
        [r.response.status]: r.response.schema
          ? { description: r.response.description ?? 'success', content: { 'application/json': { schema: plain(r.response.schema) } } }
          : { description: r.response.description ?? 'success, no content' },
        401: { $ref: '#/components/responses/Error' },
        403: { $ref: '#/components/responses/Error' },
      };
      if (r.params) responses[404] = { $ref: '#/components/responses/Error' };
      if (r.params || r.query || r.body) responses[422] = { $ref: '#/components/responses/Error' };
      const op: Json = {
        operationId: `${r.method.toLowerCase()}${full.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
        summary: r.summary,
        tags: [res.tag],
        'x-required-role': r.role,
        parameters,
        responses,
      };
      if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: plain(r.body) } } };
      (paths[full] ??= {})[r.method.toLowerCase()] = op;
    }
  }
  paths['/healthz'] = { get: { summary: 'Liveness', security: [], responses: { 200: { description: 'alive' } } } };
  paths['/readyz'] = {
    get: {
      summary: 'Readiness (database answers)',
      security: [],
      responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } },
    },
  };
  paths['/metrics'] = {
    get: { summary: 'Prometheus metrics', 'x-required-role': 'viewer', responses: { 200: { description: 'text exposition format' } } },
  };
  paths[`${apiRoot}/events`] = {
    get: {
      summary:
        'WebSocket event stream (upgrade). Query: types=node.*,job.updated; since=<seq> to replay; access_token for clients that cannot set headers.',
      'x-required-role': 'viewer',
      responses: { 101: { description: 'switching protocols' } },
    },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'pi-controller', version },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: { Error: { description: 'error', content: { 'application/json': { schema: plain(ErrorBody) } } } },
    },
    paths,
  };
}
