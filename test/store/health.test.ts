/** The Pi health history: which reports become samples, the bound per node, and the reads. */
import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { HealthRepo } from '../../src/store/health.js';
import { health } from '../support/health.js';
import { tempDir } from '../support/tmp.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
t.test('health history', async (t) => {
  const store = openStore({ file: join(tempDir(t), 'h.sqlite') });
  t.teardown(() => store.close());
  const a = store.nodes.create({ name: 'pi-a' }).id;
  const b = store.nodes.create({ name: 'pi-b' }).id;

  t.test('a report becomes a sample after the period, or at once when a flag changes', async (t) => {
    const repo = new HealthRepo(store.db, { sampleMs: 30_000, keep: 100 });
    t.ok(repo.record(a, health(50), T0), 'the first report');
    t.notOk(repo.record(a, health(51), T0 + 5_000), 'not 5 s later with the same flags');
    t.ok(repo.record(a, health(52, { underVoltage: true }), T0 + 10_000), 'under-voltage: at once');
    t.ok(repo.record(a, health(52, { underVoltage: false }), T0 + 12_000), 'and when it clears');
    t.ok(repo.record(a, health(53), T0 + 42_000), 'the period passed');
    t.same(
      repo.ofNode(a).map((s) => [s.socTempC, s.underVoltage]),
      [
        [50, false],
        [52, true],
        [52, false],
        [53, false],
      ],
      'oldest first, with the flags of the time',
    );
    const noFlags = repo.ofNode(a)[0]!;
    t.equal(noFlags.at, new Date(T0).toISOString());
    t.ok(repo.record(b, health(null, null), T0), 'a board without temperature or firmware flags');
    t.match(repo.ofNode(b)[0], { socTempC: null, underVoltage: null, throttled: null, frequencyCapped: null }, 'stored as unknown');
  });

  t.test('each node keeps its latest N samples; the reads are bounded too', async (t) => {
    const repo = new HealthRepo(store.db, { sampleMs: 1_000, keep: 5 });
    for (let i = 0; i < 12; i++) repo.record(a, health(60 + i), T0 + 100_000 + i * 1_000);
    const kept = repo.ofNode(a, 100);
    t.equal(kept.length, 5, 'five kept');
    t.same(
      kept.map((s) => s.socTempC),
      [67, 68, 69, 70, 71],
      'the newest five, oldest first',
    );
    t.equal(repo.ofNode(a, 2).length, 2);
    t.same(
      repo.all(3).map((h) => [h.node, h.samples.map((s) => s.socTempC)]),
      [
        ['pi-a', [69, 70, 71]],
        ['pi-b', [null]],
      ],
      'every node by name, its latest samples each',
    );
    t.equal(store.health.all().length, 2, "the store's own repository reads the same table");
  });

  t.test("a removed node's samples go with it", async (t) => {
    store.nodes.delete(b);
    t.same(
      store.health.all().map((h) => h.node),
      ['pi-a'],
    );
  });
});
