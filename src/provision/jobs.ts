/**
 * Provisioning jobs: one job is one host and a list of named, idempotent steps. Each step has a
 * `check` (is it done already?) and a `run`; a step runs only when its check says not done, and
 * must pass its check after running. The job, its steps (state, attempts, error) and their logs
 * (bounded per step) live in SQLite, and every change and log line goes out on the event bus.
 *
 * - Resume: a job left `queued` or `running` (the process died, the machine rebooted) is taken up
 *   again by `resume()`, which rebuilds its steps from its kind and params and walks them from the
 *   start: steps whose check says done are skipped, so work done before the crash is not redone.
 * - Retry: a dropped connection, a failed connect, a timeout or a failed step is retried (with a
 *   fresh connection, backoff with jitter, up to `retry.attempts` per step). Errors a retry cannot
 *   fix (HOST_KEY_MISMATCH, refused credentials, a diagnosis such as CGROUPS_NOT_ENABLED) stop the
 *   job at once.
 * - Cancel: stops between steps and interrupts a running command (its connection is closed).
 * - Parallel: jobs run side by side up to `concurrency`, the rest wait in order.
 * - Secrets (SSH or sudo password) are sealed with the SecretBox and stored beside the job, never
 *   in its params, so a resumed job still has them and the database copy alone does not reveal them.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Job, JobLogLine } from '../api/jobs.js';
import type { SecretBox } from '../core/ports.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/index.js';
import type { Store } from '../store/index.js';
import { PERMANENT, ProvisionError } from './errors.js';
import { SshSession, type ExecOptions, type ExecResult, type HostKeyPins, type SshOptions } from './ssh.js';

/** How a job reaches its host (stored in the job's params; secrets apart). */
export interface HostLogin {
  host: string;
  port?: number;
  user: string;
  /** Private key file on the control plane's machine. */
  identityFile?: string;
}

/** Secrets of a job, sealed at rest. */
export interface JobSecrets {
  password?: string;
  passphrase?: string;
  sudoPassword?: string;
}

/** What a step sees. */
export interface StepContext {
  readonly jobId: string;
  readonly login: HostLogin;
  readonly params: Record<string, unknown>;
  readonly signal: AbortSignal;
  /** The current session (a new one after a retry or `reconnect`). */
  readonly ssh: SshSession;
  /** Runs a command, logging it and its output under the step; resolves whatever the exit code. */
  exec(command: string, o?: ExecOptions): Promise<ExecResult>;
  /** Like `exec`, but a non-zero exit throws COMMAND_FAILED. */
  run(command: string, o?: ExecOptions): Promise<ExecResult>;
  log(text: string): void;
  /**
   * Drops the session and connects again, retrying until `deadlineMs` passes (for a host that is
   * rebooting): no fixed sleep, the first successful login wins.
   */
  reconnect(deadlineMs: number): Promise<SshSession>;
  /**
   * A session to another host of the same job (a cluster's other nodes): the job's pins, transport
   * and secrets, commands and output logged under the current step with the host's name in front.
   * Closed when the step's attempt ends (or the job is cancelled).
   */
  on(login: HostLogin): Promise<RemoteHost>;
}

/** Another host of a job, as a step sees it (see {@link StepContext.on}). */
export interface RemoteHost {
  readonly login: HostLogin;
  readonly ssh: SshSession;
  exec(command: string, o?: ExecOptions): Promise<ExecResult>;
  run(command: string, o?: ExecOptions): Promise<ExecResult>;
}

export interface Step {
  name: string;
  /** True when the step's work is done already (read-only). */
  check(ctx: StepContext): Promise<boolean>;
  run(ctx: StepContext): Promise<void>;
}

/** A kind of job: its steps, built from the job's params (again on resume). */
export interface JobDefinition {
  kind: string;
  steps(params: Record<string, unknown>): Step[];
}

export interface RetryPolicy {
  /** Attempts per step (default 5). */
  attempts: number;
  /** First backoff (default 1 s), doubled per attempt up to `maxMs` (default 15 s), with jitter. */
  baseMs: number;
  maxMs: number;
}

export interface JobRunnerDeps {
  store: Store;
  bus: EventBus;
  log: Logger;
  kinds: readonly JobDefinition[];
  secrets: SecretBox;
  /** Jobs running at once (default 4). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Opens the byte stream to a host instead of TCP (a jump host; the lab's namespaces in tests). */
  transport?: (host: string, port: number) => () => Promise<Duplex>;
  /** Extra session options (timeouts, output bounds). */
  ssh?: Partial<Pick<SshOptions, 'connectTimeoutMs' | 'maxOutputBytes' | 'agent'>>;
}

