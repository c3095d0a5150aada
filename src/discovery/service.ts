/**
 * The discovery service: one run browses mDNS, scans a range for SSH and reads the DHCP lease files
 * (each optional), merges every sighting into the stored records, marks `lost` what a run should
 * have seen and did not, saves, and emits events. Its store, bus and logger are passed in.
 */
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { DiscoveryResult, DiscoverySource, ScanReport } from '../api/discovery.js';
import type { EventMap } from '../api/events.js';
import { parseCidr } from './cidr.js';
import { DiscoveryError } from './errors.js';
import { readLeaseFile, type LeaseSource } from './leases.js';
import { markLost, mergeSightings, type Sighting } from './merge.js';
import { browse, type MdnsOptions } from './mdns.js';
import { scan, type ScanOptions } from './scan.js';
import { probeHost } from './probe.js';

/** What the service needs from the store (src/store's DiscoveryRepo has these). */
export interface DiscoveryStore {
  all(): DiscoveryResult[];
  saveAll(records: readonly DiscoveryResult[]): void;
  require(id: string): DiscoveryResult;
}

/** How to log in for a probe. */
export interface ProbeLogin {
  user: string;
  identityFile: string;
  /** Path prefix of the files read (default `/`). */
  root?: string;
  port?: number;
  timeoutMs?: number;
}

type DiscoveryEvent = 'discovery.found' | 'discovery.updated' | 'discovery.finished';
/** What the service needs from the event bus. */
export interface DiscoveryEvents {
  emit<K extends DiscoveryEvent>(type: K, data: EventMap[K]): unknown;
}

export interface DiscoveryServiceOptions {
  store: DiscoveryStore;
  bus: DiscoveryEvents;
  log: Logger;
  /** Defaults for runs (a run's own options override them). */
  defaults?: RunOptions;
  now?: () => Date;
}

export interface RunOptions {
  /** mDNS options, or false to skip mDNS. */
  mdns?: MdnsOptions | false;
  /** The scan, or false/absent to skip it. */
  scan?: Omit<ScanOptions, 'signal' | 'onHit'> | false;
  /** Lease files to read (none: skip). */
  leases?: LeaseSource[];
}

export class DiscoveryService {
  readonly #store: DiscoveryStore;
  readonly #bus: DiscoveryEvents;
  readonly #log: Logger;
  readonly #defaults: RunOptions;
  readonly #now: () => Date;
  #running: Promise<ScanReport> | undefined;

  constructor(opts: DiscoveryServiceOptions) {
    this.#store = opts.store;
    this.#bus = opts.bus;
    this.#log = opts.log;
    this.#defaults = opts.defaults ?? {};
    this.#now = opts.now ?? (() => new Date());
  }

