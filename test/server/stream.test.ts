import t from 'tap';
import WebSocket from 'ws';
import type { EventEnvelope } from '../../src/api/events.js';
import { startServer, type TestServer } from '../support/server.js';

/** A client with every message recorded from the first byte (replayed events can arrive with the handshake). */
interface Client {
  ws: WebSocket;
  got: EventEnvelope[];
  /** Resolves when `n` events have been received. */
  upTo(n: number): Promise<EventEnvelope[]>;
}

function connect(s: TestServer, query = '', token = s.viewer): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/events${query}`, { headers: { authorization: `Bearer ${token}` } });
    const got: EventEnvelope[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (m) => {
      got.push(JSON.parse(String(m)) as EventEnvelope);
      for (const w of waiters) w();
    });
    const upTo = (n: number) =>
      new Promise<EventEnvelope[]>((res) => {
        const check = () => got.length >= n && res(got.slice(0, n));
        waiters.push(check);
        check();
      });
    ws.once('open', () => resolve({ ws, got, upTo }));
    ws.once('unexpected-response', (_q, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

t.test('event stream', async (t) => {
  t.test('streams events, filtered by type pattern', async (t) => {
    const s = await startServer(t);
    const c = await connect(s, '?types=node.*');
    t.teardown(() => c.ws.close());
    const got = c.upTo(2);
    await s.req('POST', '/api/v1/clusters', { body: { name: 'c' } });
    await s.req('POST', '/api/v1/nodes', { body: { name: 'n1' } });
    await s.req('DELETE', '/api/v1/nodes/n1');
    const evs = await got;
    t.same(
      evs.map((e) => e.type),
      ['node.created', 'node.deleted'],
    );
    t.ok(evs[1]!.seq > evs[0]!.seq);
  });

  t.test('replays from a sequence number, then continues live', async (t) => {
    const s = await startServer(t);
    await s.req('POST', '/api/v1/nodes', { body: { name: 'a' } });
    const b = (await s.req('POST', '/api/v1/nodes', { body: { name: 'b' } })).body;
    const first = s.store.events.since(0)[0]!.seq;
    const c = await connect(s, `?since=${first}`);
    t.teardown(() => c.ws.close());
    const got = c.upTo(2);
    await s.req('DELETE', '/api/v1/nodes/a');
    const evs = await got;
    t.same(
      evs.map((e) => [e.type, (e.data as { name: string }).name]),
      [
        ['node.created', b.name],
        ['node.deleted', 'a'],
      ],
    );
  });

  t.test('refuses bad parameters with 422 before upgrading', async (t) => {
    const s = await startServer(t);
    await t.rejects(connect(s, '?types=nodes.created,job.*'), { message: 'status 422' });
    await t.rejects(connect(s, '?since=-1'), { message: 'status 422' });
  });

  t.test('a slow client gets drops with a notice, and the server queue stays bounded', async (t) => {
    const limit = 64 * 1024;
    const s = await startServer(t, { limits: { streamBufferBytes: limit, streamMaxDropped: 1_000_000 } });
    const { ws, got } = await connect(s);
    t.teardown(() => ws.terminate());
    ws.pause(); // stop reading: the kernel buffers fill, then the server's queue grows
    const line = { seq: 1, at: new Date().toISOString(), stream: 'stdout' as const, line: 'x'.repeat(8192) };
    let maxQueued = 0;
    for (let i = 0; i < 3000; i++) {
      s.app.bus.emit('job.log', { jobId: 'j', line });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      maxQueued = Math.max(maxQueued, ...s.app.stream.bufferedAmounts());
    }
    t.ok(maxQueued <= limit + 16 * 1024, `server-side queue peaked at ${maxQueued} bytes (limit ${limit}) while 24 MB were published`);
    const metrics = await s.req('GET', '/metrics');
    const dropped = Number(/pi_controller_event_stream_dropped_total (\d+)/.exec(metrics.text)?.[1]);
    t.ok(dropped > 0, `${dropped} events dropped`);
    // Catch up, then the next event is preceded by the drop notice.
    ws.resume();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      if (Math.max(0, ...s.app.stream.bufferedAmounts()) === 0) break;
    }
    s.app.bus.emit('node.deleted', { id: 'x', name: 'x' });
    for (let i = 0; i < 100 && got.at(-1)?.type !== 'node.deleted'; i++) await new Promise((r) => setTimeout(r, 20));
    const tail = got.slice(-2).map((e) => e.type);
    t.same(tail, ['stream.dropped', 'node.deleted'], 'the notice comes before the next event');
    t.equal((got.at(-2)!.data as { count: number }).count, dropped, 'it counts every dropped event');
    t.equal(got.length - 2 + dropped, 3000, 'delivered + dropped = published');
  });

  t.test('a client that stays too slow is disconnected', async (t) => {
    const s = await startServer(t, { limits: { streamBufferBytes: 16 * 1024, streamMaxDropped: 50 } });
    const { ws } = await connect(s);
    ws.pause();
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const line = { seq: 1, at: new Date().toISOString(), stream: 'stdout' as const, line: 'y'.repeat(8192) };
    for (let i = 0; i < 2000 && s.app.stream.clientCount > 0; i++) {
      s.app.bus.emit('job.log', { jobId: 'j', line });
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    ws.resume();
    const code = await closed;
    t.ok(code === 1013 || code === 1006, `closed with ${code}`);
    // The client can see its socket close before the server handles its side: give it a moment.
    for (let i = 0; i < 250 && s.app.stream.clientCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(s.app.stream.clientCount, 0);
    t.equal(s.app.bus.listenerCount(), 1, 'only the metrics listener is left');
  });
});
