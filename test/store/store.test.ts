import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore, openDatabase, LATEST_SCHEMA_VERSION, MIGRATIONS, APPLICATION_ID } from '../../src/store/index.js';
import { tempDir } from '../support/tmp.js';

t.test('migrations', async (t) => {
  t.test('creates a fresh database at the latest version, in WAL mode, marked as ours', async (t) => {
    const file = join(tempDir(t), 'a.sqlite');
    const s = openStore({ file });
    t.teardown(() => s.close());
    t.equal(s.schemaVersion(), LATEST_SCHEMA_VERSION);
    t.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
    t.equal(s.db.pragma('application_id', { simple: true }), APPLICATION_ID);
  });

  t.test('is idempotent: a second open applies nothing and keeps data', async (t) => {
    const file = join(tempDir(t), 'a.sqlite');
    const a = openStore({ file });
    a.nodes.create({ name: 'pi1' });
    a.close();
    const b = openStore({ file });
    t.teardown(() => b.close());
    t.equal(b.nodes.list().total, 1);
    t.equal((b.db.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n, MIGRATIONS.length);
  });

  t.test('applies a later migration on top of an existing database', async (t) => {
    const file = join(tempDir(t), 'a.sqlite');
    openStore({ file }).close();
    const next = [...MIGRATIONS, { version: LATEST_SCHEMA_VERSION + 1, name: 'extra', sql: 'CREATE TABLE extra (x INTEGER) STRICT;' }];
    const db = openDatabase({ file, migrations: next });
    t.teardown(() => db.close());
    t.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'extra'").get());
  });

  t.test('refuses a database with a newer schema, without changing it', async (t) => {
    const file = join(tempDir(t), 'a.sqlite');
    const db = openDatabase({
      file,
      migrations: [...MIGRATIONS, { version: 999, name: 'future', sql: 'CREATE TABLE future (x INTEGER);' }],
    });
    db.close();
    t.throws(() => openStore({ file }), { code: 'SCHEMA_TOO_NEW' });
    const raw = new Database(file, { readonly: true });
    t.equal((raw.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v, 999);
    raw.close();
  });

  t.test('refuses a SQLite file that is not ours', async (t) => {
    const file = join(tempDir(t), 'other.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE foo (x)');
    raw.close();
    t.throws(() => openStore({ file }), { code: 'NOT_OUR_DATABASE' });
  });

  t.test('a failing migration leaves the version where it was', async (t) => {
    const file = join(tempDir(t), 'a.sqlite');
    openStore({ file }).close();
    t.throws(() =>
      openDatabase({
        file,
        migrations: [
          ...MIGRATIONS,
          { version: LATEST_SCHEMA_VERSION + 1, name: 'bad', sql: 'CREATE TABLE ok1 (x); SELECT nope FROM missing;' },
        ],
      }),
    );
    const s = openStore({ file });
    t.teardown(() => s.close());
    t.equal(s.schemaVersion(), LATEST_SCHEMA_VERSION);
    t.notOk(s.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'ok1'").get(), 'the partial migration was rolled back');
  });
});

t.test('repositories', async (t) => {
  const s = openStore({ file: join(tempDir(t), 's.sqlite') });
  t.teardown(() => s.close());

  t.test('nodes: create, find by id or name, patch, conflict, delete', async (t) => {
    const n = s.nodes.create({ name: 'pi-a', address: '10.0.0.2', labels: { role: 'edge' } });
    t.equal(s.nodes.find('pi-a')?.id, n.id);
    t.equal(s.nodes.find(n.id)?.name, 'pi-a');
    t.throws(() => s.nodes.create({ name: 'pi-a' }), { code: 'CONFLICT' });
    t.throws(() => s.nodes.create({ name: 'pi-z', clusterId: 'nope' }), { code: 'NOT_FOUND' });
    const u = s.nodes.update(n.id, { state: 'ready', address: null });
    t.equal(u.state, 'ready');
    t.equal(u.address, null);
    t.same(u.labels, { role: 'edge' }, 'absent fields are left alone');
    t.same(s.nodes.countByState(), { ready: 1 });
    s.nodes.create({ name: 'pi-b', mac: 'dc:a6:32:00:00:02' });
    for (const q of [{}, { state: 'ready' as const }, { limit: 1, offset: 1 }]) {
      t.equal(s.nodes.listJson(q), JSON.stringify(s.nodes.list(q)), `listJson matches list for ${JSON.stringify(q)}`);
    }
    s.nodes.delete(s.nodes.require('pi-b').id);
    t.ok(s.nodes.delete(n.id));
    t.notOk(s.nodes.delete(n.id));
  });

  t.test('tokens: hashed, verified, revoked, expired', async (t) => {
    const { token, info } = s.tokens.create('ci', 'operator', 'test');
    t.match(token, /^pct_[0-9a-f]{16}_/);
    const row = s.db.prepare('SELECT hash FROM tokens WHERE id = ?').get(info.id) as { hash: Buffer };
    t.notOk(row.hash.toString('latin1').includes(token.split('_')[2]!), 'the secret is not stored');
    t.equal(s.tokens.verify(token)?.role, 'operator');
    t.equal(s.tokens.verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), undefined, 'a wrong secret fails');
    t.equal(s.tokens.verify('garbage'), undefined);
    s.tokens.revoke(info.id);
    t.equal(s.tokens.verify(token), undefined, 'a revoked token fails');
    t.throws(() => s.tokens.revoke(info.id), { code: 'NOT_FOUND' });
    const short = s.tokens.create('short', 'viewer', 'test', 60);
    t.ok(s.tokens.verify(short.token));
    t.equal(s.tokens.verify(short.token, Date.now() + 61_000), undefined, 'an expired token fails');
  });

  t.test('tokens: a verified token is held briefly, and revocation still ends it at once', async (t) => {
    const { token, info } = s.tokens.create('burst', 'viewer', 'test');
    const now = Date.now();
    t.equal(s.tokens.verify(token, now)?.id, info.id);
    t.equal(
      s.tokens.verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), now),
      undefined,
      'a wrong secret fails while the row is held',
    );
    t.ok(Object.isFrozen(s.tokens.verify(token, now)), 'the shared caller info cannot be changed by a request');
    s.tokens.revoke(info.id);
    t.equal(s.tokens.verify(token, now), undefined, 'revoked through the repository: refused on the next call');
    // A revocation written by another connection (not through this repository) shows once the held row is stale.
    const other = s.tokens.create('elsewhere', 'viewer', 'test');
    t.ok(s.tokens.verify(other.token, now));
    s.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(new Date(now).toISOString(), other.info.id);
    t.equal(s.tokens.verify(other.token, now + 2_000), undefined, 'refused once the held row is 2 s old');
  });

  t.test('jobs: states, logs in order, no change after finishing', async (t) => {
    const j = s.jobs.create({ kind: 'node.prepare', params: { x: 1 } }, 'test');
    t.equal(j.state, 'queued');
    t.ok(s.jobs.setState(j.id, 'running').startedAt);
    t.equal(s.jobs.appendLog(j.id, 'stdout', 'one').seq, 1);
    t.equal(s.jobs.appendLog(j.id, 'stderr', 'two').seq, 2);
    t.same(
      s.jobs.logs(j.id, 1).map((l) => l.line),
      ['two'],
    );
    t.ok(s.jobs.setState(j.id, 'succeeded').finishedAt);
    t.throws(() => s.jobs.setState(j.id, 'running'), { code: 'CONFLICT' });
  });

  t.test('hardware: one claim per pin across GPIO and PWM, generations', async (t) => {
    const n = s.nodes.create({ name: 'hw' });
    const g = s.hardware.create(n.id, 'gpio', 'led', { pin: 17, mode: 'output', value: 1 });
    t.equal(g.generation, 1);
    t.throws(() => s.hardware.create(n.id, 'pwm', 'fan', { pin: 17, frequencyHz: 25000, dutyCycle: 0.5 }), {
      code: 'CONFLICT',
      message: /pin:17 .*gpio\/led/,
    });
    t.throws(() => s.hardware.create(n.id, 'gpio', 'led', { pin: 18, mode: 'input' }), { code: 'CONFLICT' });
    t.equal(s.hardware.replace(n.id, 'gpio', 'led', { pin: 17, mode: 'output', value: 1 }).generation, 1, 'same spec keeps the generation');
    t.equal(s.hardware.replace(n.id, 'gpio', 'led', { pin: 17, mode: 'output', value: 0 }).generation, 2);
    s.hardware.create(n.id, 'i2c', 'bme', { bus: 1, address: 0x76 });
    t.throws(() => s.hardware.create(n.id, 'i2c', 'bme2', { bus: 1, address: 0x76 }), { code: 'CONFLICT' });
    s.nodes.delete(n.id);
    t.same(s.hardware.list(n.id, 'gpio'), [], 'deleting a node drops its desired state');
  });

  t.test('events: sequence numbers grow and survive trimming', async (t) => {
    const first = s.events.append('node.deleted', { id: 'x', name: 'x' });
    const second = s.events.append('node.deleted', { id: 'y', name: 'y' });
    t.equal(second.seq, first.seq + 1);
    t.same(
      s.events.since(first.seq).map((e) => e.seq),
      [second.seq],
    );
  });

  t.test('audit and discovery', async (t) => {
    s.audit.record({
      actorId: null,
      actorName: 'x',
      action: 'node.create',
      method: 'POST',
      path: '/api/v1/nodes',
      status: 201,
      target: 'n1',
      detail: { a: 1 },
    });
    t.same(s.audit.list()[0]?.detail, { a: 1 });
    const a = s.discovery.upsert({ address: '10.0.0.9', source: 'mdns', hostname: 'raspberrypi' });
    const b = s.discovery.upsert({ address: '10.0.0.9', source: 'scan', mac: 'dc:a6:32:00:00:01' });
    t.equal(a.id, b.id);
    t.equal(b.hostname, 'raspberrypi', 'a later sighting keeps what it did not see');
    t.equal(b.mac, 'dc:a6:32:00:00:01');
  });
});
