/** Event log: every bus event is kept (bounded by `retain`) so stream clients can resume by sequence. */
import type { Database } from 'better-sqlite3';
import type { EventEnvelope, EventType } from '../api/events.js';

export class EventRepo {
  readonly #insert;
  readonly #since;
  readonly #trim;
  readonly #max;
  readonly #retain: number;
  #sinceTrim = 0;

  constructor(db: Database, retain = 10_000) {
    this.#retain = retain;
    this.#insert = db.prepare('INSERT INTO events (at, type, data) VALUES (?, ?, ?)');
    this.#since = db.prepare<[number, number], { seq: number; at: string; type: string; data: string }>(
      'SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.#trim = db.prepare('DELETE FROM events WHERE seq <= ?');
    this.#max = db.prepare<[], { s: number | null }>('SELECT max(seq) AS s FROM events');
  }

  /** Stores one event and returns its envelope with the assigned sequence number. */
  append<K extends EventType>(type: K, data: EventEnvelope<K>['data']): EventEnvelope<K> {
    const at = new Date().toISOString();
    const seq = Number(this.#insert.run(at, type, JSON.stringify(data)).lastInsertRowid);
    // Trim in batches rather than on every insert.
    if (++this.#sinceTrim >= 100) {
      this.#sinceTrim = 0;
      this.#trim.run(seq - this.#retain);
    }
    return { seq, at, type, data };
  }

  since(seq: number, limit = 1000): EventEnvelope[] {
    return this.#since
      .all(seq, limit)
      .map((r) => ({ seq: r.seq, at: r.at, type: r.type as EventType, data: JSON.parse(r.data) as EventEnvelope['data'] }));
  }

  lastSeq(): number {
    return this.#max.get()!.s ?? 0;
  }
}
