import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDnsmasqLeases, parseIscLeases, readLeaseFile } from '../../src/discovery/leases.js';
import { tempDir } from '../support/tmp.js';

t.test('dnsmasq and Pi-hole lease files', async (t) => {
  t.test('reads expiry, MAC, address and host name; * means no name', async (t) => {
    const r = parseDnsmasqLeases(
      '1796357797 d8:3a:dd:15:23:05 10.231.0.108 labpi5 *\n1796357796 e4:5f:01:14:1c:04 10.231.0.178 * 01:e4:5f:01:14:1c:04\n',
    );
    t.same(r.warnings, []);
    t.same(r.leases, [
      { mac: 'd8:3a:dd:15:23:05', address: '10.231.0.108', hostname: 'labpi5', expiresAt: new Date(1796357797000).toISOString() },
      { mac: 'e4:5f:01:14:1c:04', address: '10.231.0.178', hostname: null, expiresAt: new Date(1796357796000).toISOString() },
    ]);
  });
  t.test('passes over the IPv6 part after the duid line', async (t) => {
    const r = parseDnsmasqLeases('0 dc:a6:32:00:00:01 10.0.0.5 pi *\nduid 00:01:00:01\n1796357797 12345 fd00::5 pi 00:01:02\n');
    t.equal(r.leases.length, 1);
    t.same(r.warnings, []);
    t.equal(r.leases[0]!.expiresAt, null, 'expiry 0 is an infinite lease');
  });
  t.test('1,000 entries with 50 malformed lines: 950 leases, 50 warnings with line numbers', async (t) => {
    const lines: string[] = [];
    const bad = [
      'garbage',
      '123 not-a-mac 10.0.0.1 x *',
      '123 dc:a6:32:00:00:01 10.0.0.999 x *',
      'x dc:a6:32:00:00:01 10.0.0.1 x *',
      '1 2',
    ];
    for (let i = 0; i < 1000; i++) {
      if (i % 20 === 7) lines.push(bad[i % bad.length]! + ` $(reboot) \u001b[2J`);
      else
        lines.push(
          `${1796357797 + i} dc:a6:32:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01 10.0.${i >> 8}.${i & 255} host${i} *`,
        );
    }
    const r = parseDnsmasqLeases(lines.join('\n'));
    t.equal(r.leases.length, 950);
    t.equal(r.warnings.length, 50);
    t.equal(r.skipped, 50);
    t.equal(r.warnings[0]!.line, 8);
    t.match(r.warnings[0]!.message, /not a dnsmasq lease line/);
  });
  t.test('a missing file gives a warning and no leases', async (t) => {
    const r = await readLeaseFile({ format: 'pihole', path: join(tempDir(t), 'none.leases') });
    t.same(r.leases, []);
    t.match(r.warnings[0]!.message, /cannot read/);
  });
  t.test('reads a Pi-hole file from its path', async (t) => {
    const f = join(tempDir(t), 'dhcp.leases');
    writeFileSync(f, '1796357797 b8:27:eb:aa:bb:cc 192.168.1.20 raspberrypi 01:b8:27:eb:aa:bb:cc\n');
    const r = await readLeaseFile({ format: 'pihole', path: f });
    t.equal(r.leases[0]!.hostname, 'raspberrypi');
  });
});

t.test('ISC dhcpd lease files', async (t) => {
  const text = `# The format of this file is documented in the dhcpd.leases(5) manual page.
authoring-byte-order little-endian;
lease 192.168.1.20 {
  starts 4 2026/12/03 10:00:00;
  ends 4 2026/12/03 11:00:00;
  binding state active;
  hardware ethernet dc:a6:32:01:02:03;
  client-hostname "pi4";
}
lease 192.168.1.21 {
  ends never;
  binding state active;
  hardware ethernet zz:zz;
}
lease 192.168.1.20 {
  starts 4 2026/12/03 10:30:00;
  ends 4 2026/12/03 11:30:00;
  binding state active;
  hardware ethernet dc:a6:32:01:02:03;
  client-hostname "pi4-\\"renamed\\"";
}
lease 192.168.1.22 {
  binding state free;
  hardware ethernet dc:a6:32:01:02:04;
}
lease 999.1.1.1 {
  hardware ethernet dc:a6:32:01:02:05;
}
lease 192.168.1.23 {
  hardware ethernet dc:a6:32:01:02:06;
`;
  t.test('keeps the last active block per address and warns about the malformed ones', async (t) => {
    const r = parseIscLeases(text);
    t.same(r.leases, [
      { mac: 'dc:a6:32:01:02:03', address: '192.168.1.20', hostname: 'pi4-"renamed"', expiresAt: '2026-12-03T11:30:00.000Z' },
    ]);
    t.equal(r.warnings.length, 3, 'bad MAC, bad address, unclosed block');
    t.match(r.warnings.map((w) => w.message).join('\n'), /bad MAC[\s\S]*not IPv4[\s\S]*not closed/);
  });
});
