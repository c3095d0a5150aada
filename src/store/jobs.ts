/** Job repository: jobs and their log lines. */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../api/errors.js';
import type { Job, JobCreate, JobListQuery, JobLogLine, JobState } from '../api/jobs.js';
import { nowIso } from './sql.js';

interface Row {
  id: string;
  kind: string;
  state: string;
  target: string;
  params: string;
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const toJob = (r: Row): Job => ({
  id: r.id,
  kind: r.kind,
  state: r.state as JobState,
  target: JSON.parse(r.target) as Job['target'],
  params: JSON.parse(r.params) as Record<string, unknown>,
  error: r.error,
  createdBy: r.created_by,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const FINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

export class JobRepo {
  readonly #db;
  readonly #byId;
  readonly #insert;
  readonly #setState;
  readonly #list;
  readonly #count;
  readonly #countByState;
  readonly #appendLog;
  readonly #nextSeq;
  readonly #logs;

  constructor(db: Database) {
    this.#db = db;
    this.#byId = db.prepare<[string], Row>('SELECT * FROM jobs WHERE id = ?');
    this.#insert = db.prepare('INSERT INTO jobs (id, kind, state, target, params, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#setState = db.prepare(
      "UPDATE jobs SET state = @state, error = @error, started_at = CASE WHEN @state = 'running' AND started_at IS NULL THEN @now ELSE started_at END, finished_at = CASE WHEN @final THEN @now ELSE finished_at END WHERE id = @id",
    );
    this.#list = db.prepare<[{ state: string | null; kind: string | null; limit: number; offset: number }], Row>(
      'SELECT * FROM jobs WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind) ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset',
    );
    this.#count = db.prepare<[{ state: string | null; kind: string | null }], { n: number }>(
      'SELECT count(*) AS n FROM jobs WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)',
    );
    this.#countByState = db.prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM jobs GROUP BY state');
    this.#appendLog = db.prepare('INSERT INTO job_logs (job_id, seq, at, stream, line) VALUES (?, ?, ?, ?, ?)');
    this.#nextSeq = db.prepare<[string], { s: number }>('SELECT coalesce(max(seq), 0) + 1 AS s FROM job_logs WHERE job_id = ?');
    this.#logs = db.prepare<[string, number, number], { seq: number; at: string; stream: string; line: string }>(
      'SELECT seq, at, stream, line FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
  }

  create(input: JobCreate, createdBy: string): Job {
    const id = randomUUID();
    this.#insert.run(id, input.kind, 'queued', JSON.stringify(input.target ?? {}), JSON.stringify(input.params ?? {}), createdBy, nowIso());
    return this.get(id)!;
  }

  get(id: string): Job | undefined {
    const r = this.#byId.get(id);
    return r && toJob(r);
  }

  require(id: string): Job {
    const j = this.get(id);
    if (!j) throw new NotFoundError('job', id);
    return j;
  }

  list(q: JobListQuery = {}): { items: Job[]; total: number } {
    const s = q.state ?? null;
    const k = q.kind ?? null;
    return {
      items: this.#list.all({ state: s, kind: k, limit: q.limit ?? 100, offset: q.offset ?? 0 }).map(toJob),
      total: this.#count.get({ state: s, kind: k })!.n,
    };
  }

  /** Moves a job to a new state. A finished job cannot change again. */
  setState(id: string, state: JobState, error: string | null = null): Job {
    const cur = this.require(id);
    if (FINAL.has(cur.state)) throw new ConflictError(`job ${id} is already ${cur.state}`, { state: cur.state });
    this.#setState.run({ id, state, error, now: nowIso(), final: FINAL.has(state) ? 1 : 0 });
    return this.get(id)!;
  }

  /** Appends one log line and returns it with its sequence number. */
  appendLog(jobId: string, stream: JobLogLine['stream'], line: string): JobLogLine {
    return this.#db.transaction(() => {
      this.require(jobId);
      const seq = this.#nextSeq.get(jobId)!.s;
      const at = nowIso();
      this.#appendLog.run(jobId, seq, at, stream, line);
      return { seq, at, stream, line };
    })();
  }

  logs(jobId: string, after = 0, limit = 1000): JobLogLine[] {
    this.require(jobId);
    return this.#logs.all(jobId, after, limit).map((r) => ({ ...r, stream: r.stream as JobLogLine['stream'] }));
  }

  countByState(): Record<string, number> {
    return Object.fromEntries(this.#countByState.all().map((r) => [r.state, r.n]));
  }
}
