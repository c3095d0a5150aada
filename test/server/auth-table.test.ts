/**
 * Walks the real router table (every layer of every mounted router, every method) and proves
 * that no route answers without a token, and that each route refuses a role below its own.
 */
import t from 'tap';
import WebSocket from 'ws';
import { ROLE_TAG, type RoleGuard } from '../../src/server/routes.js';
import { PUBLIC_PATHS } from '../../src/server/auth.js';
import { ROLES, type Role } from '../../src/api/tokens.js';
import { startServer } from '../support/server.js';

/** A (valid-looking) empty body for methods that carry one. */
const bodyFor = (method: string) => (method === 'GET' || method === 'DELETE' ? {} : { body: {} });

t.test('route table', async (t) => {
  const s = await startServer(t);
  const tokens: Record<Role, string> = { viewer: s.viewer, operator: s.operator, admin: s.admin };
  const before = s.store.db
    .prepare('SELECT (SELECT count(*) FROM nodes) + (SELECT count(*) FROM clusters) + (SELECT count(*) FROM jobs) AS n')
    .get();
  let walked = 0;
  for (const router of s.app.routers) {
    for (const layer of router.stack) {
      const path = String(layer.path).replace(/:(\w+)/g, 'x');
      for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
        walked++;
        if (PUBLIC_PATHS.has(String(layer.path))) {
          t.equal((await s.req(method, path, { token: null })).status, 200, `${method} ${layer.path} is public`);
          continue;
        }
        const guard = layer.stack.find((fn): fn is RoleGuard => ROLE_TAG in fn);
        t.ok(guard, `${method} ${layer.path} has a role guard`);
        const none = await s.req(method, path, { token: null, ...bodyFor(method) });
        t.equal(none.status, 401, `${method} ${layer.path} without a token is 401`);
        const bogus = await s.req(method, path, { token: 'pct_0000000000000000_' + 'A'.repeat(43), ...bodyFor(method) });
        t.equal(bogus.status, 401, `${method} ${layer.path} with a forged token is 401`);
        const need = guard![ROLE_TAG];
        for (const role of ROLES.slice(0, ROLES.indexOf(need))) {
          const r = await s.req(method, path, { token: tokens[role], ...bodyFor(method) });
          t.equal(r.status, 403, `${method} ${layer.path} refuses ${role} (needs ${need})`);
        }
      }
    }
  }
  t.ok(walked >= 40, `walked ${walked} route methods`);
  const after = s.store.db
    .prepare('SELECT (SELECT count(*) FROM nodes) + (SELECT count(*) FROM clusters) + (SELECT count(*) FROM jobs) AS n')
    .get();
  t.same(after, before, 'no refused request changed anything');
});

t.test('unknown paths are 401 without a token, too', async (t) => {
  const s = await startServer(t);
  t.equal((await s.req('GET', '/api/v1/does-not-exist', { token: null })).status, 401);
  t.equal((await s.req('GET', '/', { token: null })).status, 401);
});

t.test('the event stream refuses an upgrade without a valid token', async (t) => {
  const s = await startServer(t);
  const wsUrl = s.url.replace('http', 'ws') + '/api/v1/events';
  for (const headers of [{}, { authorization: 'Bearer nope' }]) {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl, { headers });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    t.equal(status, 401);
  }
});
