// Bad pins, modes and values get coded errors and touch no register: checked on the TS face and
// on the native class directly (its own checks, for callers that bypass TS).
import t from 'tap';
import { openChip } from '../../src/hw/chip.js';
import { loadAddon } from '../../src/hw/addon.js';
import type { NativeRegisterChip } from '../../src/hw/native.js';
import { RegisterPage, BCM_PAGE, RP1_WINDOW } from '../support/register-page.js';

for (const soc of ['bcm2837', 'bcm2711', 'rp1'] as const) {
  const size = soc === 'rp1' ? RP1_WINDOW : BCM_PAGE;
  const pins = soc === 'bcm2711' ? 58 : 54;

  t.test(`${soc}: bad input is refused before any register access`, async (t) => {
    const page = new RegisterPage(t, size, (b) => b.fill(0xa5));
    const before = page.bytes();
    const chip = openChip({ soc, gpiomem: page.path, trace: true });
    const cases: [string, () => unknown, { name: string; code: string }][] = [
      ['pin past the end', () => chip.write(pins, 1), { name: 'RangeError', code: 'EPIN_RANGE' }],
      ['negative pin', () => chip.read(-1), { name: 'RangeError', code: 'EPIN_RANGE' }],
      ['fractional pin', () => chip.write(4.5, 1), { name: 'TypeError', code: 'EPIN_TYPE' }],
      ['pin as a string', () => chip.mode('17' as unknown as number, 'output'), { name: 'TypeError', code: 'EPIN_TYPE' }],
      ['reserved GPIO0', () => chip.write(0, 1), { name: 'RangeError', code: 'EPIN_RESERVED' }],
      ['reserved GPIO1 mode', () => chip.mode(1, 'output'), { name: 'RangeError', code: 'EPIN_RESERVED' }],
      ['reserved pins in a mask', () => chip.setMask(0b11), { name: 'RangeError', code: 'EPIN_RESERVED' }],
      ['unknown mode', () => chip.mode(17, 'pwm' as 'input'), { name: 'TypeError', code: 'EMODE' }],
      ['unknown pull', () => chip.pull(17, 'sideways' as 'up'), { name: 'TypeError', code: 'EPULL' }],
      ['bad level', () => chip.write(17, 2 as 1), { name: 'TypeError', code: 'EVALUE' }],
      ['bad bank', () => chip.readAll(3), { name: 'RangeError', code: 'EBANK_RANGE' }],
      ['negative mask', () => chip.clearMask(-1), { name: 'RangeError', code: 'EMASK_RANGE' }],
    ];
    for (const [what, fn, want] of cases) t.throws(fn, want, what);
    t.same(chip.trace(), [], 'the trace is empty: no register was read or written');
    t.ok(page.bytes().equals(before), 'the register file is byte for byte unchanged');
    chip.close();
  });

  t.test(`${soc}: the native class checks on its own`, async (t) => {
    const page = new RegisterPage(t, size);
    const addon = loadAddon();
    const raw: NativeRegisterChip = new addon.GpioChip({ soc, path: page.path, trace: true });
    t.throws(() => raw.write(pins, 1), { name: 'RangeError', code: 'EPIN_RANGE' });
    t.throws(() => raw.write(Number.NaN, 1), { name: 'RangeError', code: 'EPIN_RANGE' });
    t.throws(() => raw.write(1, 1), { name: 'RangeError', code: 'EPIN_RESERVED' });
    t.throws(() => raw.write(17, 3), { name: 'TypeError', code: 'EVALUE' });
    t.throws(() => raw.read('4' as unknown as number), { name: 'TypeError', code: 'EPIN_TYPE' });
    t.throws(() => raw.setFunction(17, 'bogus'), { name: 'TypeError', code: 'EMODE' });
    t.throws(() => raw.setPull(17, 'bogus'), { name: 'TypeError', code: 'EPULL' });
    t.throws(() => raw.setMask(2 ** 32), { name: 'RangeError', code: 'EMASK_RANGE' });
    t.throws(() => raw.setMask(1, 7), { name: 'RangeError', code: 'EBANK_RANGE' });
    t.throws(() => raw.readRegister('PWM0' as 'GPIO', 0), { name: 'RangeError', code: 'EREG_BLOCK' });
    t.throws(() => raw.writeRegister(soc === 'rp1' ? 'SYS_RIO0' : 'GPIO', 2, 0), { code: 'EREG_OFFSET' });
    t.same(raw.trace(), [], 'no register touched');
    raw.close();
    t.throws(() => raw.write(17, 1), { name: 'HwError', code: 'ECLOSED' });
  });
}

