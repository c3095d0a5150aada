/**
 * The store: the one place that holds control-plane state. `openStore()` opens and migrates
 * the SQLite file and builds one repository per table group, all sharing the connection.
 */
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { AuditRepo } from './audit.js';
import { ClusterRepo } from './clusters.js';
import { identify, openDatabase } from './db.js';
import { DiscoveryRepo } from './discovery.js';
import { EventRepo } from './events.js';
import { HardwareRepo } from './hardware.js';
import { JobRepo } from './jobs.js';
import { NodeRepo } from './nodes.js';
import { TokenRepo } from './tokens.js';

export interface StoreOptions {
  /** SQLite file path. */
  file: string;
  log?: Logger;
  /** How many events to keep for stream resumption (default 10000). */
  eventRetention?: number;
}

export class Store {
  readonly db: Database;
  readonly file: string;
  readonly nodes: NodeRepo;
  readonly clusters: ClusterRepo;
  readonly jobs: JobRepo;
  readonly tokens: TokenRepo;
  readonly events: EventRepo;
  readonly audit: AuditRepo;
  readonly discovery: DiscoveryRepo;
  readonly hardware: HardwareRepo;

  constructor(db: Database, file: string, eventRetention = 10_000) {
    this.db = db;
    this.file = file;
    this.nodes = new NodeRepo(db);
    this.clusters = new ClusterRepo(db);
    this.jobs = new JobRepo(db);
    this.tokens = new TokenRepo(db);
    this.events = new EventRepo(db, eventRetention);
    this.audit = new AuditRepo(db);
    this.discovery = new DiscoveryRepo(db);
    this.hardware = new HardwareRepo(db);
  }

  /** Runs `fn` in one transaction (nested calls become savepoints). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  schemaVersion(): number {
    return identify(this.db).schemaVersion;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Opens (creating and migrating) the database file and returns the store. */
export function openStore(opts: StoreOptions): Store {
  return new Store(openDatabase({ file: opts.file, ...(opts.log ? { log: opts.log } : {}) }), opts.file, opts.eventRetention);
}

export { openDatabase, identify, migrate } from './db.js';
export { APPLICATION_ID, LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
