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
