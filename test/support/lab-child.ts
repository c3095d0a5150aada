/**
 * Runs one discovery operation and prints `{"ok":true,"value":...}` or `{"ok":false,"error":{code,message}}`
 * as its last line. Started by test/support/lab.ts inside a lab namespace: argv = op, JSON arguments.
 */
import { createSocket } from 'node:dgram';
import { browse, type MdnsOptions } from '../../src/discovery/mdns.js';
import { scan, type ScanOptions } from '../../src/discovery/scan.js';
import { DiscoveryService, type ProbeLogin, type RunOptions } from '../../src/discovery/service.js';
import { decodePacket, encodeResponse, type DnsRecord } from '../../src/mdns/dns.js';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';

type Ops = Record<string, (args: never) => Promise<unknown>>;

/** Milliseconds `fn` takes, with its result. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

const ops: Ops = {
  /** An HTTP request from inside the namespace; the reply body as JSON (a non-2xx status is an error). */
  'fetch-json': async (a: { url: string; method?: string; headers?: Record<string, string>; body?: string }) => {
    const r = await fetch(a.url, {
      method: a.method ?? 'GET',
      headers: a.headers ?? {},
      ...(a.body !== undefined ? { body: a.body } : {}),
    });
    const text = await r.text();
    if (!r.ok) throw Object.assign(new Error(`${a.method ?? 'GET'} ${a.url}: ${r.status} ${text}`), { code: `HTTP_${r.status}` });
    return JSON.parse(text) as unknown;
  },
  /** For the benchmark: time to find `expect` hosts by mDNS. */
  'time-browse': async (a: MdnsOptions & { expect: number }) => {
    const r = await timed(() => browse(a));
    return { ms: r.ms, hosts: r.value.filter((h) => h.addresses.length > 0).length };
  },
  /** For the benchmark: time to scan a range. */
  'time-scan': async (a: ScanOptions) => {
    const r = await timed(() => scan(a));
    return { ms: r.ms, hosts: r.value.length };
  },
  /** The scan's baseline: a bare loop of connects to every address at once, no limit, no banner, no MACs. */
  'time-connect-loop': async (a: { cidr: string; port: number; timeoutMs: number; localAddress: string }) => {
    const { parseCidr } = await import('../../src/discovery/cidr.js');
    const { connect } = await import('node:net');
    const r = await timed(() =>
      Promise.all(
        [...parseCidr(a.cidr).hosts()].map(
          (host) =>
            new Promise<boolean>((done) => {
              const sock = connect({ host, port: a.port, localAddress: a.localAddress });
              const timer = setTimeout(() => (sock.destroy(), done(false)), a.timeoutMs);
              sock.once('connect', () => (clearTimeout(timer), sock.destroy(), done(true)));
              sock.once('error', () => (clearTimeout(timer), done(false)));
            }),
        ),
      ),
    );
    return { ms: r.ms, hosts: r.value.filter(Boolean).length };
  },
  browse: (a: MdnsOptions) => browse(a),
  scan: (a: ScanOptions) => scan(a),
  /** One discovery run against a real SQLite file; returns the report and every stored record. */
  discover: async (a: { db: string; run: RunOptions }) => {
    const store = openStore({ file: a.db });
    try {
      const events: string[] = [];
      const bus = new EventBus();
      bus.onAny('lab', (e) => events.push(e.type));
      const svc = new DiscoveryService({ store: store.discovery, bus, log: silentLogger() });
      const report = await svc.run(a.run);
      return { report, records: store.discovery.all(), events };
    } finally {
      store.close();
    }
  },
  /** Probes the stored record with this MAC over SSH; returns the record as stored afterwards. */
  probe: async (a: { db: string; mac: string; login: ProbeLogin }) => {
    const store = openStore({ file: a.db });
    try {
      const svc = new DiscoveryService({ store: store.discovery, bus: new EventBus(), log: silentLogger() });
      const rec = store.discovery.all().find((r) => r.mac === a.mac);
      if (!rec) throw Object.assign(new Error(`no record with MAC ${a.mac}`), { code: 'NOT_FOUND' });
      try {
        return await svc.probe(rec.id, a.login);
      } catch (err) {
        // The record as stored after a refusal, beside the error.
        throw Object.assign(err as Error, { record: store.discovery.require(rec.id) });
      }
    } finally {
      store.close();
    }
  },
  /**
   * A hostile mDNS advertiser: answers every PTR question for `_ssh._tcp.local` with the given
   * instance, host name and TXT, for `ms` milliseconds.
   */
  advertise: (a: { interfaceAddress: string; instance: string; host: string; txt: string[]; address: string; ms: number }) =>
    new Promise((resolve, reject) => {
      const sock = createSocket({ type: 'udp4', reuseAddr: true });
      sock.on('error', reject);
      const target = `${a.host}.local`;
      const name = `${a.instance}._ssh._tcp.local`;
      const records: DnsRecord[] = [
        { type: 'PTR', name: '_ssh._tcp.local', ttl: 120, data: name },
        { type: 'SRV', name, ttl: 120, data: { target, port: 22, priority: 0, weight: 0 } },
        { type: 'TXT', name, ttl: 120, data: a.txt.map((s) => Buffer.from(s)) },
        { type: 'A', name: target, ttl: 120, data: a.address },
      ];
      let answered = 0;
      sock.on('message', (msg) => {
        const p = decodePacket(msg);
        if (!p || p.response || !p.questions.some((q) => q.name.toLowerCase() === '_ssh._tcp.local')) return;
        answered++;
        sock.send(encodeResponse(records.slice(0, 1), records.slice(1)), 5353, '224.0.0.251');
      });
      sock.bind(5353, '0.0.0.0', () => {
        sock.addMembership('224.0.0.251', a.interfaceAddress);
        sock.setMulticastInterface(a.interfaceAddress);
        process.stderr.write('advertising\n');
        setTimeout(() => sock.close(() => resolve({ answered })), a.ms);
      });
    }),
};

const [op, json] = process.argv.slice(2);
const fn = op ? ops[op] : undefined;
if (!fn) {
  process.stdout.write(JSON.stringify({ ok: false, error: { code: 'USAGE', message: `unknown op ${op}` } }) + '\n');
  process.exitCode = 2;
} else {
  fn(JSON.parse(json ?? '{}') as never).then(
    (value) => process.stdout.write(JSON.stringify({ ok: true, value }) + '\n'),
    (err: { code?: unknown; message?: unknown; record?: unknown }) => {
      const error = { code: String(err.code ?? 'FAILED'), message: String(err.message), record: err.record ?? null };
      process.stdout.write(JSON.stringify({ ok: false, error }) + '\n');
      process.exitCode = 1;
    },
  );
}
