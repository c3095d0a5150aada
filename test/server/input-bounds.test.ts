/**
 * Bounds on what a request may carry: nesting depth and size of JSON bodies, node labels (keys,
 * values, types), adopt labels, and integers in the query string. Each bad request is a 4xx with
 * a machine-readable code and changes nothing.
 */
import t from 'tap';
import { startServer } from '../support/server.js';

/** `{"a":{"a":...}}` nested `depth` objects deep around `leaf`, built as text (no recursion). */
function nestedObject(depth: number, leaf = '1'): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

t.test('body nesting depth', async (t) => {
  const s = await startServer(t);
  const node = (await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-deep' } })).body;
  const jobsBefore = (await s.req('GET', '/api/v1/jobs')).body.total;

  t.test('a job whose params nest 10,000 deep is refused with 422 and code max-depth', async (t) => {
    const r = await s.req('POST', '/api/v1/jobs', { raw: `{"kind":"node.prepare","params":${nestedObject(10_000)}}` });
    t.equal(r.status, 422);
    t.equal(r.body.error.code, 'VALIDATION_FAILED');
    t.equal(r.body.error.problems.length, 1);
    t.equal(r.body.error.problems[0].code, 'max-depth');
    t.match(r.body.error.problems[0].path, /^\/body\/params\/a\/a/);
    t.equal((await s.req('GET', '/api/v1/jobs')).body.total, jobsBefore, 'no job was queued');
  });

  t.test('deep arrays in node labels too', async (t) => {
    const r = await s.req('PATCH', `/api/v1/nodes/${node.id}`, { raw: `{"labels":{"k":${'['.repeat(10_000)}${']'.repeat(10_000)}}}` });
    t.equal(r.status, 422);
    t.equal(r.body.error.problems[0].code, 'max-depth');
    t.equal((await s.req('GET', `/api/v1/nodes/${node.id}`)).body.updatedAt, node.updatedAt, 'node unchanged');
  });

  t.test('a body at the limit is accepted; one level more is not', async (t) => {
    // The body object is level 1; params, 31 objects deep, takes levels 2 to 32.
    const ok = await s.req('POST', '/api/v1/jobs', { raw: `{"kind":"node.prepare","params":${nestedObject(31)}}` });
    t.equal(ok.status, 201);
    const over = await s.req('POST', '/api/v1/jobs', { raw: `{"kind":"node.prepare","params":${nestedObject(32)}}` });
    t.equal(over.status, 422);
    t.equal(over.body.error.problems[0].code, 'max-depth');
  });

  t.test('a body over the size limit is 413 PAYLOAD_TOO_LARGE', async (t) => {
    const r = await s.req('POST', '/api/v1/jobs', { body: { kind: 'node.prepare', params: { blob: 'x'.repeat(1.1 * (1 << 20)) } } });
    t.equal(r.status, 413);
    t.equal(r.body.error.code, 'PAYLOAD_TOO_LARGE');
  });

  t.test('the server still answers', async (t) => {
    t.equal((await s.req('GET', '/api/v1/nodes')).status, 200);
  });
});

t.test('the depth limit is configurable', async (t) => {
  const s = await startServer(t, { limits: { bodyDepth: 3 } });
  t.equal((await s.req('POST', '/api/v1/jobs', { body: { kind: 'node.prepare', params: { a: { b: 1 } } } })).status, 201);
  const r = await s.req('POST', '/api/v1/jobs', { body: { kind: 'node.prepare', params: { a: { b: [1] } } } });
  t.equal(r.status, 422);
  t.same(r.body.error.problems, [{ path: '/body/params/a/b', code: 'max-depth', message: 'nested deeper than 3 levels' }]);
});

t.test('node labels', async (t) => {
  const s = await startServer(t);
  const count = async () => (await s.req('GET', '/api/v1/nodes')).body.total as number;

  t.test('keys outside the pattern and values that are not strings are refused, each with its path', async (t) => {
    const r = await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-l', labels: { 'bad key!': 'v', 'k k': { deep: [1] }, ok: 5 } } });
    t.equal(r.status, 422);
    t.equal(r.body.error.code, 'VALIDATION_FAILED');
    const byPath = Object.fromEntries(r.body.error.problems.map((p: { path: string; code: string }) => [p.path, p.code]));
    t.same(byPath, { '/body/labels/bad key!': 'key-pattern', '/body/labels/k k': 'key-pattern', '/body/labels/ok': 'string' });
    t.equal(await count(), 0, 'no node was created');
  });

  t.test('a PATCH with a bad key changes nothing', async (t) => {
    const n = (await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-m', labels: { soc: 'bcm2711' } } })).body;
    t.equal(n.labels.soc, 'bcm2711');
    const r = await s.req('PATCH', `/api/v1/nodes/${n.id}`, { body: { labels: { '-x': 'v', 'a/b': 'fine' } } });
    t.equal(r.status, 422);
    t.same(
      r.body.error.problems.map((p: { path: string }) => p.path),
      ['/body/labels/-x'],
    );
    t.same((await s.req('GET', `/api/v1/nodes/${n.id}`)).body.labels, { soc: 'bcm2711' });
  });

  t.test('adopt bounds label keys and values like node create', async (t) => {
    const disc = (await s.req('POST', '/api/v1/discovery', { body: { address: '10.0.0.9', source: 'manual' } })).body;
    const before = await count();
    const long = await s.req('POST', `/api/v1/discovery/${disc.id}/adopt`, { body: { name: 'pi-a', labels: { role: 'x'.repeat(5000) } } });
    t.equal(long.status, 422);
    t.equal(long.body.error.problems[0].path, '/body/labels/role');
    t.equal(long.body.error.problems[0].code, 'string-max-length');
    const badKey = await s.req('POST', `/api/v1/discovery/${disc.id}/adopt`, { body: { name: 'pi-a', labels: { 'no spaces': 'v' } } });
    t.equal(badKey.status, 422);
    t.equal(badKey.body.error.problems[0].path, '/body/labels/no spaces');
    t.equal(await count(), before, 'nothing adopted');
    const ok = await s.req('POST', `/api/v1/discovery/${disc.id}/adopt`, { body: { name: 'pi-a', labels: { role: 'worker' } } });
    t.equal(ok.status, 201);
    t.same(ok.body.labels, { role: 'worker' });
  });
});

t.test('integers in the query string are exact', async (t) => {
  const s = await startServer(t);
  await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-q' } });
  for (const [q, paths] of [
    ['limit=1.5', ['/query/limit']],
    ['offset=1e400', ['/query/offset']],
    ['limit=1.5&offset=1e400', ['/query/limit', '/query/offset']],
    ['limit=1e2', ['/query/limit']],
    ['limit=0x10', ['/query/limit']],
    ['limit=%205', ['/query/limit']],
    ['offset=9007199254740993', ['/query/offset']],
    ['limit=5&limit=6', ['/query/limit']],
  ] as const) {
    for (const route of ['/api/v1/nodes', '/api/v1/jobs', '/api/v1/discovery', '/api/v1/clusters']) {
      const r = await s.req('GET', `${route}?${q}`);
      t.equal(r.status, 422, `${route}?${q}: 422`);
      t.same(
        r.body?.error?.problems.map((p: { path: string }) => p.path),
        paths,
        `${route}?${q}: ${paths.join(', ')}`,
      );
    }
  }
  const ok = await s.req('GET', '/api/v1/nodes?limit=1&offset=0');
  t.equal(ok.status, 200);
  t.equal(ok.body.items.length, 1);
  t.equal((await s.req('GET', '/api/v1/audit?limit=2&before=100')).status, 200);
  t.equal((await s.req('GET', '/api/v1/tokens?includeRevoked=true')).status, 200);
  t.equal((await s.req('GET', '/api/v1/tokens?includeRevoked=yes')).status, 422);
});
