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
import { HealthRepo } from './health.js';
import { JobRepo } from './jobs.js';
import { NodeRepo } from './nodes.js';
import { ProvisionRepo } from './provision.js';
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
  readonly provision: ProvisionRepo;
  /** Pi health history (bounded per node). */
  readonly health: HealthRepo;
  /** Work waiting for the outermost `tx` to commit (dropped if it, or the savepoint that queued it, rolls back). */
  readonly #afterCommit: (() => void)[] = [];
  /** Depth of `tx` calls in progress. */
  #depth = 0;

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
    this.provision = new ProvisionRepo(db);
    this.health = new HealthRepo(db);
  }

  /**
   * Runs `fn` in one transaction (nested calls become savepoints). Work queued with
   * `afterCommit` during `fn` runs once the outermost transaction has committed, in order;
   * what a rolled-back transaction or savepoint queued is dropped with it.
   */
  tx<T>(fn: () => T): T {
    const mark = this.#afterCommit.length;
    let result: T;
    this.#depth++;
    try {
      result = this.db.transaction(fn)();
    } catch (err) {
      this.#afterCommit.length = mark;
      throw err;
    } finally {
      this.#depth--;
    }
    if (this.#depth === 0) this.#runAfterCommit();
    return result;
  }

  /**
   * Runs `fn` when the current `tx` commits, or now when no `tx` is in progress. `fn` runs
   * after the data is durable, so it must not throw (the bus catches its listeners' errors);
   * if one does, the rest still run and the first error is rethrown at the end.
   */
  afterCommit(fn: () => void): void {
    if (this.#depth > 0) this.#afterCommit.push(fn);
    else fn();
  }

  #runAfterCommit(): void {
    // Take the queue first: work that runs a transaction of its own flushes only what that queued.
    const queue = this.#afterCommit.splice(0);
    let first: unknown;
    let failed = false;
    for (const fn of queue) {
      try {
        fn();
      } catch (err) {
        if (!failed) first = err;
        failed = true;
      }
    }
    if (failed) throw first;
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
