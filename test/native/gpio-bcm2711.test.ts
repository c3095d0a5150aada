// Exact register sequences of the BCM2711 GPIO code (BCM2711 ARM peripherals, ch. 5): the BCM283x
// map with pulls in GPIO_PUP_PDN_CNTRL_REG0-3 instead of GPPUD/GPPUDCLK, and 58 GPIOs.
import t from 'tap';
import { openChip } from '../../src/hw/chip.js';
import { RegisterPage, BCM_PAGE, accesses } from '../support/register-page.js';

const GPFSEL1 = 0x04,
  GPSET0 = 0x1c,
  GPCLR0 = 0x28,
  GPSET1 = 0x20;
const PUP_PDN0 = 0xe4,
  PUP_PDN1 = 0xe8,
  PUP_PDN3 = 0xf0;

t.test('bcm2711 GPIO registers', async (t) => {
  t.test('GPIO17 to output and write high/low', async (t) => {
    const page = new RegisterPage(t, BCM_PAGE);
    const chip = openChip({ soc: 'bcm2711', gpiomem: page.path, trace: true });
    chip.mode(17, 'output');
    chip.write(17, 1);
    chip.write(17, 0);
    t.same(accesses(chip.trace()), [
      ['read', 'GPIO', GPFSEL1, 0],
      ['write', 'GPIO', GPFSEL1, 1 << 21],
      ['write', 'GPIO', GPSET0, 1 << 17],
      ['write', 'GPIO', GPCLR0, 1 << 17],
    ]);
    chip.close();
  });

  t.test("pulls: read-modify-write of the pin's 2 bits in GPIO_PUP_PDN_CNTRL (up 01, down 10)", async (t) => {
    const before = 0x5555_5555;
    const page = new RegisterPage(t, BCM_PAGE, (b) => b.writeUInt32LE(before, PUP_PDN1));
    const chip = openChip({ soc: 'bcm2711', gpiomem: page.path, trace: true });
    // GPIO17 is pin 1 of register 1: bits 3:2.
    chip.pull(17, 'down');
    const down = (before & ~(3 << 2)) | (2 << 2);
    t.same(
      accesses(chip.trace()),
      [
        ['read', 'GPIO', PUP_PDN1, before],
        ['write', 'GPIO', PUP_PDN1, down],
      ],
      'pull down: one read, one write, no GPPUD sequence',
    );
    chip.clearTrace();
    chip.pull(17, 'up');
    t.same(
      accesses(chip.trace()),
      [
        ['read', 'GPIO', PUP_PDN1, down],
        ['write', 'GPIO', PUP_PDN1, (before & ~(3 << 2)) | (1 << 2)],
      ],
      'pull up',
    );
    chip.clearTrace();
    chip.pull(17, 'none');
    t.equal(page.word(PUP_PDN1), before & ~(3 << 2), 'pull none clears both bits, others untouched');
    chip.pull(2, 'up');
    t.equal((page.word(PUP_PDN0) >>> 4) & 3, 1, 'GPIO2 is bits 5:4 of register 0');
    chip.pull(57, 'down');
    t.equal((page.word(PUP_PDN3) >>> 18) & 3, 2, 'GPIO57 is bits 19:18 of register 3');
    t.notOk(
      chip.trace().some((e) => e.offset === 0x94 || e.offset === 0x98),
      'GPPUD/GPPUDCLK never touched',
    );
    chip.close();
  });

  t.test('58 GPIOs: GPIO57 exists, GPIO58 does not', async (t) => {
    const page = new RegisterPage(t, BCM_PAGE);
    const chip = openChip({ soc: 'bcm2711', gpiomem: page.path, trace: true });
    t.equal(chip.pinCount, 58);
    chip.write(57, 1);
    t.same(accesses(chip.trace()), [['write', 'GPIO', GPSET1, 1 << 25]]);
    chip.clearTrace();
    t.throws(() => chip.write(58, 1), { code: 'EPIN_RANGE' });
    t.throws(() => chip.setMask(1 << 26, 1), { code: 'EMASK_RANGE' });
    t.same(chip.trace(), [], 'no register touched');
    chip.close();
  });
});
