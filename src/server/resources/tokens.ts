/** /api/v1/tokens (admin only). */
import { Type } from '@sinclair/typebox';
import { IdParams, Obj } from '../../api/common.js';
import { ConflictError } from '../../api/errors.js';
import { TokenCreate, TokenCreated, TokenInfo } from '../../api/tokens.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function tokensResource({ store, bus }: ResourceDeps): Resource {
  return {
    prefix: '/tokens',
    tag: 'tokens',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'admin',
        summary: 'List tokens (never their secrets)',
        query: Obj({ includeRevoked: Type.Optional(Type.Boolean()) }),
        response: { status: 200, schema: Obj({ items: Type.Array(TokenInfo) }) },
        handler: ({ query }) => ({ status: 200, body: { items: store.tokens.list(query.includeRevoked ?? false) } }),
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'admin',
        summary: 'Create a token; the secret is in this response only',
        body: TokenCreate,
        response: { status: 201, schema: TokenCreated },
        audit: 'token.create',
        handler: ({ body, actor, auditTarget }) => {
          const created = store.tokens.create(body.name, body.role, actor.name, body.ttlSeconds);
          auditTarget(created.info.id);
          bus.emit('token.created', created.info);
          return { status: 201, body: created };
        },
      }),
      route({
        method: 'DELETE',
        path: '/:id',
        role: 'admin',
        summary: 'Revoke a token',
        params: IdParams,
        response: { status: 200, schema: TokenInfo },
        audit: 'token.revoke',
        handler: ({ params, actor, auditTarget }) => {
          auditTarget(params.id);
          if (params.id === actor.id && store.tokens.list().filter((t) => t.role === 'admin').length === 1) {
            throw new ConflictError('refusing to revoke the last admin token');
          }
          const info = store.tokens.revoke(params.id);
          bus.emit('token.revoked', { id: info.id, name: info.name });
          return { status: 200, body: info };
        },
      }),
    ],
  };
}
