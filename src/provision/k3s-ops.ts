/**
 * Running a provisioned K3s cluster over SSH: a host's service journal and etcd snapshots. Both
 * reach a host the way provisioning did: the login (user, port, key file) and the sealed secrets
 * of the lifecycle job that made the host a member (`cluster.create` or `cluster.add-node`), the
 * same pinned host keys and the same transport (JobRunner.connect). No second way in.
 *
 * Journal: `journalctl -u <unit> -n <lines> --no-pager -o short-iso [-f]` as root. The unit must
 * match {@link UNIT_PATTERN} (400 INVALID_UNIT otherwise) and is still quoted with `shq`. Bounded:
 * at most {@link MAX_JOURNAL_LINES} lines asked for, at most `maxBytes` sent (the rest cut at a
 * line end, and said), a follow ends after `followSeconds` (the far side's `timeout` kills
 * journalctl) or when the reader goes away: then journalctl gets TERM and the channel and session
 * are closed.
 *
 * etcd snapshots: `k3s etcd-snapshot save --name <name>` on the first server, as root; the file it
 * wrote (the newest in <data-dir>/server/db/snapshots/ whose name starts with `<name>-`) is
 * downloaded over SFTP and its SHA-256 compared with the far side's (SshSession.download).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerError } from '../api/errors.js';
import type { Store } from '../store/index.js';
import { ProvisionError } from './errors.js';
import type { HostLogin, JobRunner } from './jobs.js';
import { CLUSTER_CREATE_KIND, hostTool, pathsOf, type ClusterCreateParams } from './k3s.js';
import { CLUSTER_ADD_NODE_KIND, clusterMembers, type AddNodeParams } from './k3s-lifecycle.js';
import { cmd } from './quote.js';
import type { SshSession } from './ssh.js';

/** systemd unit names as this accepts them: a letter or digit, then letters, digits, `@ . _ : -`; 1-128 characters. */
export const UNIT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$/;
export const MAX_JOURNAL_LINES = 10_000;
/** Bytes of journal sent per request by default (a follow included). */
export const DEFAULT_JOURNAL_BYTES = 4 * 1024 * 1024;
/** How long a follow lasts at most by default. */
export const DEFAULT_FOLLOW_SECONDS = 3600;

/** 400 INVALID_UNIT unless `unit` is a plain unit name. */
export function validateUnit(unit: string): string {
  if (!UNIT_PATTERN.test(unit))
    throw new ControllerError('INVALID_UNIT', 400, `unit ${JSON.stringify(unit)} is not a unit name (${UNIT_PATTERN.source})`, {
      expose: true,
      details: { unit },
    });
  return unit;
}

/** The journalctl command line for `unit` (validated here too); `journalctl` is its path when not on the PATH. */
export function journalCommand(unit: string, lines: number, follow: boolean, journalctl = 'journalctl'): string {
  validateUnit(unit);
  if (!Number.isInteger(lines) || lines < 0 || lines > MAX_JOURNAL_LINES)
    throw new ProvisionError('INVALID_ARGUMENT', `lines must be an integer from 0 to ${MAX_JOURNAL_LINES}`);
  return cmd(journalctl, '-u', unit, '-n', lines, '--no-pager', '-o', 'short-iso', ...(follow ? ['-f'] : []));
}

/**
 * A follow that ends when its reader leaves: `journal` runs in the background while `cat` waits on
 * the command's stdin, which the SSH channel holds open (ExecOptions.holdStdin); when the reader
 * goes, the channel closes, `cat` sees the end of its input and `kill 0` ends the command's whole
 * process group (coreutils' `timeout` made it), journalctl and anything it started included. A
 * signal over the channel could not do this: under sudo the processes are root's.
 */
export function followCommand(journal: string): string {
  return `${journal} & cat > /dev/null; kill 0`;
}

/** A snapshot name as K3s takes it for `--name` (the file is `<name>-<node>-<unix time>`). */
export const SNAPSHOT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface ClusterHost {
  host: string;
  role: 'server' | 'agent';
  user: string;
  port: number;
}

export interface JournalRequest {
  unit: string;
  lines: number;
  follow: boolean;
  /** Default {@link DEFAULT_JOURNAL_BYTES}. */
  maxBytes?: number;
  /** Default {@link DEFAULT_FOLLOW_SECONDS}. */
  followSeconds?: number;
}

/** The journal as it comes: text chunks ending at line ends; `return()` (or breaking a for-await) stops it and closes the connection. */
export interface Journal {
  host: string;
  unit: string;
  chunks: AsyncIterableIterator<string>;
}

export interface EtcdSnapshotFile {
  cluster: string;
  clusterId: string;
  server: string;
  /** Where K3s keeps it on the server. */
  remotePath: string;
  /** The local copy. */
  file: string;
  bytes: number;
  sha256: string;
  takenAt: string;
}