  /** The options a run uses when the caller names none. */
  get defaults(): RunOptions {
    return this.#defaults;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Runs discovery once. Bad input (a CIDR that is invalid or beyond /16) throws before anything
   * starts; one run at a time (SCAN_RUNNING). A source that fails is reported in `errors` with its
   * code (ENETUNREACH for mDNS with no route) and the others still count.
   */
  run(opts: RunOptions = this.#defaults): Promise<ScanReport> {
    if (opts.scan) parseCidr(opts.scan.cidr);
    if (this.#running) throw new DiscoveryError('SCAN_RUNNING', 'a discovery run is already in progress');
    const p = this.#run(opts).finally(() => (this.#running = undefined));
    this.#running = p;
    return p;
  }

  /**
   * Reads a machine's capabilities over SSH. The host key is pinned on first contact; a machine
   * whose key changed is flagged HOST_KEY_MISMATCH, not probed, and the error is thrown.
   */
  async probe(id: string, login: ProbeLogin): Promise<DiscoveryResult> {
    const rec = this.#store.require(id);
    try {
      const r = await probeHost({ address: rec.address, pinnedFingerprint: rec.hostKeyFingerprint, ...login });
      const updated: DiscoveryResult = {
        ...rec,
        hostKeyFingerprint: r.hostKeyFingerprint,
        capabilities: r.capabilities,
        model: r.capabilities.model ?? rec.model,
        state: rec.state === 'discovered' || rec.state === 'lost' ? 'probed' : rec.state,
        flags: rec.flags.filter((f) => f !== 'HOST_KEY_MISMATCH'),
      };
      this.#store.saveAll([updated]);
      this.#bus.emit('discovery.updated', updated);
      this.#log.info({ id, address: rec.address, model: r.capabilities.model }, 'probed');
      return updated;
    } catch (err) {
      if (err instanceof DiscoveryError && err.code === 'HOST_KEY_MISMATCH' && !rec.flags.includes('HOST_KEY_MISMATCH')) {
        const flagged = { ...rec, flags: [...rec.flags, 'HOST_KEY_MISMATCH'] };
        this.#store.saveAll([flagged]);
        this.#bus.emit('discovery.updated', flagged);
        this.#log.warn({ id, address: rec.address, details: err.details }, 'host key changed: not probed');
      }
      throw err;
    }
  }

  async #run(opts: RunOptions): Promise<ScanReport> {
    const startedAt = this.#now().toISOString();
    const sightings: Sighting[] = [];
    const errors: ScanReport['errors'] = [];
    const warnings: string[] = [];
    const ran = new Set<DiscoverySource>();
    const fail = (source: DiscoverySource, err: unknown) => {
      const e = err as { code?: unknown; message?: unknown };
      const code = typeof e.code === 'string' ? e.code : 'FAILED';
      errors.push({ source, code, message: String(e.message ?? err) });
      this.#log.warn({ err, source, code }, 'discovery source failed');
    };

    const tasks: Promise<void>[] = [];
    if (opts.mdns !== false) {
      tasks.push(
        browse(opts.mdns ?? {}).then(
          (hosts) => {
            ran.add('mdns');
            for (const h of hosts) {
              const address = h.addresses.find((a) => isIPv4(a)) ?? h.ipv6[0];
              if (!address) continue;
              const agent = h.services.find((s) => s.type === '_pi-controller._tcp');
              sightings.push({
                source: 'mdns',
                address,
                mac: h.mac,
                hostname: h.hostname,
                services: h.services,
                model: agent?.txt['model'] ?? null,
              });
            }
          },
          (err: unknown) => fail('mdns', err),
        ),
      );
    }
    let inRange: (a: string) => boolean = () => false;
    if (opts.scan) {
      const range = parseCidr(opts.scan.cidr);
      inRange = (a) => range.contains(a);
      tasks.push(
        scan(opts.scan).then(
          (hits) => {
            ran.add('scan');
            for (const h of hits) sightings.push({ source: 'scan', address: h.address, mac: h.mac, sshBanner: h.banner });
          },
          (err: unknown) => fail('scan', err),
        ),
      );
    }
    for (const src of opts.leases ?? []) {
      tasks.push(
        readLeaseFile(src).then((r) => {
          ran.add('dhcp');
          for (const w of r.warnings) {
            const text = `${src.path}:${w.line}: ${w.message}`;
            warnings.push(text);
            this.#log.warn({ file: src.path, line: w.line }, w.message);
          }
          if (r.skipped > r.warnings.length) warnings.push(`${src.path}: ${r.skipped - r.warnings.length} more lines skipped`);
          for (const l of r.leases) sightings.push({ source: 'dhcp', address: l.address, mac: l.mac, hostname: l.hostname });
        }),
      );
    }
    await Promise.all(tasks);

    // Sources merge in a fixed order (mDNS, scan, leases) so the result does not depend on timing.
    const order: DiscoverySource[] = ['mdns', 'scan', 'dhcp'];
    sightings.sort((a, b) => order.indexOf(a.source) - order.indexOf(b.source));
    const now = this.#now().toISOString();
    const before = this.#store.all();
    const m = mergeSightings(before, sightings, now, randomUUID);
    const lost = markLost(m.records, m.seen, ran, inRange);
    const changed = m.records.filter((r) => m.created.has(r.id) || m.updated.has(r.id) || lost.has(r.id) || m.seen.has(r.id));
    this.#store.saveAll(changed);
    for (const r of m.records) {
      if (m.created.has(r.id)) this.#bus.emit('discovery.found', r);
      else if (m.updated.has(r.id) || lost.has(r.id)) this.#bus.emit('discovery.updated', r);
    }
    const seenIds = new Set([...m.seen, ...m.records.filter((r) => r.lastSeenAt === now).map((r) => r.id)]);
    const report: ScanReport = {
      startedAt,
      finishedAt: this.#now().toISOString(),
      found: m.created.size,
      seen: seenIds.size,
      lost: lost.size,
      errors,
      warnings: warnings.slice(0, 100),
      items: m.records.filter((r) => seenIds.has(r.id) || lost.has(r.id)),
    };
    this.#bus.emit('discovery.finished', {
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      found: report.found,
      seen: report.seen,
      lost: report.lost,
      errors: report.errors,
    });
    this.#log.info({ found: report.found, seen: report.seen, lost: report.lost, errors: errors.length }, 'discovery run finished');
    return report;
  }
}
