/**
 * Backups of the SQLite state. `create()` uses SQLite's online backup API (through
 * better-sqlite3) so writes continue while it copies, and the copy is one consistent
 * snapshot. Backups live in `<dataDir>/backups`, with a schedule and a retention count.
 * `restoreBackup()` checks that a file is one of ours, not from a newer schema and intact,
 * and replaces the database without ever writing outside the data directory.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { ControllerError, SchemaError } from '../api/errors.js';
import type { BackupInfo, EtcdSnapshotInfo } from '../api/system.js';
import type { Store } from '../store/index.js';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, identify } from '../store/index.js';

/** The database file name inside the data directory. */
export const DB_FILE = 'state.sqlite';
const PREFIX = 'pi-controller-';

export interface BackupManagerOptions {
  store: Store;
  dataDir: string;
  /** How many backups to keep (oldest removed first). */
  keep: number;
  log: Logger;
  /** Pages copied per step before yielding to the event loop (default 256). */
  pagesPerStep?: number;
  /**
   * Takes an etcd snapshot of a provisioned cluster and downloads it to `dir/file`, checked
   * (src/provision/k3s-ops.ts, given by the daemon); absent: backups cannot include one.
   */
  etcdSnapshot?: (cluster: string, dir: string, file: string) => Promise<EtcdSnapshotInfo>;
}

/** `<backup without .sqlite>.etcd-<cluster>.db` and its `.json` description, beside the backup. */
const ETCD_INFIX = '.etcd-';

export class BackupManager {
  readonly dir: string;
  readonly #o: BackupManagerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<BackupInfo> | undefined;

  constructor(o: BackupManagerOptions) {
    this.#o = o;
    this.dir = join(o.dataDir, 'backups');
  }

  /** Takes a backup now. Concurrent calls share one run. */
  create(label?: string, o: { etcdCluster?: string } = {}): Promise<BackupInfo> {
    if (o.etcdCluster !== undefined) return this.#withEtcd(label, o.etcdCluster);
    this.#running ??= this.#create(label).finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** A backup and an etcd snapshot beside it; when the snapshot fails, the backup is removed and the error thrown. */
  async #withEtcd(label: string | undefined, cluster: string): Promise<BackupInfo> {
    const take = this.#o.etcdSnapshot;
    if (!take)
      throw new ControllerError('UNAVAILABLE', 503, 'etcd snapshots need provisioning, which is not running in this process', {
        expose: true,
      });
    const info = await this.#create(label);
    const base = info.file.replace(/\.sqlite$/, '');
    const name = `${base}${ETCD_INFIX}${cluster.replace(/[^a-z0-9-]/gi, '_')}`;
    try {
      const snap = await take(cluster, this.dir, `${name}.db`);
      writeFileSync(join(this.dir, `${name}.json`), JSON.stringify(snap, null, 2) + '\n', { mode: 0o600 });
      this.#o.log.info({ file: snap.file, cluster: snap.cluster, bytes: snap.bytes }, 'etcd snapshot written');
    } catch (err) {
      for (const f of [info.file, `${name}.db`, `${name}.json`]) rmSync(join(this.dir, f), { force: true });
      throw err;
    }
    return this.#info(info.file);
  }

