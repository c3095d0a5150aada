/**
 * Desired GPIO/PWM/I2C state per node. Each object has a generation that grows on every
 * spec change (like a Kubernetes object's metadata.generation) and a status that the agent
 * link fills in. A pin (shared by GPIO and PWM) or an I2C bus+address is claimed by at most
 * one object per node: the unique index `hw_desired_claim` enforces it.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../api/errors.js';
import type { HwKind, HwObject, HwSpecs, HwStatus } from '../api/hardware.js';
import { isUniqueViolation, nowIso } from './sql.js';

interface Row {
  id: string;
  node_id: string;
  kind: string;
  name: string;
  generation: number;
  spec: string;
  status: string;
  created_at: string;
  updated_at: string;
  claim: string;
}

function toObj<K extends HwKind>(r: Row): HwObject<K> {
  return {
    id: r.id,
    kind: r.kind as K,
    name: r.name,
    nodeId: r.node_id,
    generation: r.generation,
    spec: JSON.parse(r.spec) as HwSpecs[K],
    status: JSON.parse(r.status) as HwStatus,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The resource an object claims on its node. */
export function claimOf<K extends HwKind>(kind: K, spec: HwSpecs[K]): string {
  if (kind === 'i2c') {
    const s = spec as HwSpecs['i2c'];
    return `i2c:${s.bus}:${s.address}`;
  }
  return `pin:${(spec as HwSpecs['gpio' | 'pwm']).pin}`;
}

/**
 * JSON with object keys in sorted order and undefined members left out (as JSON.stringify
 * does): two values that differ only in key order give the same text. The API server sends
 * custom resources with their keys sorted, whatever order they were written in.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Whether two specs are equal (whatever the order of their keys). */
export function sameSpec(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Status of an object no agent has reported on yet. */
const PENDING: HwStatus = { phase: 'Pending', reason: 'NoAgent', observedGeneration: 0, updatedAt: null };

export class HardwareRepo {
  readonly #insert;
  readonly #get;
  readonly #list;
  readonly #replace;
  readonly #setStatus;
  readonly #delete;
  readonly #byClaim;
  readonly #rename;
  readonly #byName;

  constructor(db: Database) {
    this.#insert = db.prepare(
      'INSERT INTO hw_desired (id, node_id, kind, name, generation, spec, status, created_at, updated_at, claim) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)',
    );
    this.#get = db.prepare<[string, string, string], Row>('SELECT * FROM hw_desired WHERE node_id = ? AND kind = ? AND name = ?');
    this.#list = db.prepare<[string, string], Row>('SELECT * FROM hw_desired WHERE node_id = ? AND kind = ? ORDER BY name');
    this.#replace = db.prepare('UPDATE hw_desired SET spec = ?, claim = ?, generation = generation + 1, updated_at = ? WHERE id = ?');
    this.#setStatus = db.prepare('UPDATE hw_desired SET status = ? WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM hw_desired WHERE id = ?');
    this.#byName = db.prepare<[string, string], Row>('SELECT * FROM hw_desired WHERE kind = ? AND name = ? ORDER BY node_id');
    this.#rename = db.prepare('UPDATE hw_desired SET name = ?, updated_at = ? WHERE id = ?');
    this.#byClaim = db.prepare<[string, string], { kind: string; name: string }>(
      'SELECT kind, name FROM hw_desired WHERE node_id = ? AND claim = ?',
    );
  }

  #conflict(nodeId: string, kind: HwKind, name: string, claim: string, err: unknown): never {
    const holder = this.#byClaim.get(nodeId, claim);
    if (holder) throw new ConflictError(`${claim} is already claimed by ${holder.kind}/${holder.name}`, { claim, holder });
    throw new ConflictError(`${kind}/${name} exists on this node`, { kind, name, cause: String(err) });
  }

  create<K extends HwKind>(nodeId: string, kind: K, name: string, spec: HwSpecs[K]): HwObject<K> {
    const now = nowIso();
    const claim = claimOf(kind, spec);
    try {
      this.#insert.run(randomUUID(), nodeId, kind, name, JSON.stringify(spec), JSON.stringify(PENDING), now, now, claim);
    } catch (err) {
      if (isUniqueViolation(err)) this.#conflict(nodeId, kind, name, claim, err);
      throw err;
    }
    return this.require(nodeId, kind, name);
  }

  require<K extends HwKind>(nodeId: string, kind: K, name: string): HwObject<K> {
    const r = this.#get.get(nodeId, kind, name);
    if (!r) throw new NotFoundError(kind, name);
    return toObj<K>(r);
  }

  list<K extends HwKind>(nodeId: string, kind: K): HwObject<K>[] {
    return this.#list.all(nodeId, kind).map((r) => toObj<K>(r));
  }

  /** Objects of one kind and name on any node. */
  findByName<K extends HwKind>(kind: K, name: string): HwObject<K>[] {
    return this.#byName.all(kind, name).map((r) => toObj<K>(r));
  }

  /** Replaces the spec; the generation grows only when the spec really changes. */
  replace<K extends HwKind>(nodeId: string, kind: K, name: string, spec: HwSpecs[K]): HwObject<K> {
    const cur = this.require(nodeId, kind, name);
    if (sameSpec(cur.spec, spec)) return cur;
    const claim = claimOf(kind, spec);
    try {
      this.#replace.run(JSON.stringify(spec), claim, nowIso(), cur.id);
    } catch (err) {
      if (isUniqueViolation(err)) this.#conflict(nodeId, kind, name, claim, err);
      throw err;
    }
    return this.require(nodeId, kind, name);
  }

  /** Written by the agent link when the agent reports what it applied. */
  setStatus(id: string, status: HwStatus): void {
    this.#setStatus.run(JSON.stringify(status), id);
  }

  /**
   * Gives an object a new name, keeping its id, spec, generation, status and claim (used when
   * the naming of objects made for custom resources changes).
   * @throws ConflictError when `to` exists on the node; NotFoundError when `from` does not.
   */
  rename(nodeId: string, kind: HwKind, from: string, to: string): HwObject {
    const cur = this.require(nodeId, kind, from);
    try {
      this.#rename.run(to, nowIso(), cur.id);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`${kind}/${to} exists on this node`, { kind, name: to });
      throw err;
    }
    return this.require(nodeId, kind, to);
  }

  delete(nodeId: string, kind: HwKind, name: string): HwObject {
    const cur = this.require(nodeId, kind, name);
    this.#delete.run(cur.id);
    return cur;
  }
}
