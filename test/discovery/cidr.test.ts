import t from 'tap';
import { parseCidr, MAX_SCAN_PREFIX } from '../../src/discovery/cidr.js';
import { isRaspberryPiMac, normalizeMac } from '../../src/discovery/oui.js';

t.test('parseCidr', async (t) => {
  t.test('lists the hosts of a /24 without network and broadcast', async (t) => {
    const c = parseCidr('10.1.2.77/24');
    t.equal(c.network, '10.1.2.0');
    t.equal(c.size, 254);
    const hosts = [...c.hosts()];
    t.equal(hosts.length, 254);
    t.equal(hosts[0], '10.1.2.1');
    t.equal(hosts[253], '10.1.2.254');
    t.ok(c.contains('10.1.2.200'));
    t.notOk(c.contains('10.1.3.1'));
  });
  t.test('accepts a /16 and a bare address', async (t) => {
    t.equal(parseCidr('172.16.0.0/16').size, 65534);
    t.same([...parseCidr('192.168.1.9').hosts()], ['192.168.1.9']);
    t.same([...parseCidr('192.168.1.8/31').hosts()], ['192.168.1.8', '192.168.1.9']);
  });
  t.test('refuses a /8 with CIDR_TOO_LARGE', async (t) => {
    t.equal(MAX_SCAN_PREFIX, 16);
    t.throws(() => parseCidr('10.0.0.0/8'), { code: 'CIDR_TOO_LARGE', status: 422 });
    t.throws(() => parseCidr('10.0.0.0/15'), { code: 'CIDR_TOO_LARGE' });
    t.throws(() => parseCidr('0.0.0.0/0'), { code: 'CIDR_TOO_LARGE' });
  });
  t.test('refuses what is not an IPv4 range with CIDR_INVALID', async (t) => {
    for (const bad of ['', '10.0.0/24', '10.0.0.256/24', '10.0.0.0/33', 'fe80::/64', '10.0.0.0/24; rm -rf /', 'example.com'])
      t.throws(() => parseCidr(bad), { code: 'CIDR_INVALID' }, JSON.stringify(bad));
  });
});

t.test('Raspberry Pi MACs', async (t) => {
  t.test('normalises the usual spellings', async (t) => {
    t.equal(normalizeMac('DC-A6-32-01-02-03'), 'dc:a6:32:01:02:03');
    t.equal(normalizeMac('dca6.3201.0203'), 'dc:a6:32:01:02:03');
    t.equal(normalizeMac('dc:a6:32:1:2:3'), 'dc:a6:32:01:02:03');
    t.equal(normalizeMac('00:00:00:00:00:00'), undefined);
    t.equal(normalizeMac('not a mac'), undefined);
  });
  t.test('knows the six OUIs and nothing else', async (t) => {
    for (const oui of ['B8:27:EB', 'DC:A6:32', 'E4:5F:01', 'D8:3A:DD', '2C:CF:67', '28:CD:C1'])
      t.ok(isRaspberryPiMac(`${oui}:00:11:22`), oui);
    t.notOk(isRaspberryPiMac('02:00:00:00:00:02'));
    t.notOk(isRaspberryPiMac('garbage'));
  });
});
