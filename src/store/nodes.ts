/** Node repository: prepared statements over the `nodes` table. */
import { createHash, randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../api/errors.js';
import type { Node, NodeCreate, NodeListQuery, NodeState, NodeUpdate } from '../api/nodes.js';
import { isUniqueViolation, isForeignKeyViolation } from './sql.js';

interface Row {
  id: string;
  name: string;
  address: string | null;
  mac: string | null;
  model: string | null;
  state: string;
  labels: string;
  cluster_id: string | null;
  created_at: string;
  updated_at: string;
  last_seen_at: string | null;
}

/** One page of the node list as sent over HTTP: the JSON bytes and a strong ETag of them. */
export interface NodeListPage {
  json: Buffer;
  etag: string;
}

/** Distinct list queries whose pages are kept (the oldest is dropped beyond this). */
const PAGE_CACHE_ENTRIES = 16;

function toNode(r: Row): Node {
  return {
    id: r.id,
    name: r.name,
    address: r.address,
    mac: r.mac,
    model: r.model,
    state: r.state as NodeState,
    labels: JSON.parse(r.labels) as Record<string, string>,
    clusterId: r.cluster_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastSeenAt: r.last_seen_at,
  };
}

function page(text: string): NodeListPage {
  const json = Buffer.from(text);
  return { json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 32)}"` };
}

export class NodeRepo {
  readonly #byId;
  readonly #byName;
  readonly #insert;
  readonly #update;
  readonly #delete;
  readonly #list;
  readonly #count;
  readonly #countByState;
  readonly #seen;
  readonly #listJson;
  readonly #version;
  readonly #db: Database;
  /** Pages by query, valid while the `nodes` change counter equals #pagesVersion. */
  readonly #pages = new Map<string, NodeListPage>();
  #pagesVersion = -1;

