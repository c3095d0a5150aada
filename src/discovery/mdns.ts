/**
 * mDNS browsing and `.local` resolution on one explicit interface (RFC 6762/6763). The socket binds
 * where it is told (default 0.0.0.0:5353, shared with a local responder through SO_REUSEADDR), joins
 * 224.0.0.251 on the given interface address and sends only there. A send that fails (ENETUNREACH
 * when no route leads to the group, for one) rejects the browse with that code: it is not swallowed.
 * IPv4 answers are preferred; IPv6 (often link-local) addresses are kept apart.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { decodePacket, encodeQuery, MDNS_GROUP, MDNS_PORT, type DnsRecord, type Question } from '../mdns/dns.js';
import { DiscoveryError } from './errors.js';
import { normalizeMac } from './oui.js';

/** What a Raspberry Pi OS host advertises, plus our agent's own service. */
export const DEFAULT_SERVICE_TYPES = ['_pi-controller._tcp.local', '_ssh._tcp.local', '_workstation._tcp.local'] as const;

export interface MdnsOptions {
  /**
   * IPv4 address of the interface to join the group on and send from. Leave it out only to let
   * the routing table choose (then an unroutable group is an ENETUNREACH error).
   */
  interfaceAddress?: string;
  /** Address the socket binds (default 0.0.0.0). */
  bind?: string;
  /** Port (default 5353; tests may use another). */
  port?: number;
  /** How long to listen for answers (default 1500 ms). */
  timeoutMs?: number;
  log?: Logger;
}

export interface MdnsService {
  /** e.g. `_ssh._tcp` */
  type: string;
  /** The instance label as advertised (verbatim, may hold any character). */
  instance: string;
  port: number;
  /** TXT key/value pairs (a bare key maps to ''); bytes decoded as UTF-8, verbatim. */
  txt: Record<string, string>;
}

export interface MdnsHost {
  /** The SRV target or A record owner without `.local`, verbatim. */
  hostname: string;
  /** IPv4 addresses first choice. */
  addresses: string[];
  /** IPv6 addresses (link-local ones need the interface to be used). */
  ipv6: string[];
  services: MdnsService[];
  /** From the `_workstation._tcp` instance name (`host [dc:a6:32:..]`), when advertised. */
  mac: string | null;
  /** The source address of the first answer about this host. */
  from: string;
}

const MAX_RECORDS = 10_000;

const lc = (s: string) => s.toLowerCase();
const stripLocal = (s: string) => s.replace(/\.local\.?$/i, '');

/** One mDNS session: a socket, the records heard, and the first error. */
class Session {
  readonly records = new Map<string, DnsRecord & { from: string }>();
  readonly #socket: Socket;
  readonly #opts: MdnsOptions;
  #error: DiscoveryError | undefined;
  #onError: ((e: DiscoveryError) => void) | undefined;
  onRecord: (() => void) | undefined;

  constructor(opts: MdnsOptions) {
    this.#opts = opts;
    this.#socket = createSocket({ type: 'udp4', reuseAddr: true });
  }

