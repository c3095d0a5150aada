/** Discovery results: one row per address, refreshed each time it is seen again. */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { DiscoveryInput, DiscoveryResult } from '../api/discovery.js';
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
}

const toResult = (r: Row): DiscoveryResult => ({
  id: r.id,
  address: r.address,
  mac: r.mac,
  hostname: r.hostname,
  source: r.source as DiscoveryResult['source'],
  model: r.model,
  nodeId: r.node_id,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
});

export class DiscoveryRepo {
  readonly #upsert;
  readonly #byId;
  readonly #byAddress;
  readonly #list;
  readonly #count;
  readonly #delete;
  readonly #link;

  constructor(db: Database) {
    this.#upsert = db.prepare(`INSERT INTO discovery (id, address, mac, hostname, source, model, first_seen_at, last_seen_at)
      VALUES (@id, @address, @mac, @hostname, @source, @model, @now, @now)
      ON CONFLICT (address) DO UPDATE SET mac = coalesce(excluded.mac, mac), hostname = coalesce(excluded.hostname, hostname),
        source = excluded.source, model = coalesce(excluded.model, model), last_seen_at = excluded.last_seen_at`);
    this.#byId = db.prepare<[string], Row>('SELECT * FROM discovery WHERE id = ?');
    this.#byAddress = db.prepare<[string], Row>('SELECT * FROM discovery WHERE address = ?');
    this.#list = db.prepare<[number, number], Row>('SELECT * FROM discovery ORDER BY last_seen_at DESC, address LIMIT ? OFFSET ?');
    this.#count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM discovery');
    this.#delete = db.prepare('DELETE FROM discovery WHERE id = ?');
    this.#link = db.prepare('UPDATE discovery SET node_id = ? WHERE id = ?');
  }

  /** Records a sighting; returns the (new or refreshed) result. */
  upsert(input: DiscoveryInput): DiscoveryResult {
    this.#upsert.run({
      id: randomUUID(),
      address: input.address,
      mac: input.mac ?? null,
      hostname: input.hostname ?? null,
      source: input.source,
      model: input.model ?? null,
      now: nowIso(),
    });
    return toResult(this.#byAddress.get(input.address)!);
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
