import t from 'tap';
import { EventBus, matchesFilter } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';

t.test('event bus', async (t) => {
  t.test('delivers typed events to type and any listeners, with growing sequence numbers', async (t) => {
    const bus = new EventBus();
    const names: string[] = [];
    const seqs: number[] = [];
    bus.on('a', 'node.deleted', (e) => names.push(e.data.name));
    bus.onAny('b', (e) => seqs.push(e.seq));
    bus.emit('node.deleted', { id: '1', name: 'one' });
    bus.emit('cluster.deleted', { id: '2', name: 'two' });
    t.same(names, ['one']);
    t.same(seqs, [1, 2]);
  });

  t.test('removes every listener of an owner at once', async (t) => {
    const bus = new EventBus();
    let n = 0;
    bus.on('owner', 'node.deleted', () => n++);
    bus.onAny('owner', () => n++);
    bus.on('other', 'node.deleted', () => n++);
    t.equal(bus.listenerCount('owner'), 2);
    bus.removeOwner('owner');
    bus.emit('node.deleted', { id: '1', name: 'x' });
    t.equal(n, 1);
    t.equal(bus.listenerCount(), 1);
  });

  t.test('a throwing listener does not stop the others', async (t) => {
    const bus = new EventBus({ log: silentLogger() });
    let reached = false;
    bus.onAny('bad', () => {
      throw new Error('boom');
    });
    bus.onAny('good', () => (reached = true));
    t.doesNotThrow(() => bus.emit('node.deleted', { id: '1', name: 'x' }));
    t.ok(reached);
  });

  t.test('filters', async (t) => {
    t.ok(matchesFilter('node.created', []));
    t.ok(matchesFilter('node.created', ['node.*']));
    t.ok(matchesFilter('node.created', ['job.*', 'node.created']));
    t.notOk(matchesFilter('nodes.created', ['node.*']));
    t.notOk(matchesFilter('job.log', ['node.*']));
    t.ok(matchesFilter('job.log', ['*']));
  });
});
