// Exact register sequences of the BCM2835/2836/2837 GPIO code (BCM2835 ARM peripherals, ch. 6),
// over a file standing in for /dev/gpiomem. Runs standalone: `node dist/test/native/gpio-bcm283x.test.js`.
import t from 'tap';
import { openChip } from '../../src/hw/chip.js';
import { RegisterPage, BCM_PAGE, accesses } from '../support/register-page.js';

const GPFSEL1 = 0x04,
  GPSET0 = 0x1c,
  GPSET1 = 0x20,
  GPCLR0 = 0x28,
  GPLEV0 = 0x34,
  GPLEV1 = 0x38;
const GPPUD = 0x94,
  GPPUDCLK0 = 0x98,
  GPPUDCLK1 = 0x9c;

for (const soc of ['bcm2835', 'bcm2836', 'bcm2837'] as const) {
  t.test(`${soc} GPIO registers`, async (t) => {
    t.test('GPIO17 to output: read GPFSEL1, write back with only bits 23:21 changed to 001', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE, (b) => b.writeUInt32LE(0xffffffff, GPFSEL1));
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      chip.mode(17, 'output');
      t.same(accesses(chip.trace()), [
        ['read', 'GPIO', GPFSEL1, 0xffffffff],
        ['write', 'GPIO', GPFSEL1, 0xff3fffff],
      ]);
      t.equal(page.word(GPFSEL1), 0xff3fffff, 'the file holds the new GPFSEL1');
      t.equal(page.word(GPFSEL1) ^ 0xffffffff, 0b110 << 21, 'exactly two bits of pin 17 changed');
      t.same(
        chip.trace().map((e) => e.seq),
        [0, 1],
        'accesses numbered in order',
      );
      chip.close();
    });

    t.test("function select touches only the pin's 3 bits, for every function", async (t) => {
      const pattern = 0x2d6b5ad6;
      const page = new RegisterPage(t, BCM_PAGE, (b) => b.writeUInt32LE(pattern, GPFSEL1));
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      const codes = { input: 0b000, output: 0b001, alt0: 0b100, alt1: 0b101, alt2: 0b110, alt3: 0b111, alt4: 0b011, alt5: 0b010 };
      for (const [mode, code] of Object.entries(codes)) {
        chip.mode(13, mode as keyof typeof codes);
        t.equal(page.word(GPFSEL1) & ~(7 << 9), pattern & ~(7 << 9), `${mode}: other pins' bits unchanged`);
        t.equal((page.word(GPFSEL1) >>> 9) & 7, code, `${mode}: FSEL13 = ${code.toString(2).padStart(3, '0')}`);
        t.equal(chip.getMode(13), mode, `${mode} reads back`);
      }
      chip.close();
    });

    t.test('write high and low: one write of the pin bit to GPSETn / GPCLRn', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      chip.write(17, 1);
      t.same(accesses(chip.trace()), [['write', 'GPIO', GPSET0, 1 << 17]]);
      t.equal(page.word(GPSET0), 1 << 17, 'GPSET0 in the file');
      chip.clearTrace();
      chip.write(17, 0);
      t.same(accesses(chip.trace()), [['write', 'GPIO', GPCLR0, 1 << 17]]);
      chip.clearTrace();
      chip.write(40, 1);
      t.same(accesses(chip.trace()), [['write', 'GPIO', GPSET1, 1 << 8]], 'GPIO40 is bit 8 of bank 1');
      chip.close();
    });

    t.test('pull up and down: GPPUD, wait, GPPUDCLK bit, wait, then both cleared', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      for (const [pull, code] of [
        ['up', 2],
        ['down', 1],
        ['none', 0],
      ] as const) {
        chip.clearTrace();
        chip.pull(17, pull);
        t.same(
          accesses(chip.trace()),
          [
            ['write', 'GPIO', GPPUD, code],
            ['delay', null, 0, 10],
            ['write', 'GPIO', GPPUDCLK0, 1 << 17],
            ['delay', null, 0, 10],
            ['write', 'GPIO', GPPUD, 0],
            ['write', 'GPIO', GPPUDCLK0, 0],
          ],
          `pull ${pull}`,
        );
      }
      chip.clearTrace();
      chip.pull(45, 'up');
      t.same(
        accesses(chip.trace())
          .filter((a) => a[0] === 'write')
          .map((a) => a[2]),
        [GPPUD, GPPUDCLK1, GPPUD, GPPUDCLK1],
        'GPIO45 clocks GPPUDCLK1',
      );
      t.equal(chip.trace()[2]?.value, 1 << 13);
      chip.close();
    });

    t.test('an 8-pin mask update is one write', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      chip.setMask(0xff << 4);
      chip.clearMask(0xff << 4);
      chip.setMask(0b1111_1111, 1);
      t.same(accesses(chip.trace()), [
        ['write', 'GPIO', GPSET0, 0xff0],
        ['write', 'GPIO', GPCLR0, 0xff0],
        ['write', 'GPIO', GPSET1, 0xff],
      ]);
      chip.close();
    });

    t.test('read and readAll: one read of GPLEVn', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE, (b) => {
        b.writeUInt32LE(0x8002_0004, GPLEV0);
        b.writeUInt32LE(0xffff_ffff, GPLEV1);
      });
      const chip = openChip({ soc, gpiomem: page.path, trace: true });
      t.equal(chip.read(17), 1);
      t.equal(chip.read(18), 0);
      t.equal(chip.readAll(), 0x8002_0004);
      t.equal(chip.readAll(1), 0x3fffff, 'bank 1 is masked to its 22 pins');
      t.same(accesses(chip.trace()), [
        ['read', 'GPIO', GPLEV0, 0x8002_0004],
        ['read', 'GPIO', GPLEV0, 0x8002_0004],
        ['read', 'GPIO', GPLEV0, 0x8002_0004],
        ['read', 'GPIO', GPLEV1, 0xffff_ffff],
      ]);
      chip.close();
    });

    t.test('untraced chips record nothing and still write the registers', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, gpiomem: page.path });
      chip.mode(22, 'output');
      chip.write(22, 1);
      t.same(chip.trace(), []);
      t.equal((page.word(0x08) >>> 6) & 7, 1, 'FSEL22 = output');
      t.equal(page.word(GPSET0), 1 << 22);
      chip.close();
    });
  });
}
