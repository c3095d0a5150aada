/**
 * The agent's edge watcher over the source `--sim` uses: the timing thread polling the level
 * register of the behavioural model's page file, while the model (a simulated chip over the same
 * file, the only simulated part) has its input driven from outside. Edges are slow here (a few
 * ms apart), so every one must be counted; the 10 kHz case is test/e2e/edge-flood.test.ts.
 */
import t from 'tap';
import { join } from 'node:path';
import { TimingEngine } from '../../src/hw/index.js';
import type { DesiredItem } from '../../src/api/agent.js';
import { EdgeWatcher, edgeWatches, engineEdgeSource, type EdgeReport } from '../../agent/edges.js';
import { simChip, until } from './rig.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(60_000));

const input = (
  name: string,
  pin: number,
  edge: 'none' | 'rising' | 'falling' | 'both',
  extra: Record<string, unknown> = {},
): DesiredItem => ({
  kind: 'gpio',
  name,
  generation: 1,
  spec: { pin, mode: 'input', edge, ...extra },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('edgeWatches picks the inputs that ask for edges', async (t) => {
  const items: DesiredItem[] = [
    input('a', 5, 'both', { debounceMicros: 200 }),
    input('b', 6, 'none'),
    input('c', 4, 'rising'),
    { kind: 'gpio', name: 'd', generation: 1, spec: { pin: 7, mode: 'output', edge: 'both' } },
    { kind: 'pwm', name: 'e', generation: 1, spec: { pin: 8, frequencyHz: 10, dutyCycle: 0.5 } },
  ];
  t.same(edgeWatches(items), [
    { pin: 4, edge: 'rising', debounceUs: 0, name: 'c' },
    { pin: 5, edge: 'both', debounceUs: 200, name: 'a' },
  ]);
});

t.test('counts edges of a simulated input from the page file, per pin and edge kind', async (t) => {
  const dir = tempDir(t, 'pic-edges-');
  const page = join(dir, 'gpiomem.sim');
  const chip = simChip(page, true);
  t.teardown(() => chip.close());
  chip.mode(20, 'input');
  chip.mode(21, 'input');
  const engine = new TimingEngine({ soc: 'bcm2711', gpioPath: page });
  const reports: EdgeReport[] = [];
  let linkUp = false;
  const w = new EdgeWatcher({
    source: engineEdgeSource(engine, { pollUs: 200 }),
    minIntervalMs: 50,
    send: (r) => linkUp && reports.push(r) > 0,
  });
  t.teardown(() => {
    w.stop();
    engine.close();
  });
  w.update([input('both', 20, 'both'), input('up', 21, 'rising')]);
  t.ok(w.covers(20) && w.covers(21) && !w.covers(22), 'covers the watched pins only');
  await sleep(20);

  // 10 pulses on each pin with the link down; each level holds until the watcher has seen it, so
  // a deschedule of the polling thread on a loaded machine cannot swallow a pulse.
  for (let i = 0; i < 10; i++) {
    chip.sim.drive(20, 1);
    chip.sim.drive(21, 1);
    await until(() => w.stats.edges >= 3 * i + 2, 5000); // both pins rise
    chip.sim.drive(20, 0);
    chip.sim.drive(21, 0);
    await until(() => w.stats.edges >= 3 * i + 3, 5000); // only GPIO20's fall counts
  }
  t.equal(w.stats.edges, 30);
  t.equal(reports.length, 0, 'nothing sent while the link is down');
  linkUp = true;
  w.flush();
  t.equal(reports.length, 1, 'the kept counts go out in one report when the link returns');
  const r = reports[0]!;
  t.match(
    r.items.find((i) => i.pin === 20),
    { name: 'both', count: 20, level: 0 },
  );
  t.match(
    r.items.find((i) => i.pin === 21),
    { name: 'up', count: 10, level: 1 },
    'rising only',
  );
  t.ok(Math.abs(Date.parse(r.items[0]!.lastEdgeAt) - Date.now()) < 60_000, 'lastEdgeAt is wall-clock time');
  t.equal(r.lost, 0);

  // A second burst goes out by itself; a report carries counts since the previous one.
  chip.sim.drive(20, 1);
  await until(() => reports.length === 2, 5000);
  t.same(
    reports[1]!.items.map((i) => [i.pin, i.count, i.level]),
    [[20, 1, 1]],
  );

  // A pin no longer asked for is no longer watched.
  w.update([input('up', 21, 'rising')]);
  t.notOk(w.covers(20));
  chip.sim.drive(20, 0);
  chip.sim.drive(21, 1);
  await until(() => reports.length === 3, 5000);
  t.same(
    reports[2]!.items.map((i) => [i.pin, i.count]),
    [[21, 1]],
  );
  await sleep(100);
  t.equal(w.stats.edges, 32, 'the unwatched pin added nothing');
});
