import t from 'tap';
import { KeyedQueue } from '../../src/cluster/queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('KeyedQueue', async (t) => {
  t.test('runs one item per key at a time and merges requests made while it runs', async (t) => {
    const running = new Map<string, number>();
    let maxSame = 0;
    const seen: string[] = [];
    const q = new KeyedQueue<{ n: number }>(
      async (k, r) => {
        running.set(k, (running.get(k) ?? 0) + 1);
        maxSame = Math.max(maxSame, running.get(k)!);
        seen.push(`${k}:${r.n}`);
        await sleep(20);
        running.set(k, running.get(k)! - 1);
      },
      (a, b) => ({ n: Math.max(a.n, b.n) }),
      4,
    );
    q.add('a', { n: 1 });
    await sleep(5);
    q.add('a', { n: 2 });
    q.add('a', { n: 3 });
    q.add('b', { n: 1 });
    await q.idle();
    t.equal(maxSame, 1, 'never two of one key at once');
    t.same(
      seen.filter((s) => s.startsWith('a')),
      ['a:1', 'a:3'],
      'the requests made while a ran merged into one run with the latest',
    );
    t.ok(seen.includes('b:1'));
  });

  t.test('runs different keys side by side up to the concurrency', async (t) => {
    let now = 0;
    let peak = 0;
    const q = new KeyedQueue<null>(
      async () => {
        peak = Math.max(peak, ++now);
        await sleep(10);
        now--;
      },
      () => null,
      3,
    );
    for (let i = 0; i < 10; i++) q.add(`k${i}`, null);
    await q.idle();
    t.equal(peak, 3);
  });

  t.test('a failing item does not stop the queue', async (t) => {
    const done: string[] = [];
    const caught: string[] = [];
    const q = new KeyedQueue<null>(
      async (k) => {
        if (k === 'bad') throw new Error('boom');
        done.push(k);
      },
      () => null,
      2,
      (k, err) => caught.push(`${k}: ${(err as Error).message}`),
    );
    q.add('bad', null);
    q.add('good', null);
    await q.idle();
    t.same(done, ['good']);
    t.same(caught, ['bad: boom']);
  });
});
