/** Turns the `discovery` section of the configuration into the defaults of a discovery run. */
import { ConfigError, type Problem } from '../api/errors.js';
import { parseCidr } from './cidr.js';
import type { LeaseFormat, LeaseSource } from './leases.js';

export interface DiscoveryConfig {
  interface: string;
  cidr: string;
  leases: string;
  timeoutMs: number;
  sshUser: string;
  sshKey: string;
}

/** Where to browse, what to scan and which lease files to read when a request names nothing. */
export interface DiscoveryDefaults {
  interfaceAddress: string | null;
  cidr: string | null;
  leases: LeaseSource[];
  timeoutMs: number;
  /** The probe's login; null: probing is off. */
  ssh: { user: string; identityFile: string } | null;
}

const FORMATS: LeaseFormat[] = ['dnsmasq', 'pihole', 'isc'];

/** @throws ConfigError naming every bad part (`/discovery/leases`, `/discovery/cidr`). */
export function discoveryDefaults(c: DiscoveryConfig): DiscoveryDefaults {
  const problems: Problem[] = [];
  const leases: LeaseSource[] = [];
  for (const part of c.leases.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    const i = part.indexOf(':');
    const format = part.slice(0, i) as LeaseFormat;
    if (i < 1 || !FORMATS.includes(format) || part.length === i + 1)
      problems.push({
        path: '/discovery/leases',
        code: 'format',
        message: `expected format:path with format one of ${FORMATS.join(', ')}, not ${JSON.stringify(part)}`,
      });
    else leases.push({ format, path: part.slice(i + 1) });
  }
  if (c.cidr !== '') {
    try {
      parseCidr(c.cidr);
    } catch (err) {
      problems.push({ path: '/discovery/cidr', code: 'format', message: (err as Error).message });
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    interfaceAddress: c.interface || null,
    cidr: c.cidr || null,
    leases,
    timeoutMs: c.timeoutMs,
    ssh: c.sshKey ? { user: c.sshUser, identityFile: c.sshKey } : null,
  };
}
