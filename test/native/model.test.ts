// The behavioural models (simulated mode): the same SoC register code runs over a model of each
// chip's GPIO block. The model's registers live in a file here, so exact bits are read with fs.
import t from 'tap';
import { openChip } from '../../src/hw/chip.js';
import { RegisterPage, BCM_PAGE, RP1_WINDOW } from '../support/register-page.js';

const GPLEV0 = 0x34,
  GPEDS0 = 0x40,
  GPREN0 = 0x4c,
  GPFEN0 = 0x58,
  GPHEN0 = 0x64,
  GPSET0 = 0x1c;

for (const soc of ['bcm2835', 'bcm2837', 'bcm2711'] as const) {
  t.test(`${soc} model`, async (t) => {
    t.test("an output's level shows in GPLEV", async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, simulate: true, gpiomem: page.path });
      chip.mode(17, 'output');
      chip.write(17, 1);
      t.equal(chip.read(17), 1);
      t.equal(page.word(GPLEV0), 1 << 17, 'GPLEV0 bit 17 in the backing file');
      t.equal(page.word(GPSET0), 0, 'GPSET is write-only: nothing stored');
      chip.write(17, 0);
      t.equal(page.word(GPLEV0), 0);
      chip.setMask(0xff << 4);
      t.equal(chip.readAll(), 0, 'the latch does not reach pins that are inputs');
      for (let p = 4; p < 12; p++) chip.mode(p, 'output');
      t.equal(chip.readAll(), 0xff << 4, 'setting the function lets the latched level out');
      chip.close();
    });

    t.test('pulls set the level an undriven input reads; a drive overrides them', async (t) => {
      const chip = openChip({ soc, simulate: true });
      chip.mode(4, 'input');
      t.equal(chip.read(4), 0, 'floating reads 0 in the model');
      chip.pull(4, 'up');
      t.equal(chip.read(4), 1, 'pulled up');
      chip.sim.drive(4, 0);
      t.equal(chip.read(4), 0, 'driven low beats the pull-up');
      chip.sim.drive(4, null);
      t.equal(chip.read(4), 1, 'released: the pull decides again');
      chip.pull(4, 'down');
      t.equal(chip.read(4), 0, 'pulled down');
      chip.pull(4, 'none');
      chip.sim.drive(4, 1);
      t.equal(chip.read(4), 1, 'driven high');
      chip.mode(4, 'output');
      chip.write(4, 0);
      t.equal(chip.read(4), 0, 'an output shows its latch');
      chip.close();
    });

    t.test('event detect latches edges and levels as enabled; GPEDS is write-1-to-clear', async (t) => {
      const page = new RegisterPage(t, BCM_PAGE);
      const chip = openChip({ soc, simulate: true, gpiomem: page.path, trace: true });
      chip.mode(5, 'input');
      chip.mode(6, 'input');
      chip.poke('GPIO', GPREN0, 1 << 5); // rising edge on GPIO5
      chip.poke('GPIO', GPFEN0, 1 << 6); // falling edge on GPIO6
      chip.sim.drive(6, 1);
      t.equal(page.word(GPEDS0), 0, 'a rising edge on a falling-only pin latches nothing');
      chip.sim.drive(5, 1);
      t.equal(page.word(GPEDS0), 1 << 5, 'rising edge latched');
      chip.sim.drive(5, 0);
      chip.sim.drive(6, 0);
      t.equal(page.word(GPEDS0), (1 << 5) | (1 << 6), 'falling edge latched; the earlier bit stays');
      chip.poke('GPIO', GPEDS0, 1 << 5);
      t.equal(chip.peek('GPIO', GPEDS0), 1 << 6, 'writing 1 clears only that bit');
      chip.poke('GPIO', GPEDS0, 0);
      t.equal(chip.peek('GPIO', GPEDS0), 1 << 6, 'writing 0 clears nothing');
      chip.poke('GPIO', GPEDS0, 0xffffffff);
      chip.poke('GPIO', GPHEN0, 1 << 7);
      chip.pull(7, 'up');
      t.equal(chip.peek('GPIO', GPEDS0), 1 << 7, 'high level detect');
      chip.poke('GPIO', GPEDS0, 1 << 7);
      t.equal(chip.peek('GPIO', GPEDS0), 1 << 7, 'a level event re-asserts while the level holds');
      t.ok(
        chip.trace().some((e) => e.op === 'write' && e.offset === GPEDS0),
        'model accesses are traced like real ones',
      );
      chip.close();
    });
  });
}

