/**
 * Bad input across the routes: each must be a 422 with code VALIDATION_FAILED, every problem
 * with its JSON path, and must change nothing in the database.
 */
import t from 'tap';
import { startServer } from '../support/server.js';

interface Case {
  method: string;
  path: string;
  body?: unknown;
  raw?: string;
  /** Problem paths that must all be reported. */
  expect: string[];
}

const NODE = '/api/v1/nodes';
const HW = '/api/v1/nodes/pi-v';
const gpio = (spec: unknown) => ({ name: 'g2', spec });
const pwm = (spec: unknown) => ({ name: 'p2', spec });
const i2c = (spec: unknown) => ({ name: 'i2', spec });
const okPwm = { pin: 18, frequencyHz: 1000, dutyCycle: 0.5 };
const okI2c = { bus: 1, address: 0x40 };

const CASES: Case[] = [
  // nodes
  { method: 'POST', path: NODE, body: {}, expect: ['/body/name'] },
  { method: 'POST', path: NODE, body: undefined, expect: ['/body'] },
  { method: 'POST', path: NODE, body: [], expect: ['/body'] },
  { method: 'POST', path: NODE, body: 'pi', expect: ['/body'] },
  { method: 'POST', path: NODE, body: { name: 'Bad_Name' }, expect: ['/body/name'] },
  { method: 'POST', path: NODE, body: { name: '' }, expect: ['/body/name'] },
  { method: 'POST', path: NODE, body: { name: 'a'.repeat(64) }, expect: ['/body/name'] },
  { method: 'POST', path: NODE, body: { name: 'ok', extra: 1 }, expect: ['/body/extra'] },
  { method: 'POST', path: NODE, body: { name: 'ok', mac: 'DC-A6-32-00-00-01' }, expect: ['/body/mac'] },
  { method: 'POST', path: NODE, body: { name: 'ok', address: 'has space' }, expect: ['/body/address'] },
  { method: 'POST', path: NODE, body: { name: 'ok', labels: { k: 5 } }, expect: ['/body/labels/k'] },
  {
    method: 'POST',
    path: NODE,
    body: { name: 7, mac: 1, address: false, extra: true },
    expect: ['/body/name', '/body/mac', '/body/address', '/body/extra'],
  },
  { method: 'POST', path: NODE, raw: '{"name":', expect: ['/body'] },
  { method: 'PATCH', path: `${NODE}/pi-v`, body: { state: 'sleeping' }, expect: ['/body/state'] },
  { method: 'PATCH', path: `${NODE}/pi-v`, body: { name: 'renamed' }, expect: ['/body/name'] },
  { method: 'PATCH', path: `${NODE}/pi-v`, body: { labels: 'x' }, expect: ['/body/labels'] },
  { method: 'GET', path: `${NODE}?limit=0`, expect: ['/query/limit'] },
  { method: 'GET', path: `${NODE}?limit=abc&offset=-1`, expect: ['/query/limit', '/query/offset'] },
  { method: 'GET', path: `${NODE}?state=bogus`, expect: ['/query/state'] },
  { method: 'GET', path: `${NODE}?color=red`, expect: ['/query/color'] },
  // gpio
  { method: 'POST', path: `${HW}/gpio`, body: { name: 'g2' }, expect: ['/body/spec'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ mode: 'output' }), expect: ['/body/spec/pin'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 58, mode: 'output' }), expect: ['/body/spec/pin'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: -1, mode: 'output' }), expect: ['/body/spec/pin'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4.5, mode: 'output' }), expect: ['/body/spec/pin'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: '4', mode: 'output' }), expect: ['/body/spec/pin'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'out' }), expect: ['/body/spec/mode'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'input', pull: 'sideways' }), expect: ['/body/spec/pull'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'output', value: 2 }), expect: ['/body/spec/value'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'output', activeLow: 'yes' }), expect: ['/body/spec/activeLow'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'input', edge: 'up' }), expect: ['/body/spec/edge'] },
  { method: 'POST', path: `${HW}/gpio`, body: gpio({ pin: 4, mode: 'input', debounceMicros: -5 }), expect: ['/body/spec/debounceMicros'] },
  {
    method: 'POST',
    path: `${HW}/gpio`,
    body: { name: 'UPPER', spec: { pin: 4, mode: 'input', drive: 8 } },
    expect: ['/body/name', '/body/spec/drive'],
  },
  { method: 'PUT', path: `${HW}/gpio/led`, body: { spec: { pin: 99, mode: 'x' } }, expect: ['/body/spec/pin', '/body/spec/mode'] },
  { method: 'PUT', path: `${HW}/gpio/led`, body: { name: 'led', spec: { pin: 17, mode: 'output' } }, expect: ['/body/name'] },
  { method: 'PUT', path: `${HW}/gpio/Bad!`, body: { spec: { pin: 17, mode: 'output' } }, expect: ['/params/name'] },
  // pwm
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ pin: 18, dutyCycle: 0.5 }), expect: ['/body/spec/frequencyHz'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, frequencyHz: 0 }), expect: ['/body/spec/frequencyHz'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, frequencyHz: 1e9 }), expect: ['/body/spec/frequencyHz'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, dutyCycle: 1.5 }), expect: ['/body/spec/dutyCycle'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, dutyCycle: -0.1 }), expect: ['/body/spec/dutyCycle'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, implementation: 'fpga' }), expect: ['/body/spec/implementation'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, polarity: 'inverted' }), expect: ['/body/spec/polarity'] },
  { method: 'POST', path: `${HW}/pwm`, body: pwm({ ...okPwm, enabled: 1 }), expect: ['/body/spec/enabled'] },
  {
    method: 'POST',
    path: `${HW}/pwm`,
    body: pwm({ pin: 60, frequencyHz: 'fast', dutyCycle: null }),
    expect: ['/body/spec/pin', '/body/spec/frequencyHz', '/body/spec/dutyCycle'],
  },
  // i2c
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ address: 0x40 }), expect: ['/body/spec/bus'] },
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ ...okI2c, address: 0x78 }), expect: ['/body/spec/address'] },
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ ...okI2c, address: 0x02 }), expect: ['/body/spec/address'] },
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ ...okI2c, bus: 32 }), expect: ['/body/spec/bus'] },
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ ...okI2c, decoder: 'BME 280' }), expect: ['/body/spec/decoder'] },
  { method: 'POST', path: `${HW}/i2c`, body: i2c({ ...okI2c, registers: {} }), expect: ['/body/spec/registers'] },
  {
    method: 'POST',
    path: `${HW}/i2c`,
    body: i2c({ ...okI2c, registers: [{ name: 't', register: 256, type: 'u8', pollIntervalMs: 100 }] }),
    expect: ['/body/spec/registers/0/register'],
  },
  {
    method: 'POST',
    path: `${HW}/i2c`,
    body: i2c({ ...okI2c, registers: [{ name: 't', register: 1, type: 'float', pollIntervalMs: 100 }] }),
    expect: ['/body/spec/registers/0/type'],
  },
  {
    method: 'POST',
    path: `${HW}/i2c`,
    body: i2c({ ...okI2c, registers: [{ name: 't', register: 1, type: 'u8', pollIntervalMs: 1 }] }),
    expect: ['/body/spec/registers/0/pollIntervalMs'],
  },
  {
    method: 'POST',
    path: `${HW}/i2c`,
    body: i2c({ ...okI2c, registers: [{ name: '1t', register: 1, type: 'u8' }] }),
    expect: ['/body/spec/registers/0/name', '/body/spec/registers/0/pollIntervalMs'],
  },
  {
    method: 'POST',
    path: `${HW}/i2c`,
    body: i2c({
      ...okI2c,
      registers: [
        { name: 'a', register: 1, type: 'bytes', length: 33, pollIntervalMs: 100 },
        { name: 'b', register: 2, type: 'u8', pollIntervalMs: 100, scale: 'x' },
      ],
    }),
    expect: ['/body/spec/registers/0/length', '/body/spec/registers/1/scale'],
  },
  // clusters
  { method: 'POST', path: '/api/v1/clusters', body: { name: 'c2', k3sVersion: '1.30' }, expect: ['/body/k3sVersion'] },
  { method: 'POST', path: '/api/v1/clusters', body: { name: 'c2', ha: 'yes' }, expect: ['/body/ha'] },
  { method: 'POST', path: '/api/v1/clusters', body: { ha: true }, expect: ['/body/name'] },
  { method: 'PATCH', path: '/api/v1/clusters/c1', body: { state: 'exploded' }, expect: ['/body/state'] },
  { method: 'GET', path: '/api/v1/clusters?limit=5000', expect: ['/query/limit'] },
  // jobs
  { method: 'POST', path: '/api/v1/jobs', body: { kind: 'Node Prepare' }, expect: ['/body/kind'] },
  { method: 'POST', path: '/api/v1/jobs', body: { kind: 'node.prepare', target: { host: 'x' } }, expect: ['/body/target/host'] },
  { method: 'POST', path: '/api/v1/jobs', body: { kind: 'node.prepare', params: [] }, expect: ['/body/params'] },
  { method: 'GET', path: '/api/v1/jobs?state=done', expect: ['/query/state'] },
  { method: 'GET', path: '/api/v1/jobs/JOB/logs?after=-3', expect: ['/query/after'] },
  // discovery
  { method: 'POST', path: '/api/v1/discovery', body: { address: '10.0.0.1', source: 'carrier-pigeon' }, expect: ['/body/source'] },
  { method: 'POST', path: '/api/v1/discovery', body: { source: 'mdns' }, expect: ['/body/address'] },
  { method: 'POST', path: '/api/v1/discovery/DISC/adopt', body: { name: 'Not Valid' }, expect: ['/body/name'] },
  // tokens
  { method: 'POST', path: '/api/v1/tokens', body: { name: 'x', role: 'root' }, expect: ['/body/role'] },
  { method: 'POST', path: '/api/v1/tokens', body: { role: 'viewer' }, expect: ['/body/name'] },
  { method: 'POST', path: '/api/v1/tokens', body: { name: 'x', role: 'viewer', ttlSeconds: 5 }, expect: ['/body/ttlSeconds'] },
  {
    method: 'POST',
    path: '/api/v1/tokens',
    body: { name: '', role: 'viewer', ttlSeconds: 'long' },
    expect: ['/body/name', '/body/ttlSeconds'],
  },
  // system
  { method: 'GET', path: '/api/v1/audit?limit=0', expect: ['/query/limit'] },
  { method: 'POST', path: '/api/v1/backups', body: { label: 'Has Spaces' }, expect: ['/body/label'] },
];

