/**
 * GET /api/v1/health-history: every node's recent health samples, and one node's; viewers may
 * read them; bad input is a 4xx with a code. With a real agent over the link (test/agent/rig.ts),
 * its health reports become samples.
 */
import t from 'tap';
import { newAgent, startRig } from '../agent/rig.js';
import { waitFor } from '../support/wait.js';

t.test('health history over REST', async (t) => {
  const rig = await startRig(t);
  const { srv } = rig;

  t.test("a connected agent's health reports are kept and served", async (t) => {
    await newAgent(t, rig, 'pi-h');
    const seen = await waitFor(() => srv.store.health.ofNode(srv.store.nodes.require('pi-h').id).length > 0, 10_000, 20);
    t.ok(seen, 'a sample was recorded from a health report');
    const all = await srv.req('GET', '/api/v1/health-history?samples=10', { token: srv.viewer });
    t.equal(all.status, 200, 'a viewer may read it');
    const mine = (all.body as { items: { node: string; samples: { socTempC: number | null; at: string }[] }[] }).items.find(
      (h) => h.node === 'pi-h',
    );
    t.ok(mine && mine.samples.length >= 1, 'the node is listed with its samples');
    t.type(mine?.samples[0]?.at, 'string');
    const one = await srv.req('GET', '/api/v1/health-history/pi-h?samples=1');
    t.equal(one.status, 200);
    t.match(one.body, { node: 'pi-h' });
    t.equal((one.body as { samples: unknown[] }).samples.length, 1, 'at most the samples asked for');
  });

  t.test('bad input: a 4xx with a code, nothing else', async (t) => {
    const unknown = await srv.req('GET', '/api/v1/health-history/nope');
    t.equal(unknown.status, 404);
    t.equal(unknown.body.error.code, 'NOT_FOUND');
    for (const q of ['samples=0', 'samples=1001', 'samples=x']) {
      const r = await srv.req('GET', `/api/v1/health-history?${q}`);
      t.equal(r.status, 422, q);
      t.type(r.body.error.code, 'string');
    }
    t.equal((await srv.req('GET', '/api/v1/health-history', { token: null })).status, 401, 'a token is needed');
  });
});
