/**
 * The mDNS leaf: a response encodes and decodes back (with the id and questions a legacy unicast
 * reply repeats), and the advertiser refuses TXT pairs and names DNS-SD cannot carry. The
 * advertiser on the network is tested in the lab (test/lab/advertise.test.ts).
 */
import t from 'tap';
import { decodePacket, encodeResponse, type DnsRecord } from '../../src/mdns/dns.js';
import { MdnsAdvertiser, txtStrings } from '../../src/mdns/advertiser.js';

t.test('a response round-trips, with id and questions for a legacy unicast reply', async (t) => {
  const answers: DnsRecord[] = [
    { type: 'PTR', name: '_pi-controller._tcp.local', ttl: 4500, data: 'pi-one._pi-controller._tcp.local' },
    { type: 'SRV', name: 'pi-one._pi-controller._tcp.local', ttl: 120, data: { target: 'labpi-1.local', port: 0, priority: 0, weight: 0 } },
    {
      type: 'TXT',
      name: 'pi-one._pi-controller._tcp.local',
      ttl: 4500,
      data: txtStrings({ node: 'pi-one', model: 'Raspberry Pi 5 Model B Rev 1.0' }),
    },
  ];
  const additionals: DnsRecord[] = [{ type: 'A', name: 'labpi-1.local', ttl: 120, data: '10.232.1.101' }];
  const p = decodePacket(
    encodeResponse(answers, additionals, { id: 4242, questions: [{ name: '_pi-controller._tcp.local', type: 'PTR' }] }),
  );
  t.ok(p);
  t.equal(p!.id, 4242);
  t.equal(p!.response, true);
  t.same(p!.questions, [{ name: '_pi-controller._tcp.local', type: 'PTR', unicastResponse: false }]);
  t.same(p!.answers, answers);
  t.same(p!.additionals, additionals);
  const multicast = decodePacket(encodeResponse(answers));
  t.equal(multicast!.id, 0, 'a multicast response has id 0');
  t.same(multicast!.questions, [], 'and no questions');
});

t.test('TXT keys and pairs DNS-SD cannot carry are refused before anything is sent', async (t) => {
  t.same(txtStrings({ soc: 'bcm2712', sim: '1' }).map(String), ['soc=bcm2712', 'sim=1']);
  t.throws(() => txtStrings({ '': 'x' }), /not 1-9 printable/);
  t.throws(() => txtStrings({ 'a=b': 'x' }), /not 1-9 printable/);
  t.throws(() => txtStrings({ toolongakey: 'x' }), /not 1-9 printable/);
  t.throws(() => txtStrings({ model: 'x'.repeat(250) }), /longer than 255 bytes/);
  t.throws(
    () => new MdnsAdvertiser({ type: '_pi-controller._tcp', instance: 'n'.repeat(64), host: 'h', port: 0, txt: {}, addresses: [] }),
    /longer than 63 bytes/,
  );
});
