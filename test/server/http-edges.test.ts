/**
 * The edges of HTTP: requests Node's own parser refuses before Koa sees them (an oversized header
 * block, a bad Content-Length) still get the JSON error shape, and a plain GET of the WebSocket
 * event stream is told to upgrade.
 */
import t from 'tap';
import { connect } from 'node:net';
import { startServer } from '../support/server.js';

/** Sends raw bytes on a new TCP connection and returns everything the server wrote until it closed. */
function rawRequest(url: string, data: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.setTimeout(20_000, () => sock.destroy(new Error('no answer in 20 s')));
    sock.end(data);
  });
}

/** Status line, headers (lower-cased names) and body of a raw HTTP/1.1 response. */
function parse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

t.test("errors from Node's HTTP parser have the JSON error shape", async (t) => {
  const s = await startServer(t);

  t.test('a 64 KB header is 431 HEADERS_TOO_LARGE', async (t) => {
    const r = parse(await rawRequest(s.url, `GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`));
    t.equal(r.status, 431);
    t.match(r.headers['content-type'], /^application\/json/);
    t.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    t.equal(body.error.code, 'HEADERS_TOO_LARGE');
    t.match(body.error.message, /header/);
  });

  t.test('a bad Content-Length is 400 BAD_REQUEST naming the parser error', async (t) => {
    const r = parse(await rawRequest(s.url, 'POST /api/v1/nodes HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}'));
    t.equal(r.status, 400);
    t.match(r.headers['content-type'], /^application\/json/);
    const body = JSON.parse(r.body) as { error: { code: string; message: string; details: { parserCode: string } } };
    t.equal(body.error.code, 'BAD_REQUEST');
    t.match(body.error.message, /Content-Length/);
    t.equal(body.error.details.parserCode, 'HPE_INVALID_CONTENT_LENGTH');
  });

  t.test('garbage instead of a request line is 400 too', async (t) => {
    const r = parse(await rawRequest(s.url, 'HELLO\r\n\r\n'));
    t.equal(r.status, 400);
    t.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  });

  t.test('the server keeps serving', async (t) => {
    t.equal((await s.req('GET', '/api/v1/nodes')).status, 200);
  });
});

t.test('a plain GET of the event stream is 426 Upgrade Required', async (t) => {
  const s = await startServer(t);
  const r = await s.req('GET', '/api/v1/events', { token: s.viewer });
  t.equal(r.status, 426);
  t.equal(r.headers.get('upgrade'), 'websocket');
  t.equal(r.body.error.code, 'UPGRADE_REQUIRED');
  t.match(r.body.error.message, /WebSocket/);
  t.equal((await s.req('GET', '/api/v1/events', { token: null })).status, 401, 'a token is still needed first');
  t.equal((await s.req('GET', '/api/v1/events?since=0', { token: s.viewer })).status, 426, 'with the stream query too');
});