  fail(e: DiscoveryError): void {
    if (this.#error) return;
    this.#error = e;
    this.#onError?.(e);
  }

  get error(): DiscoveryError | undefined {
    return this.#error;
  }

  /** Resolves when bound and joined; rejects with the cause otherwise. */
  open(): Promise<void> {
    const { interfaceAddress, bind = '0.0.0.0', port = MDNS_PORT } = this.#opts;
    return new Promise((resolve, reject) => {
      this.#onError = reject;
      this.#socket.on('error', (err: NodeJS.ErrnoException) =>
        this.fail(new DiscoveryError('MDNS_FAILED', `mDNS socket: ${err.message}`, { cause: err, details: { syscall: err.syscall } })),
      );
      this.#socket.on('message', (msg, rinfo) => {
        const p = decodePacket(msg);
        if (!p || !p.response) return;
        for (const r of [...p.answers, ...p.additionals]) {
          if (this.records.size >= MAX_RECORDS) break;
          const key = `${r.type}|${lc(r.name)}|${JSON.stringify(r.data)}`;
          if (!this.records.has(key)) this.records.set(key, { ...r, from: rinfo.address });
        }
        this.onRecord?.();
      });
      this.#socket.bind(port, bind, () => {
        try {
          this.#socket.setMulticastTTL(255);
          if (interfaceAddress) {
            this.#socket.addMembership(MDNS_GROUP, interfaceAddress);
            this.#socket.setMulticastInterface(interfaceAddress);
          } else this.#socket.addMembership(MDNS_GROUP);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          // With no interface named, the kernel picks one by route; ENODEV then means no route leads to the group.
          const unreachable = e.code === 'ENETUNREACH' || (!interfaceAddress && e.code === 'ENODEV');
          return this.fail(
            new DiscoveryError(
              unreachable ? 'ENETUNREACH' : 'MDNS_FAILED',
              unreachable
                ? `no route to ${MDNS_GROUP}: name the interface address to browse on (${e.message})`
                : `cannot join ${MDNS_GROUP} on ${interfaceAddress ?? 'the default interface'}: ${e.message}`,
              { cause: e, details: { interfaceAddress: interfaceAddress ?? null, errno: e.code ?? null } },
            ),
          );
        }
        this.#onError = (e) => this.#waiters.forEach((w) => w(e));
        resolve();
      });
    });
  }

  readonly #waiters = new Set<(e: DiscoveryError) => void>();

  /** Sends a query; a failed send is recorded as the session's error (ENETUNREACH kept as its own code). */
  query(questions: Question[]): void {
    if (questions.length === 0 || this.#error) return;
    this.#socket.send(encodeQuery(questions), this.#opts.port ?? MDNS_PORT, MDNS_GROUP, (err) => {
      if (!err) return;
      const e = err as NodeJS.ErrnoException;
      this.#opts.log?.warn({ err: e }, 'mDNS query not sent');
      this.fail(
        new DiscoveryError(e.code === 'ENETUNREACH' ? 'ENETUNREACH' : 'MDNS_FAILED', `mDNS query not sent to ${MDNS_GROUP}: ${e.message}`, {
          cause: e,
          details: { interfaceAddress: this.#opts.interfaceAddress ?? null, errno: e.code ?? null },
        }),
      );
    });
  }

  /** Waits `ms`, or less when `done()` holds after a record arrives; rejects on the session's error. */
  wait(ms: number, done?: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      const finish = (e?: DiscoveryError) => {
        clearTimeout(timer);
        this.#waiters.delete(finish);
        this.onRecord = undefined;
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => finish(), ms);
      this.#waiters.add(finish);
      if (done) this.onRecord = () => void (done() && finish());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  all<T extends DnsRecord['type']>(type: T): (Extract<DnsRecord, { type: T }> & { from: string })[] {
    return [...this.records.values()].filter((r): r is Extract<DnsRecord, { type: T }> & { from: string } => r.type === type);
  }
}

function txtToObject(parts: Buffer[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts.slice(0, 64)) {
    const s = p.toString('utf8');
    if (s === '') continue;
    const eq = s.indexOf('=');
    const k = eq < 0 ? s : s.slice(0, eq);
    if (!(k in out)) Object.defineProperty(out, k, { value: eq < 0 ? '' : s.slice(eq + 1), enumerable: true, writable: true });
  }
  return out;
}

/**
 * Browses the service types (default: `_pi-controller._tcp`, `_ssh._tcp`, `_workstation._tcp`) and
 * returns one entry per advertised host, with its services, TXT and addresses. Listens for
 * `timeoutMs`, or less once `expect` hosts have an address.
 */