export interface SubmitOptions {
  login: HostLogin;
  params?: Record<string, unknown>;
  secrets?: JobSecrets;
  createdBy?: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

interface Active {
  abort: AbortController;
  session: SshSession | undefined;
  /** Sessions to the job's other hosts, open during the current step. */
  others: SshSession[];
}

const codeOf = (err: unknown): string => String((err as { code?: unknown }).code ?? 'STEP_FAILED');
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class JobRunner {
  readonly #d: JobRunnerDeps;
  readonly #kinds: Map<string, JobDefinition>;
  readonly #retry: RetryPolicy;
  readonly #queue: string[] = [];
  readonly #active = new Map<string, Active>();
  readonly #waiters = new Map<string, ((job: Job) => void)[]>();
  readonly #pins: HostKeyPins;
  #stopped = false;

  constructor(deps: JobRunnerDeps) {
    this.#d = deps;
    this.#kinds = new Map(deps.kinds.map((k) => [k.kind, k]));
    this.#retry = { attempts: 5, baseMs: 1_000, maxMs: 15_000, ...deps.retry };
    const repo = deps.store.provision;
    this.#pins = { get: (h, p) => repo.hostKey(h, p), pin: (h, p, f) => repo.pinHostKey(h, p, f) };
  }

  /** Queues a job of `kind` for one host. */
  submit(kind: string, o: SubmitOptions): Job {
    const def = this.#kinds.get(kind);
    if (!def) throw new ProvisionError('JOB_KIND_UNKNOWN', `no job kind ${kind}`);
    const params = { ...o.params, login: o.login };
    const steps = def.steps(params);
    const { store } = this.#d;
    const job = store.jobs.create({ kind, params }, o.createdBy ?? 'provisioner');
    store.provision.initSteps(
      job.id,
      steps.map((s) => s.name),
    );
    if (o.secrets && Object.keys(o.secrets).length > 0)
      store.provision.setSecrets(job.id, this.#d.secrets.seal(Buffer.from(JSON.stringify(o.secrets))));
    this.#d.bus.emit('job.created', job);
    this.#enqueue(job.id);
    return job;
  }

  /** Takes up every job left queued or running in the store (after a restart). Returns their ids. */
  resume(): string[] {
    const ids = this.#d.store.provision.unfinishedJobs().filter((id) => {
      const job = this.#d.store.jobs.get(id);
      // Only jobs this runner submitted (they carry a login); a job stored through POST /jobs is not ours to run.
      const submitted = typeof job?.params.login === 'object' && job.params.login !== null;
      return job !== undefined && submitted && this.#kinds.has(job.kind) && !this.#active.has(id) && !this.#queue.includes(id);
    });
    ids.forEach((id) => this.#enqueue(id));
    return ids;
  }

  /** Cancels a queued or running job. */
  cancel(id: string): Job {
    const running = this.#active.get(id);
    const job = this.#d.store.jobs.require(id);
    if (running) {
      running.abort.abort();
      running.session?.close();
      running.others.forEach((o) => o.close());
      return job;
    }
    const i = this.#queue.indexOf(id);
    if (i >= 0) this.#queue.splice(i, 1);
    return this.#finish(id, 'cancelled', 'JOB_CANCELLED: cancelled before it started');
  }

  /** Resolves with the job once it has finished (at once when it has). */
  wait(id: string): Promise<Job> {
    const job = this.#d.store.jobs.require(id);
    if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return Promise.resolve(job);
    return new Promise((resolve) => {
      const list = this.#waiters.get(id) ?? [];
      list.push(resolve);
      this.#waiters.set(id, list);
    });
  }

  /** Stops taking new jobs and interrupts running ones; they stay `running` in the store, to be resumed. */
  stop(): void {
    this.#stopped = true;
    for (const a of this.#active.values()) {
      a.abort.abort(new Error('stopping'));
      a.session?.close();
      a.others.forEach((o) => o.close());
    }
  }

  #enqueue(id: string): void {
    this.#queue.push(id);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#queue.length > 0 && this.#active.size < (this.#d.concurrency ?? 4)) {
      const id = this.#queue.shift()!;
      const entry: Active = { abort: new AbortController(), session: undefined, others: [] };
      this.#active.set(id, entry);
      void this.#run(id, entry)
        .catch((err: unknown) => this.#d.log.error({ err, job: id }, 'job runner failed'))
        .finally(() => {
          this.#active.delete(id);
          this.#pump();
        });
    }
  }