export interface OpsDeps {
  store: Store;
  runner: JobRunner;
  /** Prefix of every path per host (tests only: the lab's fake roots). */
  roots?: Record<string, string>;
}

/** A member of the cluster with the lifecycle job whose login and secrets reach it. */
function member(store: Store, clusterId: string, hostOrNode: string): { login: HostLogin; role: 'server' | 'agent'; jobId: string } {
  const cluster = store.clusters.require(clusterId);
  const m = clusterMembers(store, cluster.id);
  const all = [...m.servers.map((l) => ({ l, role: 'server' as const })), ...m.agents.map((l) => ({ l, role: 'agent' as const }))];
  let hit = all.find((x) => x.l.host === hostOrNode);
  if (!hit) {
    const node = store.nodes.find(hostOrNode);
    if (node?.address) hit = all.find((x) => x.l.host === node.address);
  }
  if (!hit)
    throw new ProvisionError('NOT_A_MEMBER', `${hostOrNode} is not a host of cluster ${cluster.name}`, {
      details: { cluster: cluster.name, host: hostOrNode },
    });
  // The newest succeeded job that joined this host: its secrets are the ones that reached it.
  const jobs = [CLUSTER_CREATE_KIND, CLUSTER_ADD_NODE_KIND]
    .flatMap((kind) => store.jobs.list({ kind, state: 'succeeded', limit: 10_000 }).items)
    .filter((j) => j.params.clusterId === cluster.id)
    .filter((j) => {
      if (j.kind === CLUSTER_ADD_NODE_KIND) return (j.params as unknown as AddNodeParams).host.host === hit.l.host;
      const p = j.params as unknown as ClusterCreateParams;
      return [...p.servers, ...p.agents].some((h) => h.host === hit.l.host);
    })
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return { login: hit.l, role: hit.role, jobId: jobs[0]!.id };
}

/** Text chunks pushed by a callback, read as an async iterator; `end` with an error rethrows it to the reader. */
class Chunks implements AsyncIterableIterator<string> {
  readonly #queue: string[] = [];
  #waiting: ((r: IteratorResult<string>) => void) | undefined;
  #failWaiting: ((err: unknown) => void) | undefined;
  #done = false;
  #error: unknown;
  constructor(private readonly onReturn: () => void) {}
  push(text: string): void {
    if (this.#done) return;
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w({ value: text, done: false });
    } else this.#queue.push(text);
  }
  end(err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    if (this.#waiting) {
      const w = this.#waiting;
      const f = this.#failWaiting!;
      this.#waiting = undefined;
      if (err !== undefined) f(err);
      else w({ value: undefined, done: true });
    }
  }
  next(): Promise<IteratorResult<string>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#done) return this.#error !== undefined ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failWaiting = reject;
    });
  }
  return(): Promise<IteratorResult<string>> {
    this.#queue.length = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<string> {
    return this;
  }
}

