/**
 * The web UI's files as the control plane serves them (createApp with `webRoot`, a temporary
 * build): public without a token, exact paths only, hashed assets cached for a year, the page
 * under a strict Content-Security-Policy; every /api route still needs a token. And the event
 * stream's browser sign-in: the token offered as a WebSocket subprotocol, never in the URL.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

const JS = 'main-ABCD2345.js';

function fakeBuild(t: { teardown(fn: () => void): void }): string {
  const root = tempDir(t, 'pic-web-');
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), `<!doctype html><title>pi-controller</title><script type="module" src="/assets/${JS}"></script>`);
  writeFileSync(join(root, 'assets', JS), 'console.log(1)');
  writeFileSync(join(root, 'secret.txt'), 'not part of the UI');
  return root;
}

t.test('web UI files', async (t) => {
  const s = await startServer(t, { webRoot: fakeBuild(t) });

  t.test('the page needs no token and carries a strict CSP', async (t) => {
    const r = await s.req('GET', '/', { token: null });
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type'), /^text\/html/);
    t.match(r.text, /pi-controller/);
    const csp = r.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"])
      t.ok(csp.includes(d), `CSP has ${d}`);
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or style allowed');
    t.equal(r.headers.get('cache-control'), 'no-cache', 'the page is revalidated on every load');
    t.equal(r.headers.get('x-content-type-options'), 'nosniff');
    t.equal((await s.req('GET', '/index.html', { token: null })).status, 200);
  });

  t.test('hashed assets are immutable for a year and revalidate with their ETag', async (t) => {
    const r = await s.req('GET', `/assets/${JS}`, { token: null });
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type'), /^text\/javascript/);
    t.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const etag = r.headers.get('etag')!;
    t.ok(etag);
    // node:http, not fetch: fetch marks a conditional request no-cache (as the Fetch standard says), which forbids a 304.
    const status = await new Promise<number>((resolve, reject) =>
      get(`${s.url}/assets/${JS}`, { headers: { 'if-none-match': etag } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject),
    );
    t.equal(status, 304);
  });

  t.test('anything else still needs a token: the API, unknown and escaping paths, other methods', async (t) => {
    for (const path of [
      '/api/v1/nodes',
      '/api/v1/whoami',
      '/metrics',
      '/assets/nope.js',
      '/secret.txt',
      '/assets/../secret.txt',
      '/assets/%2e%2e/secret.txt',
    ]) {
      const r = await s.req('GET', path, { token: null });
      t.equal(r.status, 401, `GET ${path} without a token: 401`);
      t.equal(r.body?.error?.code, 'UNAUTHENTICATED');
    }
    t.equal((await s.req('POST', '/', { token: null, body: {} })).status, 401, 'POST / is not the UI');
    t.equal((await s.req('GET', '/api/v1/nodes')).status, 200, 'with a token the API answers as before');
  });
});

t.test('without webRoot nothing is public; with an unbuilt one, / says how to build it', async (t) => {
  const none = await startServer(t);
  t.equal((await none.req('GET', '/', { token: null })).status, 401);
  const unbuilt = await startServer(t, (_store, dir) => ({ webRoot: join(dir, 'no-such-build') }));
  const r = await unbuilt.req('GET', '/', { token: null });
  t.equal(r.status, 404);
  t.equal(r.body.error.code, 'WEB_UI_NOT_BUILT');
  t.match(r.body.error.message, /npm run build:web/);
});

function open(s: TestServer, protocols: string[]): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/events`, protocols);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_q, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', reject);
  });
}

t.test('event stream sign-in with the token as a subprotocol (as browsers do)', async (t) => {
  const s = await startServer(t);

  t.test('a valid token: connected, the server picks pi-controller.events, events flow', async (t) => {
    const r = await open(s, ['pi-controller.events', `bearer.${s.viewer}`]);
    if (!('ws' in r)) throw new Error(`refused with ${r.status}`);
    t.teardown(() => r.ws.close());
    t.equal(r.ws.protocol, 'pi-controller.events', 'the token is never echoed back as the chosen protocol');
    const got = new Promise<string>((res) => r.ws.once('message', (m) => res(String(m))));
    await s.req('POST', '/api/v1/nodes', { body: { name: 'seen-by-browser' } });
    t.match(JSON.parse(await got), { type: 'node.created', data: { name: 'seen-by-browser' } });
  });

  t.test('a bad or missing token: 401 before the upgrade', async (t) => {
    t.same(await open(s, ['pi-controller.events', 'bearer.pct_0000000000000000_notavalidsecretnotavalidsecretnotavalidsec']), {
      status: 401,
    });
    t.same(await open(s, ['pi-controller.events']), { status: 401 });
  });
});