export async function browse(opts: MdnsOptions & { types?: readonly string[]; expect?: number } = {}): Promise<MdnsHost[]> {
  const types = (opts.types ?? DEFAULT_SERVICE_TYPES).map((t) => (t.endsWith('.local') ? t : `${t}.local`));
  const timeout = opts.timeoutMs ?? 1500;
  const s = new Session(opts);
  try {
    await s.open();
    const missing = () => {
      const targets = new Set(s.all('SRV').map((r) => lc(r.data.target)));
      for (const a of s.all('A')) targets.delete(lc(a.name));
      return [...targets];
    };
    // Ask again at growing intervals (250 ms, 500 ms, then every second) until the time is up: a
    // lost datagram or a responder busy at the first question still gets heard. Bounded by `timeout`.
    // With `expect`, it ends as soon as that many hosts have an address.
    const enough = () => opts.expect !== undefined && assemble(s, types).filter((h) => h.addresses.length > 0).length >= opts.expect;
    const end = Date.now() + timeout;
    for (let gap = 250; Date.now() < end && !enough(); gap = Math.min(gap * 2, 1000)) {
      s.query(types.map((name) => ({ name, type: 'PTR' })));
      s.query(missing().map((name) => ({ name, type: 'A' })));
      await s.wait(Math.max(0, Math.min(gap, end - Date.now())), opts.expect === undefined ? undefined : enough);
    }
    return assemble(s, types);
  } finally {
    await s.close();
  }
}

function assemble(s: Session, types: string[]): MdnsHost[] {
  const hosts = new Map<string, MdnsHost>();
  const srvs = s.all('SRV');
  const txts = s.all('TXT');
  const host = (target: string, from: string): MdnsHost => {
    const key = lc(stripLocal(target));
    let h = hosts.get(key);
    if (!h) {
      const addrs = s.all('A').filter((a) => lc(a.name) === lc(target));
      const v6 = s.all('AAAA').filter((a) => lc(a.name) === lc(target));
      h = {
        hostname: stripLocal(target),
        addresses: [...new Set(addrs.map((a) => a.data))],
        ipv6: [...new Set(v6.map((a) => a.data))],
        services: [],
        mac: null,
        from,
      };
      hosts.set(key, h);
    }
    return h;
  };
  for (const ptr of s.all('PTR')) {
    const type = types.find((t) => lc(t) === lc(ptr.name));
    if (!type) continue; // reverse-lookup PTRs and other services
    const srv = srvs.find((r) => lc(r.name) === lc(ptr.data));
    if (!srv) continue;
    const h = host(srv.data.target, ptr.from);
    const instance = ptr.data.slice(0, ptr.data.length - type.length - 1);
    const shortType = stripLocal(type);
    if (h.services.some((x) => x.type === shortType && x.instance === instance)) continue;
    const txt = txts.find((r) => lc(r.name) === lc(ptr.data));
    h.services.push({ type: shortType, instance, port: srv.data.port, txt: txt ? txtToObject(txt.data) : {} });
    if (shortType === '_workstation._tcp') {
      const m = /\[([0-9a-fA-F:]{17})\]$/.exec(instance);
      const mac = m ? normalizeMac(m[1]!) : undefined;
      if (mac) h.mac = mac;
    }
  }
  return [...hosts.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
}

/** Resolves `name.local` to its addresses: IPv4 first, then IPv6; empty when nothing answers in time. */
export async function resolveLocal(name: string, opts: MdnsOptions = {}): Promise<string[]> {
  const fqdn = name.endsWith('.local') ? name : `${name}.local`;
  const s = new Session(opts);
  try {
    await s.open();
    const has4 = () => s.all('A').some((a) => lc(a.name) === lc(fqdn));
    s.query([
      { name: fqdn, type: 'A' },
      { name: fqdn, type: 'AAAA' },
    ]);
    await s.wait(opts.timeoutMs ?? 1000, has4);
    const v4 = s
      .all('A')
      .filter((a) => lc(a.name) === lc(fqdn))
      .map((a) => a.data);
    const v6 = s
      .all('AAAA')
      .filter((a) => lc(a.name) === lc(fqdn))
      .map((a) => a.data);
    return [...new Set([...v4, ...v6])];
  } finally {
    await s.close();
  }
}
