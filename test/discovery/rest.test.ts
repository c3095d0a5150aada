import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../support/server.js';
import type { Store } from '../../src/store/index.js';
import type { DiscoveryDefaults } from '../../src/discovery/config.js';
import { discoveryPort } from '../../src/discovery/port.js';
import { DiscoveryService } from '../../src/discovery/service.js';
import { recordingBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';

/** The app's dependencies for discovery as the daemon builds them: one bus, the service, the port. */
function withDiscovery(store: Store, defaults: DiscoveryDefaults) {
  const bus = recordingBus(store, silentLogger());
  return { bus, discovery: discoveryPort(new DiscoveryService({ store: store.discovery, bus, log: silentLogger() }), defaults) };
}
import { inert, inertJson } from '../../src/cli/output.js';

// eslint-disable-next-line no-control-regex -- the test looks for control characters
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

t.test('discovery REST', async (t) => {
  t.test('POST /discovery/scans reads the configured lease file, stores records and emits events', async (t) => {
    let leases = '';
    const s = await startServer(t, (store, dir) => {
      leases = join(dir, 'dnsmasq.leases');
      writeFileSync(leases, '1796357797 dc:a6:32:00:00:05 10.0.0.5 pi5 *\n1796357797 b8:27:eb:00:00:06 10.0.0.6 pi3 *\nnot a lease\n');
      return withDiscovery(store, {
        interfaceAddress: null,
        cidr: null,
        leases: [{ format: 'dnsmasq', path: leases }],
        timeoutMs: 500,
        ssh: null,
      });
    });
    const r = await s.req('POST', '/api/v1/discovery/scans', { token: s.operator, body: { mdns: false } });
    t.equal(r.status, 200, r.text);
    t.equal(r.body.found, 2);
    t.equal(r.body.warnings.length, 1);
    t.same(r.body.errors, []);
    const list = await s.req('GET', '/api/v1/discovery', { token: s.viewer });
    t.equal(list.body.total, 2);
    const one = await s.req('GET', `/api/v1/discovery/${list.body.items[0].id}`, { token: s.viewer });
    t.same(one.body.sources, ['dhcp']);
    const types = s.store.events.since(0).map((e) => e.type);
    t.same(
      types.filter((x) => x.startsWith('discovery.')),
      ['discovery.found', 'discovery.found', 'discovery.finished'],
    );
  });
  t.test('a /8 is refused with 422 CIDR_TOO_LARGE; a bad range with CIDR_INVALID; a viewer may not scan', async (t) => {
    const s = await startServer(t, (store) =>
      withDiscovery(store, { interfaceAddress: null, cidr: null, leases: [], timeoutMs: 500, ssh: null }),
    );
    const big = await s.req('POST', '/api/v1/discovery/scans', { body: { cidr: '10.0.0.0/8', mdns: false } });
    t.equal(big.status, 422);
    t.equal(big.body.error.code, 'CIDR_TOO_LARGE');
    const bad = await s.req('POST', '/api/v1/discovery/scans', { body: { cidr: '10.0.0.0/24; reboot', mdns: false } });
    t.equal(bad.body.error.code, 'CIDR_INVALID');
    t.equal((await s.req('POST', '/api/v1/discovery/scans', { token: s.viewer, body: { mdns: false } })).status, 403);
    t.equal((await s.req('GET', '/api/v1/discovery', { token: s.viewer })).body.total, 0, 'nothing stored');
  });
  t.test(
    'probe answers 503 DISCOVERY_UNAVAILABLE with no SSH key configured, 502 PROBE_FAILED when nothing answers, 404 for an unknown id',
    async (t) => {
      const s = await startServer(t);
      const d = await s.req('POST', '/api/v1/discovery', { body: { address: '10.0.0.50', source: 'manual' } });
      const p = await s.req('POST', `/api/v1/discovery/${d.body.id}/probe`);
      t.equal(p.status, 503);
      t.equal(p.body.error.code, 'DISCOVERY_UNAVAILABLE');
      t.equal((await s.req('POST', '/api/v1/discovery/nope/probe')).status, 404);
      const k = await startServer(t, (store, dir) =>
        withDiscovery(store, {
          interfaceAddress: null,
          cidr: null,
          leases: [],
          timeoutMs: 500,
          ssh: { user: 'pi', identityFile: join(dir, 'none') },
        }),
      );
      const d2 = await k.req('POST', '/api/v1/discovery', { body: { address: '127.0.0.1', source: 'manual' } });
      const p2 = await k.req('POST', `/api/v1/discovery/${d2.body.id}/probe`);
      t.equal(p2.status, 502, p2.text);
      t.equal(p2.body.error.code, 'PROBE_FAILED');
    },
  );
});

t.test('CLI output of network text is inert', async (t) => {
  const evil = 'a\u001b]0;owned\u0007b\u009b31m\\x1b';
  t.equal(inert(evil), 'a\\x1b]0;owned\\x07b\\x9b31m\\\\x1b');
  t.notMatch(inertJson({ h: evil }), CONTROL);
  t.same(JSON.parse(inertJson({ h: evil })), { h: evil }, 'still the same JSON value');
});
