/**
 * Discovery against the lab: stock avahi advertisers, real sshd, the real dnsmasq lease file. The
 * discovery code runs in a child process inside the controller's namespace (test/support/lab-child.ts)
 * and writes a real SQLite file that this test reads. Needs root and scripts/setup/50-lab.sh.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { DiscoveryResult, ScanReport } from '../../src/api/discovery.js';
import type { MdnsHost } from '../../src/discovery/mdns.js';
import type { ScanHit } from '../../src/discovery/scan.js';
import type { RunOptions } from '../../src/discovery/service.js';
import { openStore } from '../../src/store/index.js';
import { labSkipReason, labUp, runChild, type Lab } from '../support/lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

type Discover = { report: ScanReport; records: DiscoveryResult[]; events: string[] };

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('discovery in the lab', async (t) => {
    const lab = labUp(t, 5);
    const t0 = Date.now();
    t.teardown(() => console.log(`# lab up ${lab.upSeconds.toFixed(1)} s; discovery lab tests ${((Date.now() - t0) / 1000).toFixed(1)} s`));
    const db = join(tempDir(t), 'discovery.sqlite');
    const ctl = lab.controller.address;
    const full = (l: Lab): RunOptions => ({
      mdns: { interfaceAddress: ctl, bind: '0.0.0.0', timeoutMs: scaled(2000) },
      scan: { cidr: l.subnet, localAddress: ctl, timeoutMs: scaled(1000), concurrency: 256 },
      leases: [{ format: 'dnsmasq', path: l.leaseFile }],
    });
    const byMac = (records: DiscoveryResult[], mac: string) => records.find((r) => r.mac === mac);

    t.test('mDNS finds the five hosts from stock avahi: name, IPv4 address, MAC, ssh and workstation services', async (t) => {
      const r = await runChild<MdnsHost[]>(lab, 'browse', { interfaceAddress: ctl, timeoutMs: scaled(2000) });
      if (!r.ok) return t.fail(r.error.message);
      t.same(
        r.value.map((h) => [h.hostname, h.addresses[0], h.mac]),
        lab.hosts.map((h) => [h.hostname, h.address, h.mac]),
      );
      for (const h of r.value) {
        t.same(h.services.map((s) => s.type).sort(), ['_ssh._tcp', '_workstation._tcp'], h.hostname);
        t.ok(
          h.ipv6.every((a) => a.startsWith('fe80:')),
          'IPv6 answers are link-local and kept apart',
        );
      }
    });

    t.test('the scan finds the five sshd with banner and MAC from the neighbour table', async (t) => {
      const r = await runChild<ScanHit[]>(lab, 'scan', { cidr: lab.subnet, localAddress: ctl, timeoutMs: scaled(1000), concurrency: 256 });
      if (!r.ok) return t.fail(r.error.message);
      const want = [...lab.hosts].sort((a, b) => Number(a.address.split('.')[3]) - Number(b.address.split('.')[3]));
      t.same(
        r.value.map((h) => [h.address, h.mac]),
        want.map((h) => [h.address, h.mac]),
      );
      for (const h of r.value) t.match(h.banner, /^SSH-2\.0-OpenSSH_/);
    });

    t.test('mDNS, scan and the dnsmasq lease file merge into five records in the store', async (t) => {
      const r = await runChild<Discover>(lab, 'discover', { db, run: full(lab) });
      if (!r.ok) return t.fail(r.error.message);
      t.same(r.value.report.errors, []);
      t.equal(r.value.report.found, 5);
      const store = openStore({ file: db });
      t.teardown(() => store.close());
      const records = store.discovery.all();
      t.equal(records.length, 5);
      for (const h of lab.hosts) {
        const rec = byMac(records, h.mac);
        t.ok(rec, h.id);
        t.same(rec?.sources, ['mdns', 'scan', 'dhcp'], `${h.id} sources`);
        t.equal(rec?.address, h.address);
        t.equal(rec?.hostname, h.hostname);
        t.equal(rec?.raspberryPi, true);
        t.equal(rec?.state, 'discovered');
      }
      t.equal(r.value.events.filter((e) => e === 'discovery.found').length, 5);
      t.equal(r.value.events.at(-1), 'discovery.finished');
    });

    t.test('a host that vanishes becomes lost though its lease remains; the others stay', async (t) => {
      const gone = lab.hosts[1]!;
      execFileSync('ip', ['-n', gone.ns, 'link', 'set', 'eth0', 'down']);
      const r = await runChild<Discover>(lab, 'discover', { db, run: full(lab) });
      if (!r.ok) return t.fail(r.error.message);
      t.equal(r.value.report.lost, 1);
      t.equal(r.value.report.found, 0);
      const records = r.value.records;
      t.equal(records.length, 5);
      t.equal(byMac(records, gone.mac)?.state, 'lost');
      for (const h of lab.hosts.filter((x) => x !== gone)) t.equal(byMac(records, h.mac)?.state, 'discovered', h.id);
      execFileSync('ip', ['-n', gone.ns, 'link', 'set', 'eth0', 'up']);
    });

    t.test('a /8 scan is refused with CIDR_TOO_LARGE and nothing is stored', async (t) => {
      const r = await runChild<Discover>(lab, 'discover', { db, run: { mdns: false, scan: { cidr: '10.0.0.0/8' } } });
      t.same(r.ok ? null : r.error.code, 'CIDR_TOO_LARGE');
    });

    t.test('mDNS with no route to the group is an ENETUNREACH error, not an empty answer', async (t) => {
      const r = await runChild<MdnsHost[]>(lab, 'browse', { timeoutMs: 500 }, { wrap: ['unshare', '--net'] });
      t.same(r.ok ? null : r.error.code, 'ENETUNREACH');
    });

    t.test('a hostile advertiser: names and TXT with shell metacharacters and terminal escapes are stored verbatim', async (t) => {
      const evil = "x$(touch /tmp/pwned);`id`|'\u001b[2J\u001b]0;owned\u0007";
      const hub = lab.subnet.replace('.0/24', '.1');
      const adv = runChild<{ answered: number }>(
        lab,
        'advertise',
        { interfaceAddress: hub, instance: evil, host: 'evil$(reboot)\u001b[31m', txt: [`model=${evil}`, 'a=b'], address: hub, ms: 4000 },
        { ns: lab.hub },
      );
      await new Promise((r) => setTimeout(r, 500));
      const r = await runChild<Discover>(lab, 'discover', { db, run: { mdns: { interfaceAddress: ctl, timeoutMs: scaled(2000) } } });
      const answered = await adv;
      t.ok(answered.ok && answered.value.answered > 0, 'the advertiser was asked');
      if (!r.ok) return t.fail(r.error.message);
      const store = openStore({ file: db });
      t.teardown(() => store.close());
      const rec = store.discovery.all().find((x) => x.address === hub);
      t.equal(rec?.hostname, 'evil$(reboot)\u001b[31m');
      t.equal(rec?.services[0]?.instance, evil);
      t.equal(rec?.services[0]?.txt['model'], evil);
      t.equal(rec?.raspberryPi, false);
    });
  });
}
