/**
 * Merging sightings into one record per machine. A sighting belongs to the record with the same MAC,
 * else the same SSH host-key fingerprint, else the same address (when neither side has a MAC that
 * tells them apart). Pure functions: the service loads the records, merges, and saves what changed.
 */
import type { DiscoveredService, DiscoveryResult, DiscoverySource } from '../api/discovery.js';
import { isRaspberryPiMac } from './oui.js';

export interface Sighting {
  source: DiscoverySource;
  address: string;
  mac?: string | null;
  hostname?: string | null;
  hostKeyFingerprint?: string | null;
  sshBanner?: string | null;
  services?: DiscoveredService[];
  model?: string | null;
}

export interface MergeResult {
  /** Every record, after the merge. */
  records: DiscoveryResult[];
  created: Set<string>;
  updated: Set<string>;
  /** Ids of the records that a live sighting (mDNS, scan or by hand, not a lease that may be stale) touched. */
  seen: Set<string>;
}

const SOURCE_ORDER: DiscoverySource[] = ['mdns', 'scan', 'dhcp', 'manual'];

/** The record a sighting belongs to, if any. */
export function matchRecord(records: readonly DiscoveryResult[], s: Sighting): DiscoveryResult | undefined {
  if (s.mac) {
    const byMac = records.find((r) => r.mac === s.mac);
    if (byMac) return byMac;
  }
  if (s.hostKeyFingerprint) {
    const byKey = records.find((r) => r.hostKeyFingerprint === s.hostKeyFingerprint);
    if (byKey) return byKey;
  }
  // Same address: the same machine unless both have MACs and they differ (the address moved to another machine).
  return records.find((r) => r.address === s.address && (!r.mac || !s.mac || r.mac === s.mac));
}

/** Merges sightings (in order) into copies of `records`. `newId` names new records; `now` is the sighting time. */
export function mergeSightings(
  records: readonly DiscoveryResult[],
  sightings: readonly Sighting[],
  now: string,
  newId: () => string,
): MergeResult {
  const out = records.map((r) => ({ ...r, sources: [...r.sources], services: [...r.services] }));
  const created = new Set<string>();
  const updated = new Set<string>();
  const seen = new Set<string>();
  for (const s of sightings) {
    let r = matchRecord(out, s);
    if (!r) {
      r = {
        id: newId(),
        address: s.address,
        mac: null,
        raspberryPi: false,
        hostname: null,
        source: s.source,
        sources: [],
        state: 'discovered',
        hostKeyFingerprint: null,
        sshBanner: null,
        services: [],
        model: null,
        capabilities: null,
        flags: [],
        nodeId: null,
        firstSeenAt: now,
        lastSeenAt: now,
      };
      out.push(r);
      created.add(r.id);
    }
    // The latest source and time change on every sighting: not a change of the machine.
    const before = JSON.stringify({ ...r, lastSeenAt: '', source: '' });
    r.address = s.address;
    if (s.mac && !r.mac) r.mac = s.mac;
    r.raspberryPi = r.mac !== null && isRaspberryPiMac(r.mac);
    if (s.hostname) r.hostname = s.hostname;
    if (s.hostKeyFingerprint && !r.hostKeyFingerprint) r.hostKeyFingerprint = s.hostKeyFingerprint;
    if (s.sshBanner) r.sshBanner = s.sshBanner;
    if (s.model) r.model = s.model;
    r.source = s.source;
    if (!r.sources.includes(s.source)) r.sources = SOURCE_ORDER.filter((x) => x === s.source || r.sources.includes(x));
    for (const svc of s.services ?? []) {
      const i = r.services.findIndex((x) => x.type === svc.type && x.instance === svc.instance);
      if (i < 0) r.services.push(svc);
      else r.services[i] = svc;
    }
    // A lease outlives its machine, so only a live sighting brings a lost machine back.
    const live = s.source !== 'dhcp';
    if (r.state === 'lost' && live) r.state = r.nodeId ? 'ready' : r.capabilities ? 'probed' : 'discovered';
    r.lastSeenAt = now;
    if (live) seen.add(r.id);
    if (!created.has(r.id) && JSON.stringify({ ...r, lastSeenAt: '', source: '' }) !== before) updated.add(r.id);
  }
  return { records: out, created, updated, seen };
}

/**
 * Marks `lost` the records a run should have seen and did not: not seen live, seen before by a live
 * source that ran (a scan only counts inside its range), and not being provisioned. DHCP leases never
 * keep a machine alive: a lease lasts hours after the machine is gone. Returns the ids it changed.
 */
export function markLost(
  records: DiscoveryResult[],
  seen: ReadonlySet<string>,
  ran: ReadonlySet<DiscoverySource>,
  inScanRange: (address: string) => boolean,
): Set<string> {
  const lost = new Set<string>();
  for (const r of records) {
    if (seen.has(r.id) || r.state === 'lost' || r.state === 'provisioning') continue;
    const covered = r.sources.some((s) => s !== 'dhcp' && ran.has(s) && (s !== 'scan' || inScanRange(r.address)));
    if (!covered) continue;
    r.state = 'lost';
    lost.add(r.id);
  }
  return lost;
}
