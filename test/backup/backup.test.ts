import t from 'tap';
import { existsSync, mkdirSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BackupManager, restoreBackup, inspectBackup, DB_FILE } from '../../src/backup/index.js';
import { openStore, openDatabase, MIGRATIONS } from '../../src/store/index.js';
import { silentLogger } from '../../src/log/index.js';
import { tempDir } from '../support/tmp.js';
import { startServer } from '../support/server.js';

t.test('a backup taken under write load is consistent and restores', async (t) => {
  const dataDir = tempDir(t);
  const store = openStore({ file: join(dataDir, DB_FILE) });
  t.teardown(() => store.close());
  // Enough data that the backup takes many steps, with writes landing between them.
  store.tx(() => {
    for (let i = 0; i < 20_000; i++) store.nodes.create({ name: `seed-${i}`, labels: { pad: 'x'.repeat(60) } });
  });
  const mgr = new BackupManager({ store, dataDir, keep: 3, log: silentLogger(), pagesPerStep: 16 });
  let written = 0;
  let stop = false;
  // Each write is one transaction that adds a node and a job: a consistent snapshot has equal counts.
  const writer = (async () => {
    while (!stop && written < 50_000) {
      store.tx(() => {
        store.nodes.create({ name: `w-${written}` });
        store.jobs.create({ kind: 'w.x', params: { i: written } }, 'test');
      });
      written++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  const before = written;
  const info = await mgr.create('load');
  const during = written - before;
  stop = true;
  await writer;
  t.ok(during > 0, `${during} write transactions committed while the backup ran`);
  const file = join(mgr.dir, info.file);
  const b = new Database(file, { readonly: true });
  t.equal(b.pragma('integrity_check', { simple: true }), 'ok');
  const nodes = (b.prepare("SELECT count(*) AS n FROM nodes WHERE name LIKE 'w-%'").get() as { n: number }).n;
  const jobs = (b.prepare("SELECT count(*) AS n FROM jobs WHERE kind = 'w.x'").get() as { n: number }).n;
  b.close();
  t.equal(nodes, jobs, `snapshot is transaction-consistent (${nodes} pairs)`);
  t.ok(nodes >= before, 'every write acknowledged before the backup started is in it');

  const target = tempDir(t);
  restoreBackup({ dataDir: target, source: file });
  const restored = openStore({ file: join(target, DB_FILE) });
  t.equal(restored.nodes.list({ limit: 1 }).total, 20_000 + nodes);
  restored.close();
});

t.test('retention keeps the newest N', async (t) => {
  const dataDir = tempDir(t);
  const store = openStore({ file: join(dataDir, DB_FILE) });
  t.teardown(() => store.close());
  const mgr = new BackupManager({ store, dataDir, keep: 2, log: silentLogger() });
  const a = await mgr.create('a');
  await new Promise((r) => setTimeout(r, 5));
  const b = await mgr.create('b');
  await new Promise((r) => setTimeout(r, 5));
  const c = await mgr.create('c');
  t.same(
    mgr.list().map((x) => x.file),
    [c.file, b.file],
  );
  t.notOk(existsSync(join(mgr.dir, a.file)));
});

t.test('restore refuses what is not ours, newer, or corrupt, and writes only in the data directory', async (t) => {
  const dir = tempDir(t);
  const notSqlite = join(dir, 'x.sqlite');
  writeFileSync(notSqlite, 'hello world, not a database');
  t.throws(() => inspectBackup(notSqlite), { code: 'NOT_OUR_DATABASE' });
  const foreign = join(dir, 'foreign.sqlite');
  const f = new Database(foreign);
  f.exec('CREATE TABLE t (x)');
  f.close();
  t.throws(() => restoreBackup({ dataDir: join(dir, 'data'), source: foreign }), { code: 'NOT_OUR_DATABASE' });
  const newer = join(dir, 'newer.sqlite');
  openDatabase({ file: newer, migrations: [...MIGRATIONS, { version: 99, name: 'future', sql: 'CREATE TABLE f (x);' }] }).close();
  t.throws(() => restoreBackup({ dataDir: join(dir, 'data'), source: newer }), { code: 'SCHEMA_TOO_NEW' });
  t.notOk(existsSync(join(dir, 'data', DB_FILE)), 'nothing was written');

  // A good one: the current database is kept aside, with its WAL.
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const s = openStore({ file: join(dataDir, DB_FILE) });
  s.nodes.create({ name: 'current' });
  s.close();
  const good = join(dir, 'good.sqlite');
  const g = openStore({ file: good });
  g.nodes.create({ name: 'from-backup' });
  g.db.pragma('wal_checkpoint(TRUNCATE)');
  g.close();
  const r = restoreBackup({ dataDir, source: good });
  t.match(r.replaced, /^state\.sqlite\.before-restore-/);
  const after = openStore({ file: join(dataDir, DB_FILE) });
  t.same(
    after.nodes.list().items.map((n) => n.name),
    ['from-backup'],
  );
  after.close();
  t.ok(
    readdirSync(dataDir).every((f) => f.startsWith('state.sqlite')),
    `only database files in the data directory: ${readdirSync(dataDir).join(', ')}`,
  );

  // A truncated copy of a good database fails the checks.
  const torn = join(dir, 'torn.sqlite');
  copyFileSync(good, torn);
  writeFileSync(torn, Buffer.alloc(100), { flag: 'r+' });
  t.throws(() => inspectBackup(torn));
});

t.test('POST /api/v1/backups takes a backup; GET lists it', async (t) => {
  const s2 = await startServer(t, (store, dir) => ({ backups: new BackupManager({ store, dataDir: dir, keep: 5, log: silentLogger() }) }));
  const r = await s2.req('POST', '/api/v1/backups', { body: { label: 'manual' } });
  t.equal(r.status, 201);
  t.match(r.body.file, /^pi-controller-.*-manual\.sqlite$/);
  t.equal((await s2.req('GET', '/api/v1/backups')).body.items.length >= 1, true);
  t.equal((await s2.req('POST', '/api/v1/backups', { token: s2.operator, body: {} })).status, 403);
  const none = await startServer(t);
  t.equal((await none.req('POST', '/api/v1/backups', { body: {} })).status, 503);
});

/** Files beside `file` that SQLite leaves when it opens a WAL database: its -wal and -shm. */
const sidecars = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('-wal') || f.endsWith('-shm'));

t.test('backups leave no -wal or -shm files beside them', async (t) => {
  const dataDir = tempDir(t);
  const store = openStore({ file: join(dataDir, DB_FILE) });
  t.teardown(() => store.close());
  store.nodes.create({ name: 'kept' });
  const mgr = new BackupManager({ store, dataDir, keep: 5, log: silentLogger() });
  const info = await mgr.create('side');
  t.same(sidecars(mgr.dir), [], 'none after create');
  t.equal(mgr.list().length, 1);
  t.same(sidecars(mgr.dir), [], 'none after list');
  const file = join(mgr.dir, info.file);
  const b = new Database(file, { readonly: true });
  t.equal(b.pragma('journal_mode', { simple: true }), 'delete', 'the copy is a plain rollback-journal database');
  b.close();
  t.same(sidecars(mgr.dir), [], 'none after opening the copy read-only');
  const target = tempDir(t);
  restoreBackup({ dataDir: target, source: file });
  t.same(sidecars(mgr.dir), [], 'none after restoring from it');
  const restored = openStore({ file: join(target, DB_FILE) });
  t.same(
    restored.nodes.list().items.map((n) => n.name),
    ['kept'],
  );
  restored.close();
});

t.test('checking a backup in WAL mode (as older versions wrote them) leaves no -wal or -shm behind', async (t) => {
  const dir = tempDir(t);
  const old = join(dir, 'old.sqlite');
  const g = openStore({ file: old });
  g.nodes.create({ name: 'old' });
  g.db.pragma('wal_checkpoint(TRUNCATE)');
  g.close();
  t.same(sidecars(dir), [], 'a closed store leaves none');
  t.equal(inspectBackup(old).schemaVersion > 0, true);
  t.same(sidecars(dir), [], 'none after the check');
});
