import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startServer } from '../support/server.js';

const LIST = '/api/v1/nodes';
const names = (body: { items: { name: string }[] }) => body.items.map((n) => n.name);

t.test('GET /api/v1/nodes cache', async (t) => {
  t.test('every write through the API is visible in the very next GET', async (t) => {
    const s = await startServer(t);
    t.same(names((await s.req('GET', LIST)).body), [], 'empty list (now cached)');
    await s.req('POST', LIST, { body: { name: 'a' } });
    t.same(names((await s.req('GET', LIST)).body), ['a'], 'after create');
    await s.req('PATCH', `${LIST}/a`, { body: { labels: { rack: '2' } } });
    t.same((await s.req('GET', LIST)).body.items[0].labels, { rack: '2' }, 'after update');
    await s.req('DELETE', `${LIST}/a`);
    const after = (await s.req('GET', LIST)).body;
    t.same([names(after), after.total], [[], 0], 'after delete');
  });

  t.test('writes that bypass the node repository are seen too (cascades, other connections)', async (t) => {
    const s = await startServer(t);
    const c = (await s.req('POST', '/api/v1/clusters', { body: { name: 'c1' } })).body;
    await s.req('POST', LIST, { body: { name: 'n', clusterId: c.id } });
    t.equal((await s.req('GET', LIST)).body.items[0].clusterId, c.id);
    // ON DELETE SET NULL rewrites the node inside SQLite; no repository method runs.
    t.equal((await s.req('DELETE', '/api/v1/clusters/c1')).status, 204);
    t.equal((await s.req('GET', LIST)).body.items[0].clusterId, null, 'cascade visible');
    s.store.nodes.markSeen(s.store.nodes.require('n').id, '2030-01-01T00:00:00.000Z');
    t.equal((await s.req('GET', LIST)).body.items[0].lastSeenAt, '2030-01-01T00:00:00.000Z', 'markSeen visible');
    const other = new Database(join(s.dir, 'state.sqlite'));
    t.teardown(() => other.close());
    other.prepare("UPDATE nodes SET state = 'ready' WHERE name = 'n'").run();
    t.equal((await s.req('GET', LIST)).body.items[0].state, 'ready', 'a write by another connection is visible');
  });

  t.test('each query has its own page, and a write refreshes all of them', async (t) => {
    const s = await startServer(t);
    for (const name of ['a', 'b', 'c']) await s.req('POST', LIST, { body: { name } });
    t.same(names((await s.req('GET', `${LIST}?limit=2`)).body), ['a', 'b']);
    t.same(names((await s.req('GET', `${LIST}?limit=2&offset=2`)).body), ['c']);
    t.same(names((await s.req('GET', `${LIST}?state=ready`)).body), []);
    await s.req('PATCH', `${LIST}/c`, { body: { state: 'ready' } });
    t.same(names((await s.req('GET', `${LIST}?state=ready`)).body), ['c']);
    t.same((await s.req('GET', `${LIST}?limit=2&offset=2`)).body.items[0].state, 'ready');
  });

  t.test('a page read inside a transaction that rolls back is not served afterwards', async (t) => {
    const s = await startServer(t);
    t.throws(() =>
      s.store.tx(() => {
        s.store.nodes.create({ name: 'ghost' });
        t.same(names(JSON.parse(s.store.nodes.listPage().json.toString())), ['ghost'], 'the transaction sees its own row');
        throw new Error('roll back');
      }),
    );
    // One committed write brings the change counter back to the value it had inside the
    // rolled-back transaction: a page kept from inside it would now be served.
    await s.req('POST', LIST, { body: { name: 'real' } });
    t.same(names((await s.req('GET', LIST)).body), ['real']);
  });

  t.test('ETag and If-None-Match: 304 while unchanged, the new list after a write', async (t) => {
    const s = await startServer(t);
    await s.req('POST', LIST, { body: { name: 'a' } });
    const first = await s.req('GET', LIST);
    const etag = first.headers.get('etag');
    t.match(etag, /^"[A-Za-z0-9_-]{32}"$/);
    t.equal(first.headers.get('cache-control'), 'private, no-cache');
    // fetch() adds `Cache-Control: no-cache` (an end-to-end reload) to conditional requests
    // unless the caller sets Cache-Control itself; curl and browsers revalidating do not.
    const cond = { 'if-none-match': etag!, 'cache-control': 'max-age=0' };
    const again = await s.req('GET', LIST, { headers: cond });
    t.equal(again.status, 304);
    t.equal(again.text, '', 'no body');
    t.equal((await s.req('GET', `${LIST}?state=ready`, { headers: cond })).status, 200, 'another query, another body');
    t.equal((await s.req('GET', LIST, { token: null, headers: cond })).status, 401, 'revalidation still needs a token');
    await s.req('POST', LIST, { body: { name: 'b' } });
    const changed = await s.req('GET', LIST, { headers: cond });
    t.equal(changed.status, 200);
    t.not(changed.headers.get('etag'), etag);
    t.same(names(changed.body), ['a', 'b']);
  });
});
