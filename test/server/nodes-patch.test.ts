/** PATCH /api/v1/nodes/{id} is a JSON merge patch, labels included: named keys change, null removes one, the rest stay. */
import t from 'tap';
import { startServer } from '../support/server.js';

t.test('PATCH /nodes/{id} merges labels', async (t) => {
  const s = await startServer(t);
  const n = (await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-p', labels: { soc: 'bcm2711', role: 'worker', zone: 'a' } } })).body;

  t.test('a key set, a key removed with null, the others kept', async (t) => {
    const r = await s.req('PATCH', `/api/v1/nodes/${n.id}`, { body: { labels: { role: 'server', zone: null, rack: '3' } } });
    t.equal(r.status, 200);
    t.same(r.body.labels, { soc: 'bcm2711', role: 'server', rack: '3' });
    t.same((await s.req('GET', `/api/v1/nodes/${n.id}`)).body.labels, { soc: 'bcm2711', role: 'server', rack: '3' }, 'stored');
  });

  t.test('fields other than labels leave the labels alone; an empty labels object changes none', async (t) => {
    t.same((await s.req('PATCH', `/api/v1/nodes/${n.id}`, { body: { state: 'ready' } })).body.labels, {
      soc: 'bcm2711',
      role: 'server',
      rack: '3',
    });
    t.same((await s.req('PATCH', `/api/v1/nodes/${n.id}`, { body: { labels: {} } })).body.labels, {
      soc: 'bcm2711',
      role: 'server',
      rack: '3',
    });
  });

  t.test('application/merge-patch+json is accepted', async (t) => {
    const r = await s.req('PATCH', `/api/v1/nodes/${n.id}`, {
      raw: JSON.stringify({ labels: { rack: null } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    t.equal(r.status, 200);
    t.same(r.body.labels, { soc: 'bcm2711', role: 'server' });
  });

  t.test('the node.updated event carries the merged labels', async (t) => {
    const ev = s.store.db.prepare("SELECT data FROM events WHERE type = 'node.updated' ORDER BY seq DESC LIMIT 1").get() as {
      data: string;
    };
    t.same((JSON.parse(ev.data) as { labels: unknown }).labels, { soc: 'bcm2711', role: 'server' });
  });

  t.test('a bad value is refused with its path and nothing changes', async (t) => {
    const r = await s.req('PATCH', `/api/v1/nodes/${n.id}`, { body: { labels: { role: 5, ok: 'x', 'bad key': null } } });
    t.equal(r.status, 422);
    t.same(r.body.error.problems.map((p: { path: string }) => p.path).sort(), ['/body/labels/bad key', '/body/labels/role']);
    t.same((await s.req('GET', `/api/v1/nodes/${n.id}`)).body.labels, { soc: 'bcm2711', role: 'server' });
  });
});
