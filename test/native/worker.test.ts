// A chip opened in a worker thread: the process-wide fast path belongs to the main thread's
// environment, so the worker's chip runs on its per-chip mailbox. Same results, same traces.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openChip } from '../../src/hw/chip.js';

const chipModule = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'hw', 'chip.js')).href;

t.test('GPIO in a worker thread', async (t) => {
  // The main thread loads the addon first, so it owns the fast path.
  const main = openChip({ soc: 'rp1', simulate: true, trace: true });
  main.mode(17, 'output');
  main.write(17, 1);
  t.equal(main.read(17), 1, 'main thread chip works');

  const source = `
    import { parentPort } from 'node:worker_threads';
    import { openChip } from ${JSON.stringify(chipModule)};
    const chip = openChip({ soc: 'rp1', simulate: true, trace: true });
    chip.mode(17, 'output');
    chip.clearTrace();
    chip.write(17, 1);
    chip.setMask(0xff0);
    const out = { level: chip.read(17), all: chip.readAll(), trace: chip.trace() };
    let err = null;
    try { chip.write(60, 1); } catch (e) { err = e.code; }
    out.err = err;
    chip.close();
    parentPort.postMessage(out);`;
  const result = await new Promise<{
    level: number;
    all: number;
    err: string;
    trace: { op: string; block: string; offset: number; value: number }[];
  }>((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { env: process.env });
    w.once('message', resolve);
    w.once('error', reject);
  });
  t.equal(result.level, 1);
  t.equal(result.all, 1 << 17, 'the mask latched OUT, but only GPIO17 is an output');
  t.equal(result.err, 'EPIN_RANGE');
  t.same(
    result.trace.slice(0, 2).map((e) => [e.op, e.block, e.offset, e.value]),
    [
      ['write', 'SYS_RIO0', 0x2000, 1 << 17],
      ['write', 'SYS_RIO0', 0x2000, 0xff0],
    ],
  );
  t.equal(main.read(17), 1, 'the main thread chip is unaffected');
  main.close();
});
