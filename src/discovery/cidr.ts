/** IPv4 CIDR ranges for the network scan: parsed strictly, and refused beyond a /16. */
import { isIPv4 } from 'node:net';
import { DiscoveryError } from './errors.js';

/** The widest range a scan accepts: a /16 is 65,534 hosts. */
export const MAX_SCAN_PREFIX = 16;

export interface Cidr {
  /** The network address, e.g. `10.0.0.0`. */
  network: string;
  prefix: number;
  /** How many host addresses a scan visits (network and broadcast excluded below a /31). */
  size: number;
  /** The host addresses in order. */
  hosts(): Generator<string>;
  contains(address: string): boolean;
}

export const ipv4ToInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
export const intToIpv4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/**
 * Parses `a.b.c.d/p` (a bare address is a /32). Throws CIDR_INVALID for anything else, and
 * CIDR_TOO_LARGE when the prefix is shorter than `maxPrefix` (default /16).
 */
export function parseCidr(text: string, maxPrefix = MAX_SCAN_PREFIX): Cidr {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (!m || !isIPv4(m[1]!) || (m[2] !== undefined && Number(m[2]) > 32))
    throw new DiscoveryError('CIDR_INVALID', `not an IPv4 CIDR range: ${JSON.stringify(text)} (e.g. 192.168.1.0/24)`, {
      details: { cidr: text },
    });
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix < maxPrefix)
    throw new DiscoveryError('CIDR_TOO_LARGE', `${text} is larger than a /${maxPrefix}: scan smaller ranges`, {
      details: { cidr: text, prefix, maxPrefix },
    });
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const base = (ipv4ToInt(m[1]!) & mask) >>> 0;
  const count = 2 ** (32 - prefix);
  const first = prefix >= 31 ? base : base + 1;
  const last = prefix >= 31 ? base + count - 1 : base + count - 2;
  return {
    network: intToIpv4(base),
    prefix,
    size: last - first + 1,
    *hosts() {
      for (let n = first; n <= last; n++) yield intToIpv4(n);
    },
    contains: (address) => isIPv4(address) && (ipv4ToInt(address) & mask) >>> 0 === base,
  };
}
