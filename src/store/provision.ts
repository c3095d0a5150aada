/**
 * Provisioning's tables: the steps of a job (state, attempts, error), their bounded logs (in
 * job_logs, tagged with the step), a job's sealed secrets, and the SSH host keys pinned for hosts.
 */
import type { Database } from 'better-sqlite3';
import type { JobLogLine } from '../api/jobs.js';
import { nowIso } from './sql.js';

export type StepState = 'pending' | 'running' | 'succeeded' | 'skipped' | 'failed' | 'cancelled';

export interface StepRecord {
  jobId: string;
  idx: number;
  name: string;
  state: StepState;
  attempts: number;
  errorCode: string | null;
  error: string | null;
  logBytes: number;
  startedAt: string | null;
  finishedAt: string | null;
}

interface StepRow {
  job_id: string;
  idx: number;
  name: string;
  state: string;
  attempts: number;
  error_code: string | null;
  error: string | null;
  log_bytes: number;
  started_at: string | null;
  finished_at: string | null;
}

const toStep = (r: StepRow): StepRecord => ({
  jobId: r.job_id,
  idx: r.idx,
  name: r.name,
  state: r.state as StepState,
  attempts: r.attempts,
  errorCode: r.error_code,
  error: r.error,
  logBytes: r.log_bytes,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** Bytes of log kept per step (the rest is counted and dropped); and per line. */
export const STEP_LOG_BYTES = 64 * 1024;
export const LOG_LINE_BYTES = 4096;

export class ProvisionRepo {
  readonly #db;
  readonly #steps;
  readonly #insertStep;
  readonly #startStep;
  readonly #endStep;
  readonly #addLogBytes;
  readonly #appendLog;
  readonly #nextSeq;
  readonly #setSecrets;
  readonly #secrets;
  readonly #pin;
  readonly #pinned;
  readonly #discoveryPin;
  readonly #unpin;
  readonly #unfinished;

  constructor(db: Database) {
    this.#db = db;
    this.#steps = db.prepare<[string], StepRow>('SELECT * FROM job_steps WHERE job_id = ? ORDER BY idx');
    this.#insertStep = db.prepare('INSERT OR IGNORE INTO job_steps (job_id, idx, name) VALUES (?, ?, ?)');
    this.#startStep = db.prepare(
      "UPDATE job_steps SET state = 'running', attempts = attempts + 1, error_code = NULL, error = NULL, started_at = coalesce(started_at, ?), finished_at = NULL WHERE job_id = ? AND idx = ?",
    );
    this.#endStep = db.prepare('UPDATE job_steps SET state = ?, error_code = ?, error = ?, finished_at = ? WHERE job_id = ? AND idx = ?');
    this.#addLogBytes = db.prepare('UPDATE job_steps SET log_bytes = log_bytes + ? WHERE job_id = ? AND idx = ?');
    this.#appendLog = db.prepare('INSERT INTO job_logs (job_id, seq, at, stream, line, step) VALUES (?, ?, ?, ?, ?, ?)');
    this.#nextSeq = db.prepare<[string], { s: number }>('SELECT coalesce(max(seq), 0) + 1 AS s FROM job_logs WHERE job_id = ?');
    this.#setSecrets = db.prepare('UPDATE jobs SET secrets = ? WHERE id = ?');
    this.#secrets = db.prepare<[string], { secrets: Buffer | null }>('SELECT secrets FROM jobs WHERE id = ?');
    this.#pin = db.prepare('INSERT INTO ssh_host_keys (host, port, fingerprint, pinned_at) VALUES (?, ?, ?, ?)');
    this.#pinned = db.prepare<[string, number], { fingerprint: string }>(
      'SELECT fingerprint FROM ssh_host_keys WHERE host = ? AND port = ?',
    );
    this.#discoveryPin = db.prepare<[string], { f: string }>(
      'SELECT host_key_fingerprint AS f FROM discovery WHERE address = ? AND host_key_fingerprint IS NOT NULL ORDER BY last_seen_at DESC LIMIT 1',
    );
    this.#unpin = db.prepare('DELETE FROM ssh_host_keys WHERE host = ? AND port = ?');
    this.#unfinished = db.prepare<[], { id: string }>("SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id");
  }

  /** Records a job's step list (steps already recorded keep their state). */
  initSteps(jobId: string, names: readonly string[]): void {
    this.#db.transaction(() => names.forEach((n, i) => this.#insertStep.run(jobId, i, n)))();
  }

  steps(jobId: string): StepRecord[] {
    return this.#steps.all(jobId).map(toStep);
  }

  startStep(jobId: string, idx: number): void {
    this.#startStep.run(nowIso(), jobId, idx);
  }

  endStep(jobId: string, idx: number, state: Exclude<StepState, 'running' | 'pending'>, error?: { code: string; message: string }): void {
    this.#endStep.run(state, error?.code ?? null, error?.message ?? null, nowIso(), jobId, idx);
  }

  /**
   * Appends a log line of a step, unless the step's log is full: lines are cut at
   * {@link LOG_LINE_BYTES}, and past {@link STEP_LOG_BYTES} one line says so and the rest is dropped.
   * Returns the stored line (with its job-wide sequence number), or undefined when dropped.
   */
  appendStepLog(jobId: string, step: { idx: number; name: string }, stream: JobLogLine['stream'], text: string): JobLogLine | undefined {
    return this.#db.transaction(() => {
      const used = this.#steps.all(jobId).find((s) => s.idx === step.idx)?.log_bytes ?? 0;
      if (used >= STEP_LOG_BYTES) return undefined;
      let line =
        Buffer.byteLength(text) > LOG_LINE_BYTES ? Buffer.from(text).subarray(0, LOG_LINE_BYTES).toString('utf8') + ' [cut]' : text;
      let s = stream;
      const bytes = Buffer.byteLength(line);
      if (used + bytes > STEP_LOG_BYTES) {
        line = `[log of step ${step.name} truncated at ${STEP_LOG_BYTES} bytes]`;
        s = 'info';
        this.#addLogBytes.run(STEP_LOG_BYTES - used, jobId, step.idx);
      } else this.#addLogBytes.run(bytes, jobId, step.idx);
      const seq = this.#nextSeq.get(jobId)!.s;
      const at = nowIso();
      this.#appendLog.run(jobId, seq, at, s, line, step.name);
      return { seq, at, stream: s, line };
    })();
  }

  setSecrets(jobId: string, sealed: Buffer | null): void {
    this.#setSecrets.run(sealed, jobId);
  }

  secrets(jobId: string): Buffer | null {
    return this.#secrets.get(jobId)?.secrets ?? null;
  }

  /**
   * The host key fingerprint pinned for `host:port`: provisioning's own pin, else (port 22) the one
   * discovery's probe pinned for a machine at that address.
   */
  hostKey(host: string, port: number): string | undefined {
    return this.#pinned.get(host, port)?.fingerprint ?? (port === 22 ? this.#discoveryPin.get(host)?.f : undefined);
  }

  /** Pins a fingerprint on first contact; a pin that exists already is left as it is. */
  pinHostKey(host: string, port: number, fingerprint: string): void {
    if (!this.#pinned.get(host, port)) this.#pin.run(host, port, fingerprint, nowIso());
  }

  /** Forgets a pin (after a deliberate reinstall of the host). */
  unpinHostKey(host: string, port: number): boolean {
    return this.#unpin.run(host, port).changes > 0;
  }

  /** Jobs that were queued or running (when the process stopped), oldest first. */
  unfinishedJobs(): string[] {
    return this.#unfinished.all().map((r) => r.id);
  }
}
