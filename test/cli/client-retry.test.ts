/**
 * The CLI's REST client and kept-alive connections: a server that resets a connection it kept
 * open, just as the client sends its next request there (what a server's keep-alive timeout
 * does at the wrong moment), costs nothing: the request goes again on a new connection. A reset
 * of a request on a fresh connection is still an error (exit code UNREACHABLE), sent once.
 * A raw TCP server on 127.0.0.1 that speaks just enough HTTP/1.1.
 */
import t, { type Test } from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { call } from '../../src/cli/client.js';
import { CliError, EXIT } from '../../src/cli/exit.js';

/** Serves `plan[i]` to the i-th request it reads: 'ok' answers 200 keep-alive, 'reset' resets the connection. */
async function rawServer(t: Test, plan: ('ok' | 'reset')[]) {
  const seen: { conn: number; path: string }[] = [];
  let conns = 0;
  const server = createServer((sock: Socket) => {
    const conn = ++conns;
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        seen.push({ conn, path: head.split(' ')[1]! });
        const what = plan[seen.length - 1] ?? 'ok';
        if (what === 'reset') {
          sock.resetAndDestroy();
          return;
        }
        const body = JSON.stringify({ n: seen.length });
        sock.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
        );
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, conns: () => conns };
}

t.test('a kept-alive connection reset as the next request is sent: sent again on a new connection', async (t) => {
  const s = await rawServer(t, ['ok', 'reset', 'ok']);
  const creds = { url: s.url, token: 'x' };
  t.same((await call(creds, 'GET', '/a')).body, { n: 1 });
  const second = await call(creds, 'POST', '/b', { x: 1 });
  t.same(second.body, { n: 3 }, 'answered by the third request the server read');
  t.same(
    s.seen.map((r) => r.path),
    ['/a', '/b', '/b'],
  );
  t.equal(s.seen[1]!.conn, s.seen[0]!.conn, 'the second request went on the kept connection');
  t.not(s.seen[2]!.conn, s.seen[1]!.conn, 'and again on a new one');
});

t.test('a reset on a fresh connection is an error, sent once', async (t) => {
  const s = await rawServer(t, ['reset', 'ok']);
  const err = await call({ url: s.url, token: 'x' }, 'POST', '/c', {}).catch((e: unknown) => e);
  t.ok(err instanceof CliError, 'a CliError');
  t.equal((err as CliError).exitCode, EXIT.UNREACHABLE);
  t.match((err as CliError).message, /cannot reach .*ECONNRESET|socket hang up/);
  t.equal(s.seen.length, 1, 'not sent again');
});