t.test(`${CASES.length} bad requests are refused with 422 and change nothing`, async (t) => {
  const s = await startServer(t);
  await s.req('POST', '/api/v1/nodes', { body: { name: 'pi-v' } });
  await s.req('POST', `${HW}/gpio`, { body: { name: 'led', spec: { pin: 17, mode: 'output' } } });
  await s.req('POST', '/api/v1/clusters', { body: { name: 'c1' } });
  const job = (await s.req('POST', '/api/v1/jobs', { body: { kind: 'node.prepare' } })).body.id as string;
  const disc = (await s.req('POST', '/api/v1/discovery', { body: { address: '10.0.0.77', source: 'manual' } })).body.id as string;
  const tables = ['nodes', 'clusters', 'jobs', 'job_logs', 'tokens', 'audit_log', 'discovery', 'hw_desired', 'events'];
  const snapshot = () =>
    tables.map((tb) => s.store.db.prepare(`SELECT * FROM ${tb} ORDER BY rowid`).all()).map((rows) => JSON.stringify(rows));
  // Token last_used_at writes are throttled per minute; fix them now so the snapshot is stable.
  const before = snapshot();
  t.ok(CASES.length >= 50, `${CASES.length} cases`);
  for (const c of CASES) {
    const path = c.path.replace('JOB', job).replace('DISC', disc);
    const r = await s.req(c.method, path, c.raw !== undefined ? { raw: c.raw } : c.body !== undefined ? { body: c.body } : {});
    const name = `${c.method} ${c.path} ${c.raw ?? JSON.stringify(c.body) ?? ''}`.slice(0, 140);
    t.equal(r.status, 422, `${name}: 422`);
    t.equal(r.body?.error?.code, 'VALIDATION_FAILED', `${name}: code`);
    const paths = (r.body?.error?.problems ?? []).map((p: { path: string }) => p.path);
    for (const p of c.expect) t.ok(paths.includes(p), `${name}: reports ${p} (got ${paths.join(', ')})`);
    for (const p of r.body?.error?.problems ?? []) t.ok(p.message && p.code, `${name}: problem has message and code`);
  }
  t.same(snapshot(), before, 'the database did not change');
});