export function k3sOps(deps: OpsDeps) {
  const paths = (host: string) => pathsOf(deps.roots?.[host] ?? '/');
  const connect = (m: ReturnType<typeof member>) => deps.runner.connect(m.login, m.jobId);

  return {
    /** The cluster's hosts as its lifecycle jobs left them. */
    hosts(clusterId: string): ClusterHost[] {
      const m = clusterMembers(deps.store, deps.store.clusters.require(clusterId).id);
      const row = (l: HostLogin, role: 'server' | 'agent'): ClusterHost => ({ host: l.host, role, user: l.user, port: l.port ?? 22 });
      return [...m.servers.map((l) => row(l, 'server')), ...m.agents.map((l) => row(l, 'agent'))];
    },

    /**
     * Starts reading a host's journal. Rejects (nothing streamed yet) with 404 NOT_A_MEMBER, 400
     * INVALID_UNIT, the SSH codes (SSH_CONNECT_FAILED for a host that does not answer,
     * HOST_KEY_MISMATCH, ...) or 502 JOURNAL_FAILED when journalctl fails before printing.
     */
    async journal(clusterId: string, hostOrNode: string, q: JournalRequest): Promise<Journal> {
      validateUnit(q.unit);
      const m = member(deps.store, clusterId, hostOrNode);
      const journal = journalCommand(q.unit, q.lines, q.follow, hostTool(paths(m.login.host), 'journalctl'));
      const command = q.follow ? followCommand(journal) : journal;
      const maxBytes = q.maxBytes ?? DEFAULT_JOURNAL_BYTES;
      const session: SshSession = await connect(m);
      const abort = new AbortController();
      const close = () => {
        abort.abort();
        session.close();
      };
      const chunks = new Chunks(close);
      let sent = 0;
      let rest = '';
      let printed = false;
      /** Whole lines only, and no more than maxBytes in all. */
      const take = (text: string) => {
        const parts = (rest + text).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const size = Buffer.byteLength(line) + 1;
          if (sent + size > maxBytes) {
            chunks.push(`-- cut: the journal sent here is limited to ${maxBytes} bytes --\n`);
            chunks.end();
            close();
            return;
          }
          sent += size;
          printed = true;
          chunks.push(line + '\n');
        }
      };
      let started: (() => void) | undefined;
      const running = session
        .exec(command, {
          sudo: true,
          holdStdin: q.follow,
          timeoutMs: q.follow ? (q.followSeconds ?? DEFAULT_FOLLOW_SECONDS) * 1000 : 60_000,
          signal: abort.signal,
          onOutput: (stream, text) => {
            if (stream !== 'stdout') return;
            take(text);
            started?.();
          },
        })
        .then(
          (r) => {
            if (rest) take('\n');
            if (r.code !== 0 && r.code !== null && !printed && !abort.signal.aborted)
              throw new ProvisionError(
                'JOURNAL_FAILED',
                `${m.login.host}: \`${command}\` exited with ${r.code}: ${r.stderr.trim().slice(-500)}`,
              );
          },
          (err: unknown) => {
            // A follow that ran its time out ends like one that the reader closed, whether or not the unit printed anything
            // (a quiet unit's follow with a bound shorter than the 3 s start grace failed with COMMAND_TIMEOUT).
            if ((err as { code?: string }).code === 'COMMAND_TIMEOUT' && q.follow) return;
            throw err;
          },
        );
      // The first output (or the end) decides between a stream and an error the caller can still send as a status.
      const first = await Promise.race([
        running.then(
          () => ({ ok: true as const }),
          (err: unknown) => ({ ok: false as const, err }),
        ),
        new Promise<{ ok: true }>((resolve) => {
          started = () => resolve({ ok: true });
          // A quiet follow starts streaming anyway once journalctl has had time to fail.
          if (q.follow) setTimeout(started, 3_000).unref();
        }),
      ]);
      if (!first.ok) {
        close();
        throw first.err;
      }
      running.then(
        () => {
          chunks.end();
          session.close();
        },
        (err: unknown) => {
          chunks.end(err);
          session.close();
        },
      );
      return { host: m.login.host, unit: q.unit, chunks };
    },

    /**
     * Takes an etcd snapshot on the cluster's first server (`k3s etcd-snapshot save --name`),
     * downloads it into `dir` as `file` with its SHA-256 checked, and says what was taken.
     */
    async etcdSnapshot(clusterId: string, dir: string, file: string, name = 'pi-controller'): Promise<EtcdSnapshotFile> {
      const cluster = deps.store.clusters.require(clusterId);
      if (!SNAPSHOT_NAME_PATTERN.test(name)) throw new ProvisionError('INVALID_ARGUMENT', `snapshot name ${JSON.stringify(name)}`);
      const first = clusterMembers(deps.store, cluster.id).servers[0];
      if (!first) throw new ProvisionError('CLUSTER_NOT_PROVISIONED', `cluster ${cluster.name} has no server to take an etcd snapshot on`);
      const m = member(deps.store, cluster.id, first.host);
      const P = paths(first.host);
      const snapshots = `${P.data}/server/db/snapshots`;
      const session = await connect(m);
      try {
        const save = await session.exec(cmd(P.k3s, 'etcd-snapshot', 'save', '--name', name, ...P.flags.slice(0, 2)), {
          sudo: true,
          timeoutMs: 300_000,
        });
        if (save.code !== 0)
          throw new ProvisionError(
            'ETCD_SNAPSHOT_FAILED',
            `${first.host}: k3s etcd-snapshot save exited with ${save.code}: ${save.stderr.trim().slice(-500)}`,
          );
        // The newest file of this name: K3s names it <name>-<node>-<unix time>.
        const ls = await session.exec(cmd('ls', '-1t', '--', snapshots), { sudo: true, timeoutMs: 30_000 });
        const remote = ls.stdout.split('\n').find((f) => f.startsWith(`${name}-`));
        if (ls.code !== 0 || !remote)
          throw new ProvisionError('ETCD_SNAPSHOT_FAILED', `${first.host}: no ${name}-* snapshot in ${snapshots} after the save`);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const local = join(dir, file);
        const remotePath = `${snapshots}/${remote}`;
        const got = await session.download(remotePath, local, { sudo: true, timeoutMs: 300_000 });
        return {
          cluster: cluster.name,
          clusterId: cluster.id,
          server: first.host,
          remotePath,
          file,
          bytes: got.bytes,
          sha256: got.sha256,
          takenAt: new Date().toISOString(),
        };
      } finally {
        session.close();
      }
    },
  };
}

export type K3sOps = ReturnType<typeof k3sOps>;
