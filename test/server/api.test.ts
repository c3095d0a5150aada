import t from 'tap';
import { startServer } from '../support/server.js';
import type { AgentGateway } from '../../src/core/ports.js';
import { NotFoundError } from '../../src/api/errors.js';

t.test('health and readiness need no token', async (t) => {
  const s = await startServer(t);
  t.equal((await s.req('GET', '/healthz', { token: null })).status, 200);
  const r = await s.req('GET', '/readyz', { token: null });
  t.equal(r.status, 200);
  t.equal(r.body.checks.database, true);
});

t.test('readiness reports 503 until start-up is done', async (t) => {
  let done = false;
  const s = await startServer(t, { ready: () => done });
  t.equal((await s.req('GET', '/readyz', { token: null })).status, 503);
  done = true;
  t.equal((await s.req('GET', '/readyz', { token: null })).status, 200);
});

t.test('nodes CRUD with events and audit', async (t) => {
  const s = await startServer(t);
  const seen: string[] = [];
  s.app.bus.onAny('test', (e) => seen.push(e.type));
  const created = await s.req('POST', '/api/v1/nodes', {
    token: s.operator,
    body: { name: 'pi-1', address: '10.0.0.11', labels: { zone: 'a' } },
  });
  t.equal(created.status, 201);
  t.equal(created.body.state, 'discovered');
  t.equal((await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-1' } })).body.error.code, 'CONFLICT');
  const got = await s.req('GET', '/api/v1/nodes/pi-1', { token: s.viewer });
  t.equal(got.body.id, created.body.id, 'found by name');
  const patched = await s.req('PATCH', `/api/v1/nodes/${created.body.id}`, { token: s.operator, body: { state: 'ready' } });
  t.equal(patched.body.state, 'ready');
  t.same(patched.body.labels, { zone: 'a' });
  const list = await s.req('GET', '/api/v1/nodes?state=ready&limit=10', { token: s.viewer });
  t.equal(list.body.total, 1);
  t.equal((await s.req('DELETE', '/api/v1/nodes/pi-1', { token: s.operator })).status, 204);
  t.equal((await s.req('GET', '/api/v1/nodes/pi-1')).status, 404);
  t.same(seen, ['node.created', 'node.updated', 'node.deleted']);
  const audit = await s.req('GET', '/api/v1/audit');
  t.same(
    audit.body.items.map((a: { action: string; actorName: string; status: number; target: string }) => [
      a.action,
      a.actorName,
      a.status,
      a.target,
    ]),
    [
      ['node.delete', 'test-operator', 204, 'pi-1'],
      ['node.update', 'test-operator', 200, 'pi-1'],
      ['node.create', 'test-admin', 409, 'pi-1'],
      ['node.create', 'test-operator', 201, 'pi-1'],
    ],
  );
});

t.test('unknown route is 404 JSON, wrong method is 405 with Allow', async (t) => {
  const s = await startServer(t);
  const nf = await s.req('GET', '/api/v1/nope');
  t.equal(nf.status, 404);
  t.equal(nf.body.error.code, 'NOT_FOUND');
  const na = await s.req('PUT', '/api/v1/nodes');
  t.equal(na.status, 405);
  t.equal(na.body.error.code, 'METHOD_NOT_ALLOWED');
  t.match(na.headers.get('allow'), /GET/);
  t.match(na.headers.get('allow'), /POST/);
});

t.test('roles: viewer reads, operator writes, admin manages tokens', async (t) => {
  const s = await startServer(t);
  t.equal((await s.req('POST', '/api/v1/nodes', { token: s.viewer, body: { name: 'x' } })).status, 403);
  t.equal((await s.req('GET', '/api/v1/tokens', { token: s.operator })).status, 403);
  const c = await s.req('POST', '/api/v1/tokens', { body: { name: 'robot', role: 'viewer' } });
  t.equal(c.status, 201);
  t.equal((await s.req('GET', '/api/v1/whoami', { token: c.body.token })).body.name, 'robot');
  t.equal((await s.req('DELETE', `/api/v1/tokens/${c.body.info.id}`)).status, 200);
  const after = await s.req('GET', '/api/v1/whoami', { token: c.body.token });
  t.equal(after.status, 401, 'a revoked token stops working at once');
  t.equal(after.headers.get('www-authenticate'), 'Bearer realm="pi-controller"');
  const list = await s.req('GET', '/api/v1/tokens');
  t.notOk(JSON.stringify(list.body).includes('hash'), 'no hashes in listings');
});

t.test('desired hardware state: create, claim conflicts, generations, events', async (t) => {
  const s = await startServer(t);
  const changes: unknown[] = [];
  s.app.bus.on('test', 'hw.changed', (e) => changes.push(e.data));
  await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-hw' } });
  const g = await s.req('POST', '/api/v1/nodes/pi-hw/gpio', {
    body: { name: 'led', spec: { pin: 17, mode: 'output', value: 1, activeLow: false } },
  });
  t.equal(g.status, 201);
  t.equal(g.body.status.phase, 'Pending');
  const clash = await s.req('POST', '/api/v1/nodes/pi-hw/pwm', {
    body: { name: 'fan', spec: { pin: 17, frequencyHz: 25000, dutyCycle: 0.4 } },
  });
  t.equal(clash.status, 409);
  t.equal(clash.body.error.details.claim, 'pin:17');
  const put = await s.req('PUT', '/api/v1/nodes/pi-hw/gpio/led', { body: { spec: { pin: 17, mode: 'output', value: 0 } } });
  t.equal(put.body.generation, 2);
  const i2c = await s.req('POST', '/api/v1/nodes/pi-hw/i2c', {
    body: {
      name: 'bme',
      spec: { bus: 1, address: 0x76, decoder: 'bme280', registers: [{ name: 'id', register: 0xd0, type: 'u8', pollIntervalMs: 1000 }] },
    },
  });
  t.equal(i2c.status, 201);
  t.equal((await s.req('GET', '/api/v1/nodes/pi-hw/i2c')).body.total, 1);
  t.equal((await s.req('DELETE', '/api/v1/nodes/pi-hw/gpio/led')).status, 204);
  t.same(
    changes.map((c) => c as { kind: string; generation: number; deleted: boolean }),
    [
      { nodeId: g.body.nodeId, kind: 'gpio', name: 'led', generation: 1, deleted: false },
      { nodeId: g.body.nodeId, kind: 'gpio', name: 'led', generation: 2, deleted: false },
      { nodeId: g.body.nodeId, kind: 'i2c', name: 'bme', generation: 1, deleted: false },
      { nodeId: g.body.nodeId, kind: 'gpio', name: 'led', generation: 2, deleted: true },
    ],
  );
  const agent = await s.req('GET', '/api/v1/nodes/pi-hw/agent');
  t.same(agent.body, { connected: false, since: null, health: null, reason: 'NoAgentLink' });
});

t.test('the agent seam answers for a node', async (t) => {
  const agents: AgentGateway = {
    status: () => ({ connected: true, since: '2024-01-01T00:00:00.000Z', health: { tempC: 51 } }),
    list: () => [],
    info: (node) => {
      throw new NotFoundError('node', node);
    },
    createJoinToken: () => {
      throw new Error('not used here');
    },
    revokeNode: () => [],
    requestSafeState: () => false,
    logs: () => Promise.reject(new Error('not used here')),
  };
  const s = await startServer(t, { agents });
  await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-a' } });
  t.same((await s.req('GET', '/api/v1/nodes/pi-a/agent')).body, {
    connected: true,
    since: '2024-01-01T00:00:00.000Z',
    health: { tempC: 51 },
    reason: 'Connected',
  });
});

t.test('clusters, jobs with logs, discovery adoption, system info', async (t) => {
  const s = await startServer(t);
  const c = await s.req('POST', '/api/v1/clusters', { body: { name: 'home', k3sVersion: 'v1.30.4+k3s1', ha: true } });
  t.equal(c.status, 201);
  const d = await s.req('POST', '/api/v1/discovery', { body: { address: '10.0.0.50', source: 'manual', mac: 'dc:a6:32:01:02:03' } });
  const n = await s.req('POST', `/api/v1/discovery/${d.body.id}/adopt`, { body: { name: 'pi-50' } });
  t.equal(n.status, 201);
  t.equal(n.body.mac, 'dc:a6:32:01:02:03');
  await s.req('PATCH', '/api/v1/nodes/pi-50', { body: { clusterId: c.body.id } });
  t.equal((await s.req('GET', '/api/v1/clusters/home/nodes')).body.total, 1);
  const j = await s.req('POST', '/api/v1/jobs', { token: s.operator, body: { kind: 'cluster.install', target: { clusterId: c.body.id } } });
  t.equal(j.body.createdBy, 'test-operator');
  s.store.jobs.appendLog(j.body.id, 'stdout', 'hello');
  s.store.jobs.appendLog(j.body.id, 'stdout', 'world');
  t.same(
    (await s.req('GET', `/api/v1/jobs/${j.body.id}/logs?after=1`)).body.items.map((l: { line: string }) => l.line),
    ['world'],
  );
  t.equal((await s.req('POST', `/api/v1/jobs/${j.body.id}/cancel`)).body.state, 'cancelled');
  t.equal((await s.req('POST', `/api/v1/jobs/${j.body.id}/cancel`)).status, 409);
  t.equal((await s.req('POST', '/api/v1/jobs', { body: { kind: 'x', target: { nodeId: 'missing' } } })).status, 404);
  const sys = await s.req('GET', '/api/v1/system', { token: s.viewer });
  t.equal(sys.body.counts.nodes, 1);
  t.equal(sys.body.counts.tokens, 3);
});

t.test('errors: bad JSON is 422, wrong type is 415, a big body 413', async (t) => {
  const s = await startServer(t, { limits: { bodyBytes: 1000 } });
  const bad = await s.req('POST', '/api/v1/nodes', { raw: '{"name": ' });
  t.equal(bad.status, 422);
  t.equal(bad.body.error.problems[0].path, '/body');
  t.equal((await s.req('POST', '/api/v1/nodes', { raw: 'name=x', headers: { 'content-type': 'text/plain' } })).status, 415);
  t.equal((await s.req('POST', '/api/v1/nodes', { body: { name: 'x', model: 'y'.repeat(2000) } })).status, 413);
  t.equal((await s.req('GET', '/api/v1/nodes')).body.total, 0, 'nothing was created');
});

t.test('OpenAPI document comes from the route schemas', async (t) => {
  const s = await startServer(t);
  const doc = (await s.req('GET', '/api/v1/openapi.json', { token: s.viewer })).body;
  t.equal(doc.openapi, '3.0.3');
  const post = doc.paths['/api/v1/nodes/{node}/gpio'].post;
  t.equal(post['x-required-role'], 'operator');
  t.same(post.requestBody.content['application/json'].schema.properties.spec.properties.mode.enum, ['input', 'output']);
  t.equal(doc.paths['/api/v1/nodes/{id}'].patch.parameters[0].in, 'path');
  // Every registered route is documented.
  for (const r of s.app.resources)
    for (const spec of r.routes) {
      const p = ('/api/v1' + r.prefix + (spec.path === '/' ? '' : spec.path)).replace(/:(\w+)/g, '{$1}');
      t.ok(doc.paths[p]?.[spec.method.toLowerCase()], `${spec.method} ${p} documented`);
    }
});

t.test('metrics in Prometheus format', async (t) => {
  const s = await startServer(t);
  await s.req('POST', '/api/v1/nodes', { body: { name: 'm1' } });
  await s.req('GET', '/api/v1/nodes');
  t.equal((await s.req('GET', '/metrics', { token: null })).status, 401);
  const m = await s.req('GET', '/metrics', { token: s.viewer });
  t.equal(m.status, 200);
  t.match(m.text, /pi_controller_http_requests_total\{method="GET",route="\/api\/v1\/nodes",status="200"\} 1/);
  t.match(m.text, /pi_controller_nodes\{state="discovered"\} 1/);
  t.match(m.text, /pi_controller_events_total\{type="node.created"\} 1/);
  t.match(m.text, /pi_controller_http_request_duration_seconds_bucket/);
});