  async #create(label?: string): Promise<BackupInfo> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const at = new Date();
    const stamp = at
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.(\d{3})Z$/, '$1Z');
    const name = `${PREFIX}${stamp}${label ? `-${label}` : ''}.sqlite`;
    const tmp = join(this.dir, `.${name}.tmp`);
    try {
      // Copies a few pages per step and yields between steps, so requests keep being served.
      const pages = this.#o.pagesPerStep ?? 256;
      await this.#o.store.db.backup(tmp, { progress: () => pages });
      // The copy carries the live database's WAL flag in its header, so every later open (even
      // read-only) would create -wal and -shm files beside it. A backup is a single file: switch it
      // to the rollback journal (closing removes what this open created).
      const copy = new Database(tmp, { fileMustExist: true });
      copy.pragma('journal_mode = DELETE');
      copy.close();
      const fd = openSync(tmp, 'r');
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, join(this.dir, name));
    } catch (err) {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
      throw new ControllerError('BACKUP_FAILED', 500, 'backup failed', { cause: err });
    }
    this.#o.log.info({ file: name }, 'backup written');
    this.prune();
    return this.#info(name);
  }

  #info(name: string): BackupInfo {
    const path = join(this.dir, name);
    const st = statSync(path);
    let schemaVersion = 0;
    try {
      schemaVersion = readOnly(path, (db) => identify(db).schemaVersion);
    } catch {
      schemaVersion = 0;
    }
    const base = name.replace(/\.sqlite$/, '') + ETCD_INFIX;
    const etcdSnapshots = readdirSync(this.dir)
      .filter((f) => f.startsWith(base) && f.endsWith('.json'))
      .sort()
      .flatMap((f) => {
        try {
          return [JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as EtcdSnapshotInfo];
        } catch {
          return [];
        }
      });
    return {
      file: name,
      bytes: st.size,
      createdAt: st.mtime.toISOString(),
      schemaVersion,
      ...(etcdSnapshots.length > 0 ? { etcdSnapshots } : {}),
    };
  }

  /** Backups, newest first. */
  list(): BackupInfo[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.startsWith(PREFIX) && f.endsWith('.sqlite'))
      .sort()
      .reverse()
      .map((f) => this.#info(f));
  }

  /**
   * The etcd snapshots `ref` names: every one kept with the backup of that name (its file, with or
   * without `.sqlite`), or the one snapshot whose file it is; none for anything else (a path included).
   */
  findEtcdSnapshots(ref: string): { backup: string; path: string; info: EtcdSnapshotInfo }[] {
    const plain = (name: string) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
    if (!plain(ref)) return [];
    const of = (b: BackupInfo, s: EtcdSnapshotInfo) => ({ backup: b.file, path: join(this.dir, s.file), info: s });
    // Only snapshots whose file is a plain name in the backups folder (a description is never a way out of it).
    const snaps = (b: BackupInfo) => (b.etcdSnapshots ?? []).filter((s) => plain(s.file));
    const all = this.list();
    const backup = all.find((b) => b.file === ref || b.file === `${ref}.sqlite`);
    if (backup) return snaps(backup).map((s) => of(backup, s));
    for (const b of all) for (const s of snaps(b)) if (s.file === ref) return [of(b, s)];
    return [];
  }

  /** Removes the oldest backups beyond `keep`. */
  prune(): string[] {
    const names = readdirSync(this.dir)
      .filter((f) => f.startsWith(PREFIX) && f.endsWith('.sqlite'))
      .sort();
    const gone = names.slice(0, Math.max(0, names.length - this.#o.keep));
    for (const f of gone) {
      rmSync(join(this.dir, f));
      const etcd = f.replace(/\.sqlite$/, '') + ETCD_INFIX;
      for (const e of readdirSync(this.dir).filter((x) => x.startsWith(etcd))) rmSync(join(this.dir, e), { force: true });
    }
    return gone;
  }

  /** Backs up every `minutes` (0: never). */
  schedule(minutes: number): void {
    this.stop();
    if (minutes <= 0) return;
    this.#timer = setInterval(() => {
      this.create('scheduled').catch((err: unknown) => this.#o.log.error({ err }, 'scheduled backup failed'));
    }, minutes * 60_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Runs `fn` on `file` opened read-only. A file in WAL mode (a backup written before backups were
 * switched to the rollback journal) makes SQLite create -wal and -shm files beside it even when
 * read-only, and a read-only connection cannot remove them: the ones this open created (absent
 * before, the -wal still empty) are removed here.
 */
function readOnly<T>(file: string, fn: (db: Database.Database) => T): T {
  const fresh = ['-wal', '-shm'].filter((s) => !existsSync(file + s));
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return fn(db);
  } finally {
    db?.close();
    if (fresh.includes('-wal') && existsSync(`${file}-wal`) && statSync(`${file}-wal`).size === 0) {
      for (const s of fresh) rmSync(file + s, { force: true });
    }
  }
}

/** What a file says about itself, checked before it may replace the database. */
export function inspectBackup(file: string): { schemaVersion: number } {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(16);
  readSync(fd, head, 0, 16, 0);
  closeSync(fd);
  if (head.toString('latin1') !== 'SQLite format 3\u0000') throw new SchemaError('NOT_OUR_DATABASE', `${file} is not a SQLite database`);
  try {
    return readOnly(file, (db) => {
      const id = identify(db);
      if (id.applicationId !== APPLICATION_ID) throw new SchemaError('NOT_OUR_DATABASE', `${file} is not a pi-controller database`);
      if (id.schemaVersion > LATEST_SCHEMA_VERSION) {
        throw new SchemaError(
          'SCHEMA_TOO_NEW',
          `${file} has schema version ${id.schemaVersion}, newer than this pi-controller (${LATEST_SCHEMA_VERSION})`,
        );
      }
      const check = db.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new SchemaError('DATABASE_CORRUPT', `${file} fails the integrity check: ${String(check)}`);
      return { schemaVersion: id.schemaVersion };
    });
  } catch (err) {
    if (err instanceof SchemaError) throw err;
    throw new SchemaError('NOT_OUR_DATABASE', `${file} cannot be read as a pi-controller database`, { cause: err });
  }
}

/**
 * Replaces `<dataDir>/state.sqlite` with `source` (the server must be stopped). The current
 * database (with its WAL) is kept beside it as `state.sqlite.before-restore-<time>`.
 * Every file written is inside `dataDir`.
 */
export function restoreBackup(opts: { dataDir: string; source: string; log?: Logger }): { replaced: string | null; schemaVersion: number } {
  const dataDir = resolve(opts.dataDir);
  const inside = (p: string) => {
    const r = resolve(p);
    if (!(r === dataDir || r.startsWith(dataDir + sep)))
      throw new ControllerError('OUTSIDE_DATA_DIR', 400, `refusing to write ${r}: outside the data directory`);
    return r;
  };
  const { schemaVersion } = inspectBackup(opts.source);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const target = inside(join(dataDir, DB_FILE));
  const tmp = inside(join(dataDir, `.${DB_FILE}.restore.tmp`));
  copyFileSync(opts.source, tmp);
  const fd = openSync(tmp, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  let replaced: string | null = null;
  if (existsSync(target)) {
    const aside = inside(join(dataDir, `${DB_FILE}.before-restore-${new Date().toISOString().replace(/[-:.]/g, '')}`));
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(target + suffix)) renameSync(target + suffix, aside + suffix);
    replaced = basename(aside);
  }
  renameSync(tmp, target);
  opts.log?.info({ source: opts.source, replaced, schemaVersion }, 'database restored');
  return { replaced, schemaVersion };
}
