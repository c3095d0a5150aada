// Backend choice on this (non-Pi) machine. The character-device backend itself is exercised in
// the kernel rig's guest (test/kernel/guest/gpiochip.guest.ts), where a GPIO chip exists.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGpio } from '../../src/hw/gpiochip-backend.js';

t.test('openGpio backend choice', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'pc-gpio-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  // A root without a Raspberry Pi device tree: no register map fits.
  t.throws(() => openGpio({ root: empty, prefer: 'registers' }), { code: 'EBOARD_UNKNOWN' }, 'registers only: the detection error');
  t.throws(
    () => openGpio({ root: empty, devDir: empty }),
    { code: 'ENOENT', peripheral: 'gpiochip' },
    'auto: falls back to the character device, and says when there is none',
  );
  t.throws(() => openGpio({ prefer: 'gpiochip', gpiochip: join(empty, 'gpiochip9') }), { code: 'ENOENT', syscall: 'open' });
  t.throws(() => openGpio({ soc: 'nope' as 'rp1', devDir: empty }), { code: 'ESOC_UNKNOWN' }, 'a bad option is not a reason to fall back');
});
