/**
 * An mDNS responder for one DNS-SD service instance (RFC 6762, RFC 6763): the agent uses it to
 * advertise `_pi-controller._tcp` with TXT keys (node id, model, SoC, version), so discovery can
 * tell which machines on the LAN run an agent before anyone types an address.
 *
 * It shares UDP 5353 with a system responder (avahi-daemon on Raspberry Pi OS): the socket is
 * bound with SO_REUSEADDR and joins the group on every IPv4 interface, and answers only the
 * names it owns: the service type, the instance, and `_services._dns-sd._udp.local`. The host's
 * own `<hostname>.local` address records stay with the system responder when there is one; the
 * answers carry the interface addresses as additional records so a browser needs no second query.
 * It announces twice on start, answers queries while it runs, and says goodbye (TTL 0) on stop.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { decodePacket, encodeResponse, MDNS_GROUP, MDNS_PORT, type DnsRecord, type Question } from './dns.js';

const SERVICES_META = '_services._dns-sd._udp.local';
const TTL_SERVICE = 4500;
const TTL_HOST = 120;

export interface AdvertiserLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface AdvertiserOptions {
  /** Service type without `.local`, e.g. `_pi-controller._tcp`. */
  type: string;
  /** Instance label (one DNS label: dots are kept inside it), e.g. the node name. */
  instance: string;
  /** Host name without `.local`; the SRV target. */
  host: string;
  /** SRV port (0: the service takes no connections; the record says the service runs here). */
  port: number;
  /** TXT key=value pairs; each pair must fit 255 bytes. */
  txt: Record<string, string>;
  /** Interface addresses to join the group on and to announce (default: every non-internal IPv4). */
  addresses?: string[];
  log?: AdvertiserLog;
}

/** The non-internal IPv4 addresses of this machine's interfaces. */
export function ipv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  return out;
}

/** Checks the TXT pairs fit DNS-SD's rules (key 1-9 printable ASCII without `=`, pair <= 255 bytes). */
export function txtStrings(txt: Record<string, string>): Buffer[] {
  return Object.entries(txt).map(([k, v]) => {
    if (!/^[\x20-\x3c\x3e-\x7e]{1,9}$/.test(k))
      throw new RangeError(`TXT key ${JSON.stringify(k)} is not 1-9 printable ASCII characters without "="`);
    const b = Buffer.from(`${k}=${v}`, 'utf8');
    if (b.length > 255) throw new RangeError(`TXT pair ${k} is longer than 255 bytes`);
    return b;
  });
}

const lower = (s: string) => s.replace(/\.$/, '').toLowerCase();

export class MdnsAdvertiser {
  readonly #o: Required<Omit<AdvertiserOptions, 'log'>> & { log?: AdvertiserLog };
  readonly #txt: Buffer[];
  #socket: Socket | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** Queries answered (for tests and the log). */
  answered = 0;

  constructor(o: AdvertiserOptions) {
    this.#txt = txtStrings(o.txt);
    if (Buffer.byteLength(o.instance) > 63) throw new RangeError('instance name longer than 63 bytes');
    this.#o = { ...o, addresses: o.addresses ?? ipv4Addresses() };
  }

  get serviceName(): string {
    return `${this.#o.type}.local`;
  }

  get instanceName(): string {
    return `${this.#o.instance}.${this.#o.type}.local`;
  }

  get hostName(): string {
    return `${this.#o.host}.local`;
  }

  /** Binds, joins the group on each interface and announces. Rejects when the port cannot be bound. */
  async start(): Promise<void> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    s.on('error', (err) => this.#o.log?.warn({ err: err.message }, 'mDNS advertiser socket error'));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(MDNS_PORT, '0.0.0.0', () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.setMulticastTTL(255);
    s.setMulticastLoopback(true);
    for (const a of this.#o.addresses) {
      try {
        s.addMembership(MDNS_GROUP, a);
      } catch (err) {
        this.#o.log?.warn({ address: a, err: (err as Error).message }, 'mDNS advertiser could not join the group on this interface');
      }
    }
    this.#socket = s;
    // Announce twice, a second apart (RFC 6762 8.3).
    this.#send(this.#records(TTL_SERVICE, TTL_HOST));
    this.#timers.push(setTimeout(() => this.#send(this.#records(TTL_SERVICE, TTL_HOST)), 1000).unref());
  }

  /** Says goodbye (TTL 0) and closes the socket. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    const s = this.#socket;
    if (!s) return;
    this.#socket = undefined;
    await this.#send(this.#records(0, 0), s);
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** Every record of the instance: answers and the additional address records. */
  #records(ttl: number, hostTtl: number): { answers: DnsRecord[]; additionals: DnsRecord[] } {
    return {
      answers: [
        { type: 'PTR', name: this.serviceName, ttl, data: this.instanceName },
        { type: 'SRV', name: this.instanceName, ttl: hostTtl, data: { target: this.hostName, port: this.#o.port, priority: 0, weight: 0 } },
        { type: 'TXT', name: this.instanceName, ttl, data: this.#txt },
      ],
      additionals: this.#o.addresses.map((a) => ({ type: 'A' as const, name: this.hostName, ttl: hostTtl, data: a })),
    };
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const p = decodePacket(msg);
    if (!p || p.response || p.questions.length === 0) return;
    const all = this.#records(TTL_SERVICE, TTL_HOST);
    const [ptr, srv, txt] = all.answers as [DnsRecord, DnsRecord, DnsRecord];
    const answers: DnsRecord[] = [];
    const add = (r: DnsRecord) => void (answers.includes(r) || answers.push(r));
    for (const q of p.questions) {
      const name = lower(q.name);
      const is = (t: Question['type']) => q.type === t || q.type === 'ANY';
      if (name === lower(this.serviceName) && is('PTR')) [ptr, srv, txt].forEach(add);
      else if (name === lower(this.instanceName)) {
        if (is('SRV')) add(srv);
        if (is('TXT')) add(txt);
      } else if (name === lower(SERVICES_META) && is('PTR'))
        add({ type: 'PTR', name: SERVICES_META, ttl: TTL_SERVICE, data: this.serviceName });
    }
    if (answers.length === 0) return;
    this.answered++;
    // Known-answer suppression is not done: answers are small and queries rare.
    const out = { answers, additionals: answers.includes(srv) ? all.additionals : [] };
    // A query from a port other than 5353 is a legacy unicast query (RFC 6762 6.7): answer it directly.
    if (rinfo.port !== MDNS_PORT) void this.#send(out, this.#socket, rinfo, p.id, p.questions);
    else void this.#send(out);
  }

  /** Sends a response: to the group on every interface, or to one querier. Errors are logged, never thrown. */
  async #send(
    r: { answers: DnsRecord[]; additionals: DnsRecord[] },
    s: Socket | undefined = this.#socket,
    to?: RemoteInfo,
    id = 0,
    questions: Question[] = [],
  ): Promise<void> {
    if (!s) return;
    const packet = encodeResponse(r.answers, r.additionals, { id, questions });
    const sendTo = (address: string) =>
      new Promise<void>((resolve) =>
        s.send(packet, to ? to.port : MDNS_PORT, address, (err) => {
          if (err) this.#o.log?.warn({ err: err.message, address }, 'mDNS advertiser could not send');
          resolve();
        }),
      );
    if (to) return sendTo(to.address);
    for (const a of this.#o.addresses) {
      try {
        s.setMulticastInterface(a);
      } catch (err) {
        this.#o.log?.warn({ address: a, err: (err as Error).message }, 'mDNS advertiser could not use this interface');
        continue;
      }
      await sendTo(MDNS_GROUP);
    }
  }
}
