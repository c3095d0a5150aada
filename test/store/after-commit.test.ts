import t from 'tap';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { tempDir } from '../support/tmp.js';

/** A store, a bus that delivers after commit (as the app wires it), and what a listener saw. */
function setup(t: { teardown(fn: () => void): void }): { store: Store; bus: EventBus; seen: string[] } {
  const store = openStore({ file: join(tempDir(t), 's.sqlite') });
  t.teardown(() => store.close());
  const bus = new EventBus({ record: (type, data) => store.events.append(type, data), defer: (d) => store.afterCommit(d) });
  const seen: string[] = [];
  bus.onAny('test', (e) => seen.push(`${e.type}:${(e.data as { name: string }).name}`));
  return { store, bus, seen };
}
t.test('store.afterCommit and the deferred bus', async (t) => {
  t.test('outside a transaction, delivery is immediate', async (t) => {
    const { bus, seen } = setup(t);
    bus.emit('node.deleted', { id: '1', name: 'a' });
    t.same(seen, ['node.deleted:a']);
  });

  t.test('inside one, listeners run after the commit, in emission order', async (t) => {
    const { store, bus, seen } = setup(t);
    let during: string[] = [];
    store.tx(() => {
      bus.emit('node.deleted', { id: '1', name: 'a' });
      store.tx(() => bus.emit('node.deleted', { id: '2', name: 'b' }));
      bus.emit('node.deleted', { id: '3', name: 'c' });
      during = [...seen];
    });
    t.same(during, [], 'nothing delivered before the commit');
    t.same(seen, ['node.deleted:a', 'node.deleted:b', 'node.deleted:c']);
  });

  t.test('a rollback drops the events and their log rows', async (t) => {
    const { store, bus, seen } = setup(t);
    t.throws(() =>
      store.tx(() => {
        store.nodes.create({ name: 'x' });
        bus.emit('node.deleted', { id: '1', name: 'x' });
        throw new Error('fail');
      }),
    );
    t.same(seen, []);
    t.equal(store.events.lastSeq(), 0, 'no event row');
    t.equal(store.nodes.list().total, 0, 'no node');
    bus.emit('node.deleted', { id: '2', name: 'y' });
    t.same(seen, ['node.deleted:y'], 'the queue was emptied: later events are not preceded by dropped ones');
  });

  t.test('a savepoint that rolls back drops only its own events', async (t) => {
    const { store, bus, seen } = setup(t);
    store.tx(() => {
      bus.emit('node.deleted', { id: '1', name: 'kept-before' });
      try {
        store.tx(() => {
          bus.emit('node.deleted', { id: '2', name: 'dropped' });
          throw new Error('inner fails');
        });
      } catch {
        // the outer transaction goes on
      }
      bus.emit('node.deleted', { id: '3', name: 'kept-after' });
    });
    t.same(seen, ['node.deleted:kept-before', 'node.deleted:kept-after']);
    t.same(
      store.events.since(0).map((e) => (e.data as { name: string }).name),
      ['kept-before', 'kept-after'],
      'the log agrees',
    );
  });

  t.test('the nodes change counter moves with committed writes only', async (t) => {
    const { store } = setup(t);
    const v0 = store.nodes.version();
    const n = store.nodes.create({ name: 'a' });
    store.nodes.update(n.id, { state: 'ready' });
    store.nodes.delete(n.id);
    t.equal(store.nodes.version(), v0 + 3, 'insert, update and delete each bump it');
    t.throws(() =>
      store.tx(() => {
        store.nodes.create({ name: 'b' });
        throw new Error('fail');
      }),
    );
    t.equal(store.nodes.version(), v0 + 3, 'a rolled-back write leaves it');
    store.clusters.create({ name: 'c' });
    t.equal(store.nodes.version(), v0 + 3, 'writes to other tables leave it');
  });
});