t.test('rp1 model', async (t) => {
  const SYS_RIO0 = 0x10000,
    SET = 0x2000,
    CLR = 0x3000,
    XOR = 0x1000;
  const status = (i: number): number => i * 8;
  const EDGE_LOW = 1 << 20,
    EDGE_HIGH = 1 << 21,
    IN_FROM_PAD = 1 << 17,
    IRQRESET = 1 << 28;

  t.test("an output's level shows in SYNC_IN; SET/CLR/XOR aliases act atomically", async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW);
    const chip = openChip({ soc: 'rp1', simulate: true, gpiomem: page.path });
    chip.mode(17, 'output');
    chip.write(17, 1);
    t.equal(chip.read(17), 1);
    t.equal(page.word(SYS_RIO0 + 0x8), 1 << 17, 'SYNC_IN bit 17');
    t.equal(page.word(SYS_RIO0), 1 << 17, 'OUT bit 17 set through the SET alias');
    t.equal(page.word(SYS_RIO0 + SET), 0, 'alias writes are not stored as registers of their own');
    chip.poke('SYS_RIO0', XOR, (1 << 17) | (1 << 3));
    t.equal(page.word(SYS_RIO0), 1 << 3, 'XOR toggled both bits');
    chip.poke('SYS_RIO0', CLR, 0xffffffff);
    t.equal(page.word(SYS_RIO0), 0);
    chip.close();
  });

  t.test('PADS PUE/PDE decide an undriven input; drives override', async (t) => {
    const chip = openChip({ soc: 'rp1', simulate: true });
    chip.mode(40, 'input');
    chip.pull(40, 'up');
    t.equal(chip.read(40), 1);
    t.equal(chip.readAll(2), 1 << 6, 'GPIO40 is bit 6 of bank 2');
    chip.sim.drive(40, 0);
    t.equal(chip.read(40), 0);
    chip.sim.drive(40, null);
    chip.pull(40, 'down');
    t.equal(chip.read(40), 0);
    chip.close();
  });

  t.test('STATUS latches edges until CTRL.IRQRESET', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW);
    const chip = openChip({ soc: 'rp1', simulate: true, gpiomem: page.path });
    chip.mode(22, 'input');
    chip.sim.drive(22, 1);
    t.equal(page.word(status(22)) & (EDGE_HIGH | IN_FROM_PAD), EDGE_HIGH | IN_FROM_PAD, 'rising edge and pad level');
    chip.sim.drive(22, 0);
    t.equal(page.word(status(22)) & (EDGE_HIGH | EDGE_LOW | IN_FROM_PAD), EDGE_HIGH | EDGE_LOW, 'both edges latched, level low');
    chip.poke('IO_BANK0', 0x2000 + status(22) + 4, IRQRESET);
    t.equal(page.word(status(22)) & (EDGE_HIGH | EDGE_LOW), 0, 'IRQRESET through the SET alias clears the events');
    t.equal(page.word(status(22) + 4) & IRQRESET, 0, 'IRQRESET does not stick');
    t.equal(chip.getMode(22), 'input', 'FUNCSEL untouched by the reset');
    chip.close();
  });
});

t.test('a simulated chip without a file runs on anonymous memory', async (t) => {
  const chip = openChip({ soc: 'bcm2836', simulate: true });
  t.equal(chip.simulated, true);
  chip.mode(26, 'output');
  chip.write(26, 1);
  t.equal(chip.read(26), 1);
  chip.close();
  t.throws(() => chip.read(26), { code: 'ECLOSED', name: 'HwError', peripheral: 'gpio' });
});
