/**
 * DHCP lease files: dnsmasq (`expiry mac address hostname client-id`, one per line), Pi-hole (the same
 * format, in /etc/pihole/dhcp.leases) and ISC dhcpd (`lease a.b.c.d { ... }` blocks). Malformed lines
 * and blocks are skipped, each with a warning; nothing in a file is interpreted beyond its fields.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { normalizeMac } from './oui.js';

export type LeaseFormat = 'dnsmasq' | 'pihole' | 'isc';

export interface Lease {
  mac: string;
  address: string;
  hostname: string | null;
  /** ISO time the lease ends (null: infinite or unknown). */
  expiresAt: string | null;
}

export interface LeaseWarning {
  line: number;
  message: string;
}

export interface LeaseSource {
  format: LeaseFormat;
  path: string;
}

/** Where each format lives on a stock install (the config may name other paths). */
export const DEFAULT_LEASE_PATHS: Record<LeaseFormat, string> = {
  dnsmasq: '/var/lib/misc/dnsmasq.leases',
  pihole: '/etc/pihole/dhcp.leases',
  isc: '/var/lib/dhcp/dhcpd.leases',
};

/** Upper bounds, so a huge or hostile file costs bounded work. */
const MAX_LINES = 200_000;
const MAX_WARNINGS = 100;

export interface ParseResult {
  leases: Lease[];
  warnings: LeaseWarning[];
  /** Warnings beyond MAX_WARNINGS are counted, not kept. */
  skipped: number;
}

const cleanHost = (h: string | undefined): string | null => (h === undefined || h === '' || h === '*' ? null : h);

class Collector {
  readonly leases: Lease[] = [];
  readonly warnings: LeaseWarning[] = [];
  skipped = 0;
  warn(line: number, message: string): void {
    this.skipped++;
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push({ line, message });
  }
  result(): ParseResult {
    return { leases: this.leases, warnings: this.warnings, skipped: this.skipped };
  }
}

/** dnsmasq and Pi-hole lease lines. IPv6 lines (`duid ...` and IAID lines) are not IPv4 leases and are passed over. */
export function parseDnsmasqLeases(text: string): ParseResult {
  const c = new Collector();
  const lines = text.split('\n', MAX_LINES);
  let v6 = false;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('duid ')) {
      v6 = true;
      return;
    }
    const f = line.split(/\s+/);
    if (v6 && f.length >= 3 && f[2]!.includes(':')) return;
    const [expiry, macText, address, host] = f;
    const mac = macText === undefined ? undefined : normalizeMac(macText);
    if (f.length < 4 || !/^\d+$/.test(expiry ?? '') || mac === undefined || address === undefined || !isIPv4(address)) {
      c.warn(i + 1, `not a dnsmasq lease line: ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    const secs = Number(expiry);
    c.leases.push({ mac, address, hostname: cleanHost(host), expiresAt: secs === 0 ? null : new Date(secs * 1000).toISOString() });
  });
  return c.result();
}

const ISC_TIME = /^\d+ (\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** ISC dhcpd's dhcpd.leases: the last block for an address wins (the file is append-only). */
export function parseIscLeases(text: string): ParseResult {
  const c = new Collector();
  const lines = text.split('\n', MAX_LINES);
  const byAddress = new Map<string, Lease>();
  let cur: { start: number; address: string; mac?: string; host?: string; ends?: string | null; state?: string; bad?: string } | null =
    null;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const open = /^lease\s+(\S+)\s*\{$/.exec(line);
    if (open) {
      if (cur) c.warn(cur.start, `lease ${JSON.stringify(cur.address)} has no closing brace`);
      cur = { start: i + 1, address: open[1]! };
      if (!isIPv4(cur.address)) cur.bad = `lease address ${JSON.stringify(cur.address.slice(0, 60))} is not IPv4`;
      return;
    }
    if (!cur) return; // other top-level statements (server-duid, failover, authoring-byte-order)
    if (line === '}') {
      const l = cur;
      cur = null;
      if (l.bad) return c.warn(l.start, l.bad);
      if (!l.mac) return c.warn(l.start, `lease ${l.address} has no usable hardware ethernet line`);
      if (l.state && l.state !== 'active') return;
      byAddress.set(l.address, { mac: l.mac, address: l.address, hostname: l.host ?? null, expiresAt: l.ends ?? null });
      return;
    }
    const hw = /^hardware ethernet\s+(\S+);$/.exec(line);
    if (hw) {
      const mac = normalizeMac(hw[1]!);
      if (mac) cur.mac = mac;
      else cur.bad = `lease ${cur.address}: bad MAC ${JSON.stringify(hw[1]!.slice(0, 40))}`;
      return;
    }
    const host = /^client-hostname\s+"((?:[^"\\]|\\.)*)";$/.exec(line);
    if (host) return void (cur.host = host[1]!.replace(/\\(.)/g, '$1'));
    const state = /^binding state\s+(\w+);$/.exec(line);
    if (state) return void (cur.state = state[1]);
    const ends = /^ends\s+(.*);$/.exec(line);
    if (ends) {
      if (ends[1] === 'never') cur.ends = null;
      else {
        const t = ISC_TIME.exec(ends[1]!);
        cur.ends = t ? `${t[1]}-${t[2]}-${t[3]}T${t[4]}:${t[5]}:${t[6]}.000Z` : null;
      }
    }
  });
  if (cur !== null) c.warn((cur as { start: number }).start, 'lease block not closed at end of file');
  c.leases.push(...byAddress.values());
  return c.result();
}

export function parseLeases(format: LeaseFormat, text: string): ParseResult {
  return format === 'isc' ? parseIscLeases(text) : parseDnsmasqLeases(text);
}

/** Reads and parses one lease file; a missing file is no leases (and one warning), not an error. */
export async function readLeaseFile(src: LeaseSource): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(src.path, 'utf8');
  } catch (err) {
    return { leases: [], warnings: [{ line: 0, message: `cannot read ${src.path}: ${(err as Error).message}` }], skipped: 0 };
  }
  return parseLeases(src.format, text);
}