t.test('reserved pins are usable when explicitly allowed', async (t) => {
  const page = new RegisterPage(t, BCM_PAGE);
  const chip = openChip({ soc: 'bcm2837', gpiomem: page.path, trace: true, allowReserved: true });
  chip.write(0, 1);
  chip.setMask(0b11);
  t.same(
    chip.trace().map((e) => e.value),
    [1, 3],
  );
  chip.close();
});

t.test('opening errors are HwError with code, syscall and peripheral', async (t) => {
  t.throws(() => openChip({ soc: 'bcm2711', gpiomem: '/nonexistent/gpiomem' }), {
    name: 'HwError',
    code: 'ENOENT',
    syscall: 'open',
    peripheral: 'gpio',
    path: '/nonexistent/gpiomem',
    message: /simulate: true/,
  });
  const small = new RegisterPage(t, 0x100);
  t.throws(() => openChip({ soc: 'rp1', gpiomem: small.path }), {
    code: 'EINVAL',
    syscall: 'fstat',
    message: /smaller than the 196608 bytes/,
  });
  t.throws(() => openChip({ soc: 'bcm2712' as 'rp1' }), { name: 'TypeError', code: 'ESOC_UNKNOWN' });
  t.throws(() => openChip({ soc: 'bcm2711', gpiomem: small.path, simulate: false }), { code: 'EINVAL' });
  const real = openChip({ soc: 'bcm2711', gpiomem: new RegisterPage(t, BCM_PAGE).path });
  t.throws(() => real.sim, { name: 'HwError', code: 'ENOT_SIMULATED' });
  real.close();
});

t.test('an errno outside the common few keeps its own name, not EIO', async (t) => {
  // A path through a regular file: open() fails with ENOTDIR; one longer than PATH_MAX with
  // ENAMETOOLONG. Both reach the same errno-to-code map as every other system error.
  const file = new RegisterPage(t, BCM_PAGE).path;
  t.throws(() => openChip({ soc: 'bcm2711', gpiomem: `${file}/gpiomem` }), {
    name: 'HwError',
    code: 'ENOTDIR',
    errno: 20,
    syscall: 'open',
    message: /\(ENOTDIR\)/,
  });
  t.throws(() => openChip({ soc: 'bcm2711', gpiomem: `/tmp/${'x'.repeat(5000)}` }), {
    name: 'HwError',
    code: 'ENAMETOOLONG',
    syscall: 'open',
  });
});

t.test('the zero-argument fast path checks its mailbox on its own', async (t) => {
  const page = new RegisterPage(t, BCM_PAGE);
  const addon = loadAddon();
  const fast = addon.gpioFastPath;
  if (!fast) {
    t.fail('the main thread owns the fast path');
    return;
  }
  const raw: NativeRegisterChip = new addon.GpioChip({ soc: 'bcm2837', path: page.path, trace: true });
  t.type(raw.fastSlot, 'number', 'a chip opened on the main thread has a fast-path slot');
  const mb = fast.mailbox;
  const call = (slot: number, a: number, b: number, fn: () => void): void => {
    mb[3] = slot;
    mb[0] = a;
    mb[1] = b;
    fn();
  };
  const slot = raw.fastSlot ?? -1;
  t.throws(() => call(slot, 54, 1, fast.write), { name: 'RangeError', code: 'EPIN_RANGE' });
  t.throws(() => call(slot, -3, 1, fast.write), { name: 'RangeError', code: 'EPIN_RANGE' });
  t.throws(() => call(slot, 1, 1, fast.write), { name: 'RangeError', code: 'EPIN_RESERVED' });
  t.throws(() => call(slot, 17, 2, fast.write), { name: 'TypeError', code: 'EVALUE' });
  t.throws(() => call(slot, 1 << 22, 1, fast.setMask), { name: 'RangeError', code: 'EMASK_RANGE' });
  t.throws(() => call(slot, 0xf0, 2, fast.clearMask), { name: 'RangeError', code: 'EBANK_RANGE' });
  t.throws(() => call(63, 17, 1, fast.write), { name: 'HwError', code: 'ECLOSED' }, 'an empty slot');
  t.throws(() => call(1000, 17, 1, fast.write), { name: 'HwError', code: 'ECLOSED' }, 'a slot outside the table');
  t.same(raw.trace(), [], 'no register touched');
  call(slot, 17, 1, fast.write);
  t.same(
    raw.trace().map((e) => [e.op, e.offset, e.value]),
    [['write', 0x1c, 1 << 17]],
    'a good call writes GPSET0',
  );
  raw.close();
  t.throws(() => call(slot, 17, 1, fast.write), { name: 'HwError', code: 'ECLOSED' }, 'closed');
});
