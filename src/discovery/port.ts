/**
 * Discovery as the REST API drives it: a request's options, else the configured defaults, turned
 * into one run of the service; the probe with the configured SSH login. The daemon builds it.
 */
import type { ScanRequest } from '../api/discovery.js';
import type { DiscoveryPort } from '../core/ports.js';
import type { DiscoveryDefaults } from './config.js';
import { DiscoveryError } from './errors.js';
import type { DiscoveryService, RunOptions } from './service.js';

/** How long a probe may take over SSH, connection included. */
const PROBE_TIMEOUT_MS = 20_000;

/** A run's options: the request's, else the configured defaults. */
export function runOptions(req: ScanRequest, d: DiscoveryDefaults): RunOptions {
  const timeoutMs = req.timeoutMs ?? d.timeoutMs;
  const cidr = req.cidr ?? d.cidr;
  const iface = d.interfaceAddress ? { interfaceAddress: d.interfaceAddress } : {};
  return {
    mdns: req.mdns === false ? false : { ...iface, timeoutMs },
    scan: cidr ? { cidr, timeoutMs, ...(d.interfaceAddress ? { localAddress: d.interfaceAddress } : {}) } : false,
    leases: req.leases === false ? [] : d.leases,
  };
}

export function discoveryPort(service: DiscoveryService, defaults: DiscoveryDefaults): DiscoveryPort {
  return {
    run: (req) => service.run(runOptions(req, defaults)),
    probe: (id) => {
      if (!defaults.ssh) throw new DiscoveryError('DISCOVERY_UNAVAILABLE', 'no SSH key is configured for the probe (discovery.sshKey)');
      return service.probe(id, { ...defaults.ssh, timeoutMs: PROBE_TIMEOUT_MS });
    },
  };
}
