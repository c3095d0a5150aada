/**
 * Discovery records: one row per machine (src/discovery merges sightings by MAC, host key, address).
 * Strings from the network (host names, service names, TXT values, banners) are stored verbatim as
 * bound parameters: they are data, never SQL, shell or terminal text.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Capabilities, DiscoveredService, DiscoveryInput, DiscoveryResult } from '../api/discovery.js';
import { NotFoundError } from '../api/errors.js';
import { nowIso } from './sql.js';

interface Row {
  id: string;
  address: string;
  mac: string | null;
  hostname: string | null;
  source: string;
  model: string | null;
  node_id: string | null;
  first_seen_at: string;
  last_seen_at: string;
  sources: string;
  state: string;
  host_key_fingerprint: string | null;
  ssh_banner: string | null;
  services: string;
  capabilities: string | null;
  flags: string;
}

const PI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '2c:cf:67', '28:cd:c1'];

const toResult = (r: Row): DiscoveryResult => ({
  id: r.id,
  address: r.address,
  mac: r.mac,
  raspberryPi: r.mac !== null && PI_OUIS.includes(r.mac.slice(0, 8)),
  hostname: r.hostname,
  source: r.source as DiscoveryResult['source'],
  sources: JSON.parse(r.sources) as DiscoveryResult['sources'],
  state: r.state as DiscoveryResult['state'],
  hostKeyFingerprint: r.host_key_fingerprint,
  sshBanner: r.ssh_banner,
  services: JSON.parse(r.services) as DiscoveredService[],
  model: r.model,
  capabilities: r.capabilities === null ? null : (JSON.parse(r.capabilities) as Capabilities),
  flags: JSON.parse(r.flags) as string[],
  nodeId: r.node_id,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
});

export class DiscoveryRepo {
  readonly #save;
  readonly #byId;
  readonly #byMac;
  readonly #byAddress;
  readonly #all;
  readonly #list;
  readonly #count;
  readonly #delete;
  readonly #link;
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    this.#save = db.prepare(`INSERT INTO discovery (id, address, mac, hostname, source, model, node_id, first_seen_at, last_seen_at,
        sources, state, host_key_fingerprint, ssh_banner, services, capabilities, flags)
      VALUES (@id, @address, @mac, @hostname, @source, @model, @node_id, @first_seen_at, @last_seen_at,
        @sources, @state, @host_key_fingerprint, @ssh_banner, @services, @capabilities, @flags)
      ON CONFLICT (id) DO UPDATE SET address = excluded.address, mac = excluded.mac, hostname = excluded.hostname,
        source = excluded.source, model = excluded.model, last_seen_at = excluded.last_seen_at, sources = excluded.sources,
        state = excluded.state, host_key_fingerprint = excluded.host_key_fingerprint, ssh_banner = excluded.ssh_banner,
        services = excluded.services, capabilities = excluded.capabilities, flags = excluded.flags`);
    this.#byId = db.prepare<[string], Row>('SELECT * FROM discovery WHERE id = ?');
    this.#byMac = db.prepare<[string], Row>('SELECT * FROM discovery WHERE mac = ? ORDER BY last_seen_at DESC LIMIT 1');
    this.#byAddress = db.prepare<[string], Row>('SELECT * FROM discovery WHERE address = ? ORDER BY last_seen_at DESC LIMIT 1');
    this.#all = db.prepare<[], Row>('SELECT * FROM discovery ORDER BY first_seen_at, id');
    this.#list = db.prepare<[number, number], Row>('SELECT * FROM discovery ORDER BY last_seen_at DESC, address LIMIT ? OFFSET ?');
    this.#count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM discovery');
    this.#delete = db.prepare('DELETE FROM discovery WHERE id = ?');
    this.#link = db.prepare('UPDATE discovery SET node_id = ? WHERE id = ?');
  }

  /** Records one sighting by hand: refreshes the record with that MAC (else that address), or adds one. */
  upsert(input: DiscoveryInput): DiscoveryResult {
    const now = nowIso();
    const old = (input.mac ? this.#byMac.get(input.mac) : undefined) ?? this.#byAddress.get(input.address);
    const prev = old ? toResult(old) : undefined;
    const mac = prev?.mac ?? input.mac ?? null;
    const r: DiscoveryResult = {
      id: prev?.id ?? randomUUID(),
      address: input.address,
      mac,
      raspberryPi: mac !== null && PI_OUIS.includes(mac.slice(0, 8)),
      hostname: input.hostname ?? prev?.hostname ?? null,
      source: input.source,
      sources: [...new Set([...(prev?.sources ?? []), input.source])],
      state: prev && prev.state !== 'lost' ? prev.state : 'discovered',
      hostKeyFingerprint: prev?.hostKeyFingerprint ?? null,
      sshBanner: prev?.sshBanner ?? null,
      services: prev?.services ?? [],
      model: input.model ?? prev?.model ?? null,
      capabilities: prev?.capabilities ?? null,
      flags: prev?.flags ?? [],
      nodeId: prev?.nodeId ?? null,
      firstSeenAt: prev?.firstSeenAt ?? now,
      lastSeenAt: now,
    };
    return this.save(r);
  }

  /** Writes a whole record (insert or update by id); returns it as stored. */
  save(r: DiscoveryResult): DiscoveryResult {
    this.#save.run({
      id: r.id,
      address: r.address,
      mac: r.mac,
      hostname: r.hostname,
      source: r.source,
      model: r.model,
      node_id: r.nodeId,
      first_seen_at: r.firstSeenAt,
      last_seen_at: r.lastSeenAt,
      sources: JSON.stringify(r.sources),
      state: r.state,
      host_key_fingerprint: r.hostKeyFingerprint,
      ssh_banner: r.sshBanner,
      services: JSON.stringify(r.services),
      capabilities: r.capabilities === null ? null : JSON.stringify(r.capabilities),
      flags: JSON.stringify(r.flags),
    });
    return toResult(this.#byId.get(r.id)!);
  }

  /** Writes several records in one transaction. */
  saveAll(records: readonly DiscoveryResult[]): void {
    this.#db.transaction(() => {
      for (const r of records) this.save(r);
    })();
  }

  /** Every record (discovery merges against all of them; a LAN holds hundreds, not millions). */
  all(): DiscoveryResult[] {
    return this.#all.all().map(toResult);
  }

  get(id: string): DiscoveryResult | undefined {
    const r = this.#byId.get(id);
    return r ? toResult(r) : undefined;
  }

  require(id: string): DiscoveryResult {
    const r = this.#byId.get(id);
    if (!r) throw new NotFoundError('discovery result', id);
    return toResult(r);
  }

  list(limit = 100, offset = 0): { items: DiscoveryResult[]; total: number } {
    return { items: this.#list.all(limit, offset).map(toResult), total: this.#count.get()!.n };
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes === 1;
  }

  link(id: string, nodeId: string): void {
    this.#link.run(nodeId, id);
  }
}
