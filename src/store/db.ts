/**
 * Opening the SQLite database: pragmas, the migration runner and the guards that refuse a
 * database that is not ours or was written by a newer pi-controller.
 */
import Database from 'better-sqlite3';
import type { Database as DB } from 'better-sqlite3';
import type { Logger } from 'pino';
import { SchemaError } from '../api/errors.js';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js';

export interface OpenOptions {
  /** Path of the database file (created if absent). */
  file: string;
  log?: Logger;
  /** Migrations to apply; defaults to the built-in list (tests pass their own). */
  migrations?: readonly Migration[];
  /** Open without writing anything (no migrations); used to inspect backups. */
  readonly?: boolean;
}

/** What a database file says about itself. */
export interface DbIdentity {
  applicationId: number;
  schemaVersion: number;
}

/** Reads application_id and the highest migration version, without changing anything. */
export function identify(db: DB): DbIdentity {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  const schemaVersion = hasTable
    ? ((db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0)
    : 0;
  return { applicationId, schemaVersion };
}

/**
 * Opens (creating if needed) and migrates the database. WAL mode with synchronous=FULL:
 * a committed transaction survives a crash of the process and of the machine.
 * @throws SchemaError `NOT_OUR_DATABASE` or `SCHEMA_TOO_NEW`
 */
export function openDatabase(opts: OpenOptions): DB {
  const migrations = opts.migrations ?? MIGRATIONS;
  const db = new Database(opts.file, opts.readonly ? { readonly: true, fileMustExist: true } : {});
  try {
    db.pragma('busy_timeout = 5000');
    if (opts.readonly) return db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, opts.log);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Applies every pending migration, each in its own transaction. Returns the versions applied. */
export function migrate(db: DB, migrations: readonly Migration[] = MIGRATIONS, log?: Logger): number[] {
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  const { applicationId, schemaVersion } = identify(db);
  const empty = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
  if (applicationId !== APPLICATION_ID && !(applicationId === 0 && empty.n === 0)) {
    throw new SchemaError('NOT_OUR_DATABASE', `the database is not a pi-controller database (application_id ${applicationId})`);
  }
  if (schemaVersion > latest) {
    throw new SchemaError(
      'SCHEMA_TOO_NEW',
      `the database has schema version ${schemaVersion}, newer than this pi-controller understands (${latest}); upgrade pi-controller`,
    );
  }
  if (applicationId === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT',
  );
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= schemaVersion) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    })();
    log?.info({ version: m.version, name: m.name }, 'applied migration');
    applied.push(m.version);
  }
  return applied;
}

export { LATEST_SCHEMA_VERSION };