  #finish(id: string, state: 'succeeded' | 'failed' | 'cancelled', error: string | null): Job {
    const job = this.#d.store.jobs.setState(id, state, error);
    this.#d.bus.emit('job.updated', job);
    for (const w of this.#waiters.get(id) ?? []) w(job);
    this.#waiters.delete(id);
    return job;
  }

  async #run(id: string, entry: Active): Promise<void> {
    const { store, bus } = this.#d;
    const signal = entry.abort.signal;
    let job = store.jobs.require(id);
    if (job.state !== 'queued' && job.state !== 'running') return;
    const def = this.#kinds.get(job.kind)!;
    const login = job.params.login as HostLogin;
    const steps = def.steps(job.params);
    store.provision.initSteps(
      id,
      steps.map((s) => s.name),
    );
    job = store.jobs.setState(id, 'running');
    bus.emit('job.updated', job);
    const sealed = store.provision.secrets(id);
    const secrets = sealed ? (JSON.parse(this.#d.secrets.open(sealed).toString('utf8')) as JobSecrets) : {};

    let current = { idx: -1, name: 'job' };
    const log = (stream: JobLogLine['stream'], text: string) => {
      const line = store.provision.appendStepLog(id, current, stream, text);
      if (line) bus.emit('job.log', { jobId: id, line });
    };
    const open = (to: HostLogin) => this.#open(to, secrets);
    const connect = async () => {
      entry.session?.close();
      entry.session = undefined;
      const s = await open(login);
      if (signal.aborted) s.close();
      entry.session = s;
      return s;
    };
    const lines = (stream: 'stdout' | 'stderr', prefix = '') => {
      let rest = '';
      return {
        push: (text: string) => {
          const parts = (rest + text).split('\n');
          rest = parts.pop()!;
          parts.forEach((p) => log(stream, prefix + p));
        },
        flush: () => {
          if (rest) log(stream, prefix + rest);
          rest = '';
        },
      };
    };
    /** exec on `session`, logged (with `prefix` before every line) under the current step. */
    const loggedExec = async (session: SshSession, prefix: string, command: string, o: ExecOptions = {}) => {
      log('info', `${prefix}$ ${o.sudo ? 'sudo ' : ''}${command}`);
      const out = lines('stdout', prefix);
      const err = lines('stderr', prefix);
      try {
        return await session.exec(command, {
          ...o,
          onOutput: (s, text) => {
            (s === 'stdout' ? out : err).push(text);
            o.onOutput?.(s, text);
          },
        });
      } finally {
        out.flush();
        err.flush();
      }
    };
    const mustSucceed = (host: string, command: string, r: ExecResult) => {
      if (r.code !== 0)
        throw new ProvisionError('COMMAND_FAILED', `${host}: \`${command}\` exited with ${r.code ?? r.signal}`, {
          details: { ...r },
        });
      return r;
    };
    const ctx: StepContext = {
      jobId: id,
      login,
      params: job.params,
      signal,
      get ssh() {
        if (!entry.session) throw new ProvisionError('SSH_DISCONNECTED', `${login.host}: not connected`);
        return entry.session;
      },
      exec: (command, o) => loggedExec(ctx.ssh, '', command, o),
      run: async (command, o) => mustSucceed(login.host, command, await ctx.exec(command, o)),
      on: async (to) => {
        const session = await open(to);
        entry.others.push(session);
        if (signal.aborted) session.close();
        const prefix = `[${to.host}] `;
        const exec = (command: string, o?: ExecOptions) => loggedExec(session, prefix, command, o);
        return { login: to, ssh: session, exec, run: async (command, o) => mustSucceed(to.host, command, await exec(command, o)) };
      },
      log: (text) => log('info', text),
      reconnect: async (deadlineMs) => {
        const until = Date.now() + deadlineMs;
        let last: unknown;
        for (let i = 0; Date.now() < until && !signal.aborted; i++) {
          try {
            return await connect();
          } catch (err) {
            if (PERMANENT.has(codeOf(err))) throw err;
            last = err;
            await sleep(Math.min(500 * 2 ** i, 5_000, Math.max(0, until - Date.now())), signal);
          }
        }
        throw new ProvisionError(
          'REBOOT_TIMEOUT',
          `${login.host}: no SSH login within ${deadlineMs} ms (${last ? messageOf(last) : 'cancelled'})`,
          {
            cause: last,
          },
        );
      },
    };

    const cancelled = () => signal.aborted || store.jobs.get(id)?.state === 'cancelled';
    const closeOthers = () => entry.others.splice(0).forEach((o) => o.close());
    try {
      for (let idx = 0; idx < steps.length; idx++) {
        const step = steps[idx]!;
        current = { idx, name: step.name };
        for (let attempt = 1; ; attempt++) {
          if (cancelled()) throw new ProvisionError('JOB_CANCELLED', 'cancelled');
          try {
            if (!entry.session || entry.session.closed) await connect();
            if (await step.check(ctx)) {
              const before = store.provision.steps(id)[idx];
              store.provision.endStep(id, idx, before?.state === 'succeeded' || (before?.attempts ?? 0) > 0 ? 'succeeded' : 'skipped');
              log('info', `${step.name}: done already`);
              closeOthers();
              break;
            }
            store.provision.startStep(id, idx);
            log('info', `${step.name}: running (attempt ${attempt})`);
            await step.run(ctx);
            if (!(await step.check(ctx)))
              throw new ProvisionError('STEP_FAILED', `${step.name}: ran, but its check still says it is not done`);
            store.provision.endStep(id, idx, 'succeeded');
            log('info', `${step.name}: succeeded`);
            closeOthers();
            break;
          } catch (err) {
            if (cancelled()) throw new ProvisionError('JOB_CANCELLED', 'cancelled', { cause: err });
            const code = codeOf(err);
            if (PERMANENT.has(code) || attempt >= this.#retry.attempts) {
              store.provision.endStep(id, idx, 'failed', { code, message: messageOf(err) });
              log('stderr', `${step.name}: failed: ${code}: ${messageOf(err)}`);
              throw err;
            }
            closeOthers();
            const wait = Math.min(this.#retry.baseMs * 2 ** (attempt - 1), this.#retry.maxMs) * (0.75 + Math.random() / 2);
            log('stderr', `${step.name}: attempt ${attempt} failed: ${code}: ${messageOf(err)}; retrying in ${Math.round(wait)} ms`);
            entry.session?.close();
            entry.session = undefined;
            await sleep(wait, signal);
          }
        }
      }
      this.#finish(id, 'succeeded', null);
    } catch (err) {
      const code = codeOf(err);
      if (this.#stopped) return; // Left running in the store: the next start resumes it.
      if (code === 'JOB_CANCELLED' || cancelled()) {
        if (current.idx >= 0 && store.provision.steps(id)[current.idx]?.state === 'running')
          store.provision.endStep(id, current.idx, 'cancelled');
        if (store.jobs.get(id)?.state !== 'cancelled') this.#finish(id, 'cancelled', 'JOB_CANCELLED: cancelled');
        else for (const w of this.#waiters.get(id) ?? []) w(store.jobs.require(id));
        return;
      }
      this.#finish(id, 'failed', `${code}: ${messageOf(err)}`);
    } finally {
      entry.session?.close();
      entry.session = undefined;
      closeOthers();
    }
  }

  /** A session to `to` with the runner's pins, transport and session options, and the secrets of `to`'s job. */
  #open(to: HostLogin, secrets: JobSecrets): Promise<SshSession> {
    const port = to.port ?? 22;
    return SshSession.connect({
      host: to.host,
      port,
      user: to.user,
      pins: this.#pins,
      log: this.#d.log,
      ...this.#d.ssh,
      ...(to.identityFile ? { privateKey: readFileSync(to.identityFile) } : {}),
      ...(secrets.password !== undefined ? { password: secrets.password } : {}),
      ...(secrets.passphrase !== undefined ? { passphrase: secrets.passphrase } : {}),
      ...(secrets.sudoPassword !== undefined ? { sudoPassword: secrets.sudoPassword } : {}),
      ...(this.#d.transport ? { sock: this.#d.transport(to.host, port) } : {}),
    });
  }

  /**
   * A session to a host outside any running job (a provisioned node's journal, an etcd snapshot),
   * reached as job `jobId` reached it: its login, its sealed secrets, the same pinned host keys and
   * transport. The caller closes it.
   */
  connect(to: HostLogin, jobId: string): Promise<SshSession> {
    const sealed = this.#d.store.provision.secrets(jobId);
    const secrets = sealed ? (JSON.parse(this.#d.secrets.open(sealed).toString('utf8')) as JobSecrets) : {};
    return this.#open(to, secrets);
  }

  /** Steps of a job as stored. */
  steps(id: string) {
    return this.#d.store.provision.steps(id);
  }
}