  constructor(db: Database) {
    this.#db = db;
    this.#byId = db.prepare<[string], Row>('SELECT * FROM nodes WHERE id = ?');
    this.#byName = db.prepare<[string], Row>('SELECT * FROM nodes WHERE name = ?');
    this.#insert = db.prepare(
      'INSERT INTO nodes (id, name, address, mac, model, state, labels, cluster_id, created_at, updated_at) VALUES (@id, @name, @address, @mac, @model, @state, @labels, @clusterId, @now, @now)',
    );
    this.#update = db.prepare(
      'UPDATE nodes SET address = @address, mac = @mac, model = @model, state = @state, labels = @labels, cluster_id = @clusterId, updated_at = @now WHERE id = @id',
    );
    this.#delete = db.prepare('DELETE FROM nodes WHERE id = ?');
    this.#list = db.prepare<[{ state: string | null; cluster: string | null; limit: number; offset: number }], Row>(
      'SELECT * FROM nodes WHERE (@state IS NULL OR state = @state) AND (@cluster IS NULL OR cluster_id = @cluster) ORDER BY name LIMIT @limit OFFSET @offset',
    );
    this.#count = db.prepare<[{ state: string | null; cluster: string | null }], { n: number }>(
      'SELECT count(*) AS n FROM nodes WHERE (@state IS NULL OR state = @state) AND (@cluster IS NULL OR cluster_id = @cluster)',
    );
    this.#countByState = db.prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM nodes GROUP BY state');
    this.#seen = db.prepare('UPDATE nodes SET last_seen_at = ? WHERE id = ?');
    // The same rows as #list, serialized by SQLite itself: building 100 JS objects and
    // stringifying them costs about ten times more than this (measured in bench:api's setting).
    this.#listJson = db
      .prepare<[{ state: string | null; cluster: string | null; limit: number; offset: number }], string>(
        `SELECT json_group_array(json_object('id', id, 'name', name, 'address', address, 'mac', mac, 'model', model, 'state', state,
           'labels', json(labels), 'clusterId', cluster_id, 'createdAt', created_at, 'updatedAt', updated_at, 'lastSeenAt', last_seen_at))
         FROM (SELECT * FROM nodes WHERE (@state IS NULL OR state = @state) AND (@cluster IS NULL OR cluster_id = @cluster) ORDER BY name LIMIT @limit OFFSET @offset)`,
      )
      .pluck();
    this.#version = db.prepare<[], number>("SELECT version FROM change_counters WHERE name = 'nodes'").pluck();
  }

  /**
   * The `nodes` change counter: bumped by triggers in the same transaction as any write to
   * the table, so a reader outside a transaction sees it move with the committed rows.
   */
  version(): number {
    return this.#version.get()!;
  }

  /** @throws ConflictError when the name is taken; NotFoundError for an unknown cluster. */
  create(input: NodeCreate, state: NodeState = 'discovered'): Node {
    const id = randomUUID();
    try {
      this.#insert.run({
        id,
        name: input.name,
        address: input.address ?? null,
        mac: input.mac ?? null,
        model: input.model ?? null,
        state,
        labels: JSON.stringify(input.labels ?? {}),
        clusterId: input.clusterId ?? null,
        now: new Date().toISOString(),
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`a node named ${JSON.stringify(input.name)} exists`, { name: input.name });
      if (isForeignKeyViolation(err)) throw new NotFoundError('cluster', input.clusterId ?? '');
      throw err;
    }
    return this.get(id)!;
  }

  get(id: string): Node | undefined {
    const r = this.#byId.get(id);
    return r && toNode(r);
  }

  /** Finds by id or, failing that, by name. */
  find(idOrName: string): Node | undefined {
    const r = this.#byId.get(idOrName) ?? this.#byName.get(idOrName);
    return r && toNode(r);
  }

  /** Like find, but throws NotFoundError. */
  require(idOrName: string): Node {
    const n = this.find(idOrName);
    if (!n) throw new NotFoundError('node', idOrName);
    return n;
  }

  list(q: NodeListQuery = {}): { items: Node[]; total: number } {
    const state = q.state ?? null;
    const cluster = q.clusterId ?? null;
    return {
      items: this.#list.all({ state, cluster, limit: q.limit ?? 100, offset: q.offset ?? 0 }).map(toNode),
      total: this.#count.get({ state, cluster })!.n,
    };
  }

  /** `list(q)` as a JSON string (`{"items":[...],"total":N}`), for the REST list route. */
  listJson(q: NodeListQuery = {}): string {
    const p = { state: q.state ?? null, cluster: q.clusterId ?? null };
    const items = this.#listJson.get({ ...p, limit: q.limit ?? 100, offset: q.offset ?? 0 })!;
    return `{"items":${items},"total":${this.#count.get(p)!.n}}`;
  }

  /**
   * `listJson(q)` as bytes with an ETag, served from a cache while no write to `nodes` has
   * committed since it was built (the change counter is read on every call). Inside a
   * transaction the page is built fresh and not kept: its rows may still roll back.
   */
  listPage(q: NodeListQuery = {}): NodeListPage {
    if (this.#db.inTransaction) return page(this.listJson(q));
    // Read the counter before the rows: a write committed in between (another connection)
    // makes the page newer than its version, never older, and the next call rebuilds it.
    const v = this.version();
    if (v !== this.#pagesVersion) {
      this.#pages.clear();
      this.#pagesVersion = v;
    }
    const key = `${q.state ?? ''}|${q.clusterId ?? ''}|${q.limit ?? 100}|${q.offset ?? 0}`;
    let p = this.#pages.get(key);
    if (!p) {
      p = page(this.listJson(q));
      if (this.#pages.size >= PAGE_CACHE_ENTRIES) this.#pages.delete(this.#pages.keys().next().value!);
      this.#pages.set(key, p);
    }
    return p;
  }

  /** Merge-patch semantics: absent fields are left alone, null clears. */
  update(id: string, patch: NodeUpdate): Node {
    const cur = this.get(id);
    if (!cur) throw new NotFoundError('node', id);
    const next = { ...cur, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as Node;
    try {
      this.#update.run({
        id,
        address: next.address,
        mac: next.mac,
        model: next.model,
        state: next.state,
        labels: JSON.stringify(next.labels),
        clusterId: next.clusterId,
        now: new Date().toISOString(),
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new NotFoundError('cluster', String(patch.clusterId));
      throw err;
    }
    return this.get(id)!;
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes === 1;
  }

  markSeen(id: string, at = new Date().toISOString()): void {
    this.#seen.run(at, id);
  }

  countByState(): Record<string, number> {
    return Object.fromEntries(this.#countByState.all().map((r) => [r.state, r.n]));
  }
}
