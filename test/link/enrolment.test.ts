/**
 * The agent endpoint's enrolment answers errors with the REST API's mapping: the same JSON
 * shape (`error.code`, `error.message`, `error.problems` for validation) and the same `expose`
 * rule as src/server.
 */
import t from 'tap';
import { request } from 'node:https';
import { startRig } from '../agent/rig.js';
import { ControllerError, ValidationError } from '../../src/api/errors.js';
import { errorResponse } from '../../src/api/error-response.js';

function post(url: string, ca: string, path: string, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The shape of an error body: its keys, and the distinct key sets of its problems. */
function shape(body: unknown): { keys: string[]; problemKeys: string[] } {
  const e = (body as { error: Record<string, unknown> }).error;
  const problems = (e.problems ?? []) as Record<string, unknown>[];
  return { keys: Object.keys(e).sort(), problemKeys: [...new Set(problems.map((p) => Object.keys(p).sort().join(',')))] };
}

t.test('enrolment errors', async (t) => {
  t.test('a refused enrolment body has the shape of a REST validation error', async (t) => {
    const rig = await startRig(t);
    const enrol = await post(rig.hub.url, rig.certs.caCert, '/enrol', '{"token":1}');
    t.equal(enrol.status, 422);
    t.match(enrol.body, {
      error: { code: 'VALIDATION_FAILED', message: 'enrolment request validation failed', problems: [{ path: /^\/body/, code: String }] },
    });
    // The REST API's own 422 for a body that does not match its schema.
    const rest = await rig.srv.req('POST', '/api/v1/agents/join-tokens', { body: { node: 1 } });
    t.equal(rest.status, 422);
    t.same(shape(enrol.body), shape(rest.body), 'same keys in error and in each problem');
    t.same(shape(enrol.body).keys, ['code', 'message', 'problems']);
  });

  t.test('an unknown join token and an unknown path: a code and its message, as a REST 4xx', async (t) => {
    const rig = await startRig(t);
    const first = await post(rig.hub.url, rig.certs.caCert, '/enrol', JSON.stringify({ token: 'nobody.nothing', csr: 'x' }));
    t.match(first, { status: 403, body: { error: { code: 'TOKEN_UNKNOWN', message: /not known/ } } });
    const missing = await post(rig.hub.url, rig.certs.caCert, '/nothing', '{}');
    t.match(missing, { status: 404, body: { error: { code: 'NOT_FOUND', message: /not served here/ } } });
  });

  t.test('the shared mapping hides the message of an unexposed error and shows an expected one', async (t) => {
    t.same(errorResponse(new ControllerError('CA_KEY_UNREADABLE', 500, 'secret path /x/y')), {
      status: 500,
      body: { error: { code: 'CA_KEY_UNREADABLE', message: 'internal error' } },
      log: true,
    });
    t.same(errorResponse(new ControllerError('TOKEN_USED', 409, 'used at 10:00')), {
      status: 409,
      body: { error: { code: 'TOKEN_USED', message: 'used at 10:00' } },
      log: false,
    });
    t.same(errorResponse(new ValidationError([{ path: '/body/a', message: 'm', code: 'type' }])).body, {
      error: {
        code: 'VALIDATION_FAILED',
        message: 'request validation failed',
        problems: [{ path: '/body/a', message: 'm', code: 'type' }],
      },
    });
    t.same(errorResponse(new Error('boom')), { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } }, log: true });
  });
});
