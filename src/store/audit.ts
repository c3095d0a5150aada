/** Audit log: one row per mutation, with who did it and what. */
import type { Database } from 'better-sqlite3';
import type { AuditEntry } from '../api/system.js';
import { nowIso } from './sql.js';

export interface AuditRecord {
  actorId: string | null;
  actorName: string;
  action: string;
  method: string;
  path: string;
  status: number;
  target: string | null;
  detail?: unknown;
}

interface Row {
  id: number;
  at: string;
  actor_id: string | null;
  actor_name: string;
  action: string;
  method: string;
  path: string;
  status: number;
  target: string | null;
  detail: string;
}

export class AuditRepo {
  readonly #insert;
  readonly #list;

  constructor(db: Database) {
    this.#insert = db.prepare(
      'INSERT INTO audit_log (at, actor_id, actor_name, action, method, path, status, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#list = db.prepare<[{ actor: string | null; before: number; limit: number }], Row>(
      'SELECT * FROM audit_log WHERE (@actor IS NULL OR actor_id = @actor) AND id < @before ORDER BY id DESC LIMIT @limit',
    );
  }

  record(r: AuditRecord): void {
    this.#insert.run(nowIso(), r.actorId, r.actorName, r.action, r.method, r.path, r.status, r.target, JSON.stringify(r.detail ?? null));
  }

  list(q: { actorId?: string; before?: number; limit?: number } = {}): AuditEntry[] {
    return this.#list.all({ actor: q.actorId ?? null, before: q.before ?? Number.MAX_SAFE_INTEGER, limit: q.limit ?? 100 }).map((r) => ({
      id: r.id,
      at: r.at,
      actorId: r.actor_id,
      actorName: r.actor_name,
      action: r.action,
      method: r.method,
      path: r.path,
      status: r.status,
      target: r.target,
      detail: JSON.parse(r.detail) as unknown,
    }));
  }
}
