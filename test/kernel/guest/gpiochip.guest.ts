// GPIO through /dev/gpiochipN (uAPI v2) against gpio-sim. Runs inside the kernel rig's guest only;
// test/kernel/rig.test.ts boots it. Inputs are driven through the simulator's pull, outputs read
// back from the simulator's value: both are the kernel's own view, not a mock.
import t from 'tap';
import { CdevChip, type EdgeEvent, type Overflow } from '../../../src/hw/gpiochip.js';
import { openGpio } from '../../../src/hw/gpiochip-backend.js';
import { createSimChip, sleep, waitFor, waitScale } from './sim.js';

/** A pause the guest needs for the kernel to act (irq_work, the debounce timer), stretched by the host's load. */
const pause = (ms: number) => sleep(ms * waitScale());

const sim = createSimChip('pc', 16, { 3: 'led0', 7: 'button' });
t.teardown(() => sim.remove());

/** Collects events until `n` arrived (or 3 s passed). */
async function collect(events: EdgeEvent[], n: number): Promise<void> {
  await waitFor(() => events.length >= n, 3000);
}

t.test('gpiochip uAPI v2 against gpio-sim', async (t) => {
  const chip = CdevChip.open(sim.dev);
  t.teardown(() => chip.close());

  t.test('chip and line info', async (t) => {
    const info = chip.info();
    t.equal(info.lines, 16);
    t.equal(info.label, 'pc-bank0');
    t.equal(chip.lineInfo(3).name, 'led0');
    t.equal(chip.findLine('button'), 7);
    t.equal(chip.findLine('nope'), undefined);
    t.equal(chip.lineInfo(5).used, false);
    t.ok(CdevChip.list().includes(sim.dev), 'listed under /dev');
  });

  t.test('an output request drives the simulated line', async (t) => {
    const req = chip.request({ lines: [3], direction: 'out', values: [1], consumer: 'led-test' });
    t.teardown(() => req.close());
    t.equal(sim.value(3), 1, 'initial value 1');
    req.set({ 3: 0 });
    t.equal(sim.value(3), 0);
    req.set({ 3: 1 });
    t.equal(sim.value(3), 1);
    const li = chip.lineInfo(3);
    t.same({ used: li.used, consumer: li.consumer, direction: li.direction }, { used: true, consumer: 'led-test', direction: 'out' });
    t.throws(
      () => chip.request({ lines: [3], direction: 'in' }),
      { code: 'EBUSY', syscall: 'ioctl(GPIO_V2_GET_LINE)' },
      'a claimed line is busy',
    );
  });

  t.test('active-low and open-drain outputs', async (t) => {
    const low = chip.request({ lines: [4], direction: 'out', activeLow: true, values: [1] });
    t.teardown(() => low.close());
    t.equal(sim.value(4), 0, 'active-low: logical 1 is physical low');
    low.set({ 4: 0 });
    t.equal(sim.value(4), 1);
    t.equal(chip.lineInfo(4).activeLow, true);
    // Open drain: 0 pulls low. Releasing (1) is emulated by gpiolib with the chip's
    // direction_input, but gpio-sim still counts the line as an output and ignores its pull then,
    // so the released level cannot be observed in this rig; the request flags can.
    const od = chip.request({ lines: [5], direction: 'out', drive: 'open-drain', values: [0] });
    t.teardown(() => od.close());
    t.equal(sim.value(5), 0, 'driven low');
    t.equal(chip.lineInfo(5).drive, 'open-drain');
  });

  t.test('inputs follow the simulated pull, and a bias request sets it', async (t) => {
    const req = chip.request({ lines: [6, 8], direction: 'in' });
    t.teardown(() => req.close());
    sim.pull(6, 'pull-up');
    sim.pull(8, 'pull-down');
    t.same(req.get(), [1, 0]);
    sim.pull(6, 'pull-down');
    t.equal(req.get(6), 0);
    req.reconfigure({ direction: 'in', bias: 'pull-up' });
    t.same(req.get(), [1, 1], 'bias pull-up reaches gpio-sim through set_config');
    t.equal(chip.lineInfo(8).bias, 'pull-up');
  });

  // gpio-sim raises its interrupt through irq_work, which merges changes made before it runs; a
  // short gap between pull changes lets each one become its own interrupt (and its own event).
  const burst = async (line: number, n: number, gapMs: number): Promise<void> => {
    // Starts low; n pull changes alternate up, down, up...
    for (let i = 0; i < n; i++) {
      sim.pull(line, i % 2 === 0 ? 'pull-up' : 'pull-down');
      if (gapMs) await pause(gapMs);
    }
  };

  for (const [edge, expected] of [
    ['rising', 5],
    ['falling', 5],
    ['both', 10],
  ] as const) {
    t.test(`${edge} edges: counted exactly for a burst of 10 pull changes`, async (t) => {
      sim.pull(9, 'pull-down');
      const req = chip.request({ lines: [9], direction: 'in', edge });
      t.teardown(() => req.close());
      const events: EdgeEvent[] = [];
      const overflows: Overflow[] = [];
      req.watch(
        (e) => events.push(e),
        (o) => overflows.push(o),
      );
      await burst(9, 10, 20);
      await collect(events, expected);
      await sleep(100); // nothing more may arrive
      t.equal(events.length, expected);
      t.same(overflows, []);
      const want = edge === 'both' ? events.map((_, i) => (i % 2 ? 'falling' : 'rising')) : events.map(() => edge);
      t.same(
        events.map((e) => e.edge),
        want,
        'kinds in order',
      );
      t.same(
        events.map((e) => e.seqno),
        events.map((_, i) => i + 1),
        'request seqno 1..N',
      );
      t.same(
        events.map((e) => e.lineSeqno),
        events.map((_, i) => i + 1),
        'line seqno 1..N',
      );
      t.ok(
        events.every((e, i) => i === 0 || e.timestampNs > (events[i - 1] as EdgeEvent).timestampNs),
        'timestamps increase',
      );
      t.ok(events.every((e) => e.offset === 9));
    });
  }

  t.test('debounce: a fast burst settles into one edge; slow changes each count', async (t) => {
    sim.pull(10, 'pull-down');
    // The burst must fit inside the debounce period even when the guest's CPUs are starved.
    const debounceUs = Math.round(100_000 * waitScale());
    const req = chip.request({ lines: [10], direction: 'in', edge: 'both', debounceUs });
    t.teardown(() => req.close());
    t.equal(chip.lineInfo(10).debounceUs, debounceUs);
    const events: EdgeEvent[] = [];
    req.watch((e) => events.push(e));
    await burst(10, 5, 0); // ends high: five changes inside the debounce period
    await pause(400);
    t.same(
      events.map((e) => e.edge),
      ['rising'],
      'one rising edge after the line settled',
    );
    sim.pull(10, 'pull-down');
    await pause(300);
    sim.pull(10, 'pull-up');
    await pause(300);
    t.same(
      events.map((e) => e.edge),
      ['rising', 'falling', 'rising'],
    );
  });

  t.test('a kernel buffer overflow is reported as a sequence gap', async (t) => {
    sim.pull(11, 'pull-down');
    const req = chip.request({ lines: [11], direction: 'in', edge: 'both', eventBufferSize: 4 });
    t.teardown(() => req.close());
    await burst(11, 12, 20); // nobody reads yet: the kernel keeps the newest 4
    const events: EdgeEvent[] = [];
    const overflows: Overflow[] = [];
    req.watch(
      (e) => events.push(e),
      (o) => overflows.push(o),
    );
    await collect(events, 4);
    await sleep(100);
    t.equal(events.length, 4);
    t.same(overflows, [{ lost: 8, beforeSeqno: 9 }]);
    t.same(
      events.map((e) => e.seqno),
      [9, 10, 11, 12],
    );
  });

  t.test('close stops the event thread', async (t) => {
    sim.pull(12, 'pull-down');
    const req = chip.request({ lines: [12], direction: 'in', edge: 'both' });
    const events: EdgeEvent[] = [];
    req.watch((e) => events.push(e));
    sim.pull(12, 'pull-up');
    await collect(events, 1);
    req.close();
    sim.pull(12, 'pull-down');
    await sleep(100);
    t.equal(events.length, 1, 'no event after close');
    t.equal(chip.lineInfo(12).used, false, 'the line is released');
    t.throws(() => req.get(), { code: 'ECLOSED' });
    req.close();
  });

  t.test('bad settings are refused with EINVAL and claim nothing', async (t) => {
    t.throws(() => chip.request({ lines: [13], direction: 'out', edge: 'rising' }), { code: 'EINVAL' });
    t.throws(() => chip.request({ lines: [13, 13] }), { code: 'EINVAL' });
    t.throws(() => chip.request({ lines: [] }), { code: 'EINVAL' });
    t.throws(
      () => chip.request({ lines: [99] }),
      { code: 'EINVAL', syscall: 'ioctl(GPIO_V2_GET_LINE)' },
      'the kernel refuses an offset past the end',
    );
    t.equal(chip.lineInfo(13).used, false);
  });
  t.test('a board without a register map gets the character-device backend', async (t) => {
    // This guest is an x86 machine: no Raspberry Pi device tree, so register access is refused
    // and openGpio falls back to the only GPIO chip there is, the simulator.
    const gpio = openGpio();
    if (gpio.kind !== 'gpiochip') {
      t.fail('expected the gpiochip backend');
      return;
    }
    const pins = gpio.pins;
    t.teardown(() => pins.close());
    t.equal(gpio.path, sim.dev);
    t.match(gpio.reason, /^EBOARD_UNKNOWN|^ENOENT/, `reason: ${gpio.reason}`);
    pins.mode(14, 'output', 1);
    t.equal(sim.value(14), 1);
    pins.write(14, 0);
    t.equal(sim.value(14), 0);
    pins.mode(15, 'input');
    pins.pull(15, 'up');
    t.equal(pins.read(15), 1, 'bias through set_config');
    pins.pull(15, 'down');
    t.equal(pins.read(15), 0);
    const events: EdgeEvent[] = [];
    const stop = pins.watch(15, 'rising', (e) => events.push(e));
    sim.pull(15, 'pull-up');
    await collect(events, 1);
    t.same(
      events.map((e) => [e.offset, e.edge]),
      [[15, 'rising']],
    );
    stop();
    t.equal(chip.lineInfo(15).edge, 'none', 'watch ended, the pin stays an input');
    t.throws(() => pins.write(15, 1), { code: 'EINVAL' }, 'an input cannot be written');
  });
});
