import t from 'tap';
import { join } from 'node:path';
import { markLost, mergeSightings, type Sighting } from '../../src/discovery/merge.js';
import { decodePacket, encodeQuery, encodeResponse } from '../../src/mdns/dns.js';
import { DiscoveryService } from '../../src/discovery/service.js';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { writeFileSync } from 'node:fs';
import type { EventEnvelope } from '../../src/api/events.js';
import { tempDir } from '../support/tmp.js';

const NOW = '2026-12-04T03:00:00.000Z';
let n = 0;
const ids = () => `r${++n}`;

t.test('merge into one record per machine', async (t) => {
  t.test('mDNS, scan and lease of one machine become one record with three sources', async (t) => {
    const s: Sighting[] = [
      { source: 'mdns', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05', hostname: 'pi5', services: [] },
      { source: 'scan', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05', sshBanner: 'SSH-2.0-OpenSSH_9.2p1' },
      { source: 'dhcp', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05', hostname: 'pi5' },
      { source: 'scan', address: '10.0.0.6', mac: '02:00:00:00:00:06' },
    ];
    const m = mergeSightings([], s, NOW, ids);
    t.equal(m.records.length, 2);
    const r = m.records[0]!;
    t.same(r.sources, ['mdns', 'scan', 'dhcp']);
    t.equal(r.raspberryPi, true);
    t.equal(m.records[1]!.raspberryPi, false);
    t.equal(r.sshBanner, 'SSH-2.0-OpenSSH_9.2p1');
    t.equal(r.state, 'discovered');
    t.equal(m.created.size, 2);
  });
  t.test('matches by MAC first: a machine that moved address stays one record', async (t) => {
    const a = mergeSightings([], [{ source: 'dhcp', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05' }], NOW, ids);
    const b = mergeSightings(a.records, [{ source: 'scan', address: '10.0.0.9', mac: 'dc:a6:32:00:00:05' }], NOW, ids);
    t.equal(b.records.length, 1);
    t.equal(b.records[0]!.address, '10.0.0.9');
    t.ok(b.updated.has(b.records[0]!.id));
  });
  t.test('then by host-key fingerprint, then by address; a different MAC on the same address is another machine', async (t) => {
    const a = mergeSightings([], [{ source: 'manual', address: '10.0.0.5', hostKeyFingerprint: 'SHA256:abc' }], NOW, ids);
    const b = mergeSightings(a.records, [{ source: 'manual', address: '10.0.0.7', hostKeyFingerprint: 'SHA256:abc' }], NOW, ids);
    t.equal(b.records.length, 1, 'same key, new address');
    const c = mergeSightings(b.records, [{ source: 'scan', address: '10.0.0.7', mac: 'b8:27:eb:00:00:01' }], NOW, ids);
    t.equal(c.records.length, 1, 'by address: the record had no MAC');
    t.equal(c.records[0]!.mac, 'b8:27:eb:00:00:01');
    const d = mergeSightings(c.records, [{ source: 'scan', address: '10.0.0.7', mac: 'b8:27:eb:00:00:02' }], NOW, ids);
    t.equal(d.records.length, 2, 'another MAC on that address');
  });
  t.test('a machine a live source no longer sees becomes lost; a stale lease does not keep it', async (t) => {
    const a = mergeSightings(
      [],
      [
        { source: 'scan', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05' },
        { source: 'scan', address: '10.0.0.6', mac: 'dc:a6:32:00:00:06' },
        { source: 'dhcp', address: '10.0.0.6', mac: 'dc:a6:32:00:00:06' },
        { source: 'scan', address: '10.9.0.6', mac: 'dc:a6:32:00:00:07' },
      ],
      NOW,
      ids,
    );
    const b = mergeSightings(
      a.records,
      [
        { source: 'scan', address: '10.0.0.5', mac: 'dc:a6:32:00:00:05' },
        { source: 'dhcp', address: '10.0.0.6', mac: 'dc:a6:32:00:00:06' },
      ],
      NOW,
      ids,
    );
    const lost = markLost(b.records, b.seen, new Set(['scan', 'dhcp']), (x) => x.startsWith('10.0.0.'));
    t.same(
      b.records.map((r) => [r.address, r.state]),
      [
        ['10.0.0.5', 'discovered'],
        ['10.0.0.6', 'lost'],
        ['10.9.0.6', 'discovered'],
      ],
      'outside the scanned range nothing is concluded',
    );
    t.equal(lost.size, 1);
    const c = mergeSightings(b.records, [{ source: 'dhcp', address: '10.0.0.6', mac: 'dc:a6:32:00:00:06' }], NOW, ids);
    t.equal(c.records[1]!.state, 'lost', 'a lease alone does not bring it back');
    const d = mergeSightings(c.records, [{ source: 'mdns', address: '10.0.0.6', mac: 'dc:a6:32:00:00:06' }], NOW, ids);
    t.equal(d.records[1]!.state, 'discovered', 'seen live again');
  });
});

t.test('DNS wire format', async (t) => {
  t.test('round-trips hostile names and TXT verbatim and never throws on garbage', async (t) => {
    const evil = '$(reboot);`id`|\u001b[31mred\u001b]0;title\u0007';
    const buf = encodeResponse(
      [
        { type: 'PTR', name: '_ssh._tcp.local', ttl: 120, data: `${evil}._ssh._tcp.local` },
        { type: 'SRV', name: `${evil}._ssh._tcp.local`, ttl: 120, data: { target: 'x.local', port: 22, priority: 0, weight: 0 } },
        { type: 'TXT', name: `${evil}._ssh._tcp.local`, ttl: 120, data: [Buffer.from(`k=${evil}`)] },
        { type: 'A', name: 'x.local', ttl: 120, data: '10.0.0.5' },
        { type: 'AAAA', name: 'x.local', ttl: 120, data: 'fe80::1:2' },
      ],
      [],
    );
    const p = decodePacket(buf)!;
    t.equal(p.response, true);
    t.equal(p.answers[0]!.data, `${evil}._ssh._tcp.local`);
    t.same((p.answers[2]!.data as Buffer[]).map(String), [`k=${evil}`]);
    t.equal(p.answers[4]!.data, 'fe80::1:2');
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(buf);
      junk[(i * 7919) % junk.length] = i & 255;
      decodePacket(junk.subarray(0, (i * 31) % junk.length));
    }
    const loop = Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12]);
    t.equal(decodePacket(loop), undefined, 'a pointer loop is malformed');
    t.same(decodePacket(encodeQuery([{ name: '_ssh._tcp.local', type: 'PTR' }]))!.questions, [
      { name: '_ssh._tcp.local', type: 'PTR', unicastResponse: false },
    ]);
  });
});

t.test('DiscoveryService with a real store', async (t) => {
  t.test('a lease-only run stores records, emits found then updated events, keeps hostile names verbatim', async (t) => {
    const dir = tempDir(t);
    const store = openStore({ file: join(dir, 'db.sqlite') });
    t.teardown(() => store.close());
    const bus = new EventBus();
    const seen: EventEnvelope[] = [];
    bus.onAny('test', (e) => seen.push(e));
    const leases = join(dir, 'dnsmasq.leases');
    const evil = "pi$(touch${IFS}/tmp/x);`id`'\u001b[2J";
    writeFileSync(leases, `1796357797 dc:a6:32:00:00:05 10.0.0.5 ${evil} *\nbroken line\n`);
    const svc = new DiscoveryService({ store: store.discovery, bus, log: silentLogger() });
    const r1 = await svc.run({ mdns: false, leases: [{ format: 'dnsmasq', path: leases }] });
    t.equal(r1.found, 1);
    t.equal(r1.warnings.length, 1);
    t.equal(store.discovery.all()[0]!.hostname, evil);
    writeFileSync(leases, `1796357797 dc:a6:32:00:00:05 10.0.0.6 ${evil} *\n`);
    const r2 = await svc.run({ mdns: false, leases: [{ format: 'dnsmasq', path: leases }] });
    t.equal(r2.found, 0);
    t.same(
      seen.map((e) => e.type),
      ['discovery.found', 'discovery.finished', 'discovery.updated', 'discovery.finished'],
    );
    t.equal(store.discovery.all().length, 1);
    t.equal(store.discovery.all()[0]!.address, '10.0.0.6');
  });
  t.test('a /8 is refused before anything runs', async (t) => {
    const store = openStore({ file: join(tempDir(t), 'db.sqlite') });
    t.teardown(() => store.close());
    const svc = new DiscoveryService({ store: store.discovery, bus: new EventBus(), log: silentLogger() });
    t.throws(() => svc.run({ mdns: false, scan: { cidr: '10.0.0.0/8' } }), { code: 'CIDR_TOO_LARGE' });
    t.equal(svc.running, false);
  });
});
