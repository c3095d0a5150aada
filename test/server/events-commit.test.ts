import t from 'tap';
import WebSocket from 'ws';
import type { EventEnvelope } from '../../src/api/events.js';
import { startServer, type TestServer } from '../support/server.js';

/** A stream client that records every event; `next()` resolves with the first one not yet taken. */
async function streamClient(s: TestServer): Promise<{ ws: WebSocket; next(): Promise<EventEnvelope> }> {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/events`, { headers: { authorization: `Bearer ${s.viewer}` } });
  const got: EventEnvelope[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (m) => {
    got.push(JSON.parse(String(m)) as EventEnvelope);
    wake?.();
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let taken = 0;
  const next = async () => {
    while (got.length <= taken) await new Promise<void>((r) => (wake = r));
    return got[taken++]!;
  };
  return { ws, next };
}

t.test('events are published after commit', async (t) => {
  t.test('a mutation whose audit insert fails publishes nothing and changes nothing', async (t) => {
    const s = await startServer(t);
    const c = await streamClient(s);
    t.teardown(() => c.ws.close());
    const inProcess: string[] = [];
    s.app.bus.onAny('test', (e) => inProcess.push(e.type));
    // A real failure inside the transaction, after the handler has created the node and emitted
    // node.created: SQLite refuses the audit row of a successful node.create.
    s.store.db.exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action = 'node.create' AND NEW.status = 201
      BEGIN SELECT RAISE(ABORT, 'audit refused'); END`);
    const eventsBefore = s.store.events.lastSeq();

    const res = await s.req('POST', '/api/v1/nodes', { body: { name: 'ghost' } });
    t.equal(res.status, 500);
    t.equal(res.body.error.code, 'INTERNAL');

    // A later, successful mutation: its event must be the first one the client receives
    // (one ordered WebSocket), so a node.created from the failed request would show up here.
    t.equal((await s.req('POST', '/api/v1/clusters', { body: { name: 'c1' } })).status, 201);
    const first = await c.next();
    t.equal(first.type, 'cluster.created', 'the stream client never saw node.created');
    t.same(inProcess, ['cluster.created'], 'nor did an in-process listener');

    t.equal((await s.req('GET', '/api/v1/nodes/ghost')).status, 404, 'the node was not created');
    t.same(
      s.store.events.since(eventsBefore).map((e) => e.type),
      ['cluster.created'],
      'the event log holds no node.created',
    );
    const metrics = (await s.req('GET', '/metrics')).text;
    t.notMatch(metrics, /pi_controller_events_total\{type="node.created"\}/, 'metrics did not count it');
    const audit = s.store.audit.list().map((a) => [a.action, a.status]);
    t.same(
      audit,
      [
        ['cluster.create', 201],
        ['node.create', 500],
      ],
      'the failed attempt is audited as a failure',
    );
  });

  t.test('events of a committed mutation arrive, in order, with their sequence numbers', async (t) => {
    const s = await startServer(t);
    const c = await streamClient(s);
    t.teardown(() => c.ws.close());
    await s.req('POST', '/api/v1/nodes', { body: { name: 'n1' } });
    await s.req('PATCH', '/api/v1/nodes/n1', { body: { state: 'ready' } });
    const a = await c.next();
    const b = await c.next();
    t.same([a.type, b.type], ['node.created', 'node.updated']);
    t.same(
      s.store.events.since(a.seq - 1).map((e) => e.seq),
      [a.seq, b.seq],
      'the same sequence numbers as the event log',
    );
  });
});
