// Exact register sequences of the RP1 GPIO code (RP1 peripherals, ch. 3) over a 0x30000-byte
// file standing in for /dev/gpiomem0: IO_BANKn at 0x4000n, SYS_RIOn at 0x10000 + 0x4000n,
// PADS_BANKn at 0x20000 + 0x4000n; atomic aliases +0x1000 XOR, +0x2000 SET, +0x3000 CLR.
import t from 'tap';
import { openChip } from '../../src/hw/chip.js';
import { RegisterPage, RP1_WINDOW, accesses } from '../support/register-page.js';

const SYS_RIO0 = 0x10000,
  PADS0 = 0x20000;
const SET = 0x2000,
  CLR = 0x3000;
const RIO_OUT = 0x0,
  RIO_OE = 0x4,
  RIO_SYNC_IN = 0x8;
const ctrl = (i: number): number => i * 8 + 4;
const pad = (i: number): number => 4 + i * 4;
const IE = 1 << 6,
  OD = 1 << 7,
  PUE = 1 << 3,
  PDE = 1 << 2;

t.test('rp1 GPIO registers', async (t) => {
  t.test('write = a single write of the mask at SYS_RIO0 + 0x2000 (set) or + 0x3000 (clear)', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW);
    const chip = openChip({ soc: 'rp1', gpiomem: page.path, trace: true });
    chip.write(17, 1);
    t.same(accesses(chip.trace()), [['write', 'SYS_RIO0', RIO_OUT + SET, 1 << 17]]);
    t.equal(page.word(SYS_RIO0 + SET), 1 << 17, 'the SET alias word in the file');
    chip.clearTrace();
    chip.write(17, 0);
    t.same(accesses(chip.trace()), [['write', 'SYS_RIO0', RIO_OUT + CLR, 1 << 17]]);
    t.equal(page.word(SYS_RIO0 + CLR), 1 << 17, 'the CLR alias word in the file');
    t.equal(page.word(SYS_RIO0 + RIO_OUT), 0, 'no read-modify-write of OUT itself');
    chip.clearTrace();
    chip.write(30, 1);
    chip.write(53, 0);
    t.same(
      accesses(chip.trace()),
      [
        ['write', 'SYS_RIO1', RIO_OUT + SET, 1 << 2],
        ['write', 'SYS_RIO2', RIO_OUT + CLR, 1 << 19],
      ],
      'GPIO30 is bit 2 of bank 1, GPIO53 bit 19 of bank 2',
    );
    chip.close();
  });

  t.test('GPIO17 to output: pad IE on and OD off, OE through the SET alias, FUNCSEL 5', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW, (b) => {
      b.writeUInt32LE(OD | 0x16, PADS0 + pad(17)); // output disabled, 4 mA, Schmitt, pull-down
      b.writeUInt32LE(0x1f | (3 << 12), ctrl(17)); // NULL function, OUTOVER bits set
    });
    const chip = openChip({ soc: 'rp1', gpiomem: page.path, trace: true });
    chip.mode(17, 'output');
    t.same(accesses(chip.trace()), [
      ['read', 'PADS_BANK0', pad(17), OD | 0x16],
      ['write', 'PADS_BANK0', pad(17), IE | 0x16],
      ['write', 'SYS_RIO0', RIO_OE + SET, 1 << 17],
      ['read', 'IO_BANK0', ctrl(17), 0x1f | (3 << 12)],
      ['write', 'IO_BANK0', ctrl(17), 5 | (3 << 12)],
    ]);
    t.equal(page.word(ctrl(17)), 5 | (3 << 12), 'CTRL: FUNCSEL = 5 (SYS_RIO), other fields kept');
    chip.clearTrace();
    chip.mode(17, 'input');
    t.same(
      accesses(chip.trace()).filter((a) => a[0] === 'write'),
      [
        ['write', 'PADS_BANK0', pad(17), IE | 0x16],
        ['write', 'SYS_RIO0', RIO_OE + CLR, 1 << 17],
        ['write', 'IO_BANK0', ctrl(17), 5 | (3 << 12)],
      ],
      'input clears OE through the CLR alias',
    );
    chip.close();
  });

  t.test('alternate functions write FUNCSEL only in CTRL 4:0; none is FUNCSEL 0x1f', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW, (b) => b.writeUInt32LE(0xffff_ffe0, ctrl(12)));
    const chip = openChip({ soc: 'rp1', gpiomem: page.path });
    for (const [mode, sel] of [
      ['alt0', 0],
      ['alt3', 3],
      ['alt8', 8],
      ['none', 0x1f],
    ] as const) {
      chip.mode(12, mode);
      t.equal(page.word(ctrl(12)), (0xffff_ffe0 | sel) >>> 0, `${mode}: FUNCSEL ${sel}`);
      t.equal(chip.getMode(12), mode);
    }
    t.throws(() => chip.mode(12, 'alt5'), { code: 'EMODE_UNSUPPORTED' }, 'a5 is SYS_RIO: use input/output');
    chip.close();
  });

  t.test('pull up and down: PADS PUE (bit 3) / PDE (bit 2), one read-modify-write', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW, (b) => b.writeUInt32LE(0x56, PADS0 + pad(4)));
    const chip = openChip({ soc: 'rp1', gpiomem: page.path, trace: true });
    chip.pull(4, 'up');
    t.same(accesses(chip.trace()), [
      ['read', 'PADS_BANK0', pad(4), 0x56],
      ['write', 'PADS_BANK0', pad(4), (0x56 & ~PDE) | PUE],
    ]);
    chip.clearTrace();
    chip.pull(4, 'down');
    t.same(accesses(chip.trace()), [
      ['read', 'PADS_BANK0', pad(4), (0x56 & ~PDE) | PUE],
      ['write', 'PADS_BANK0', pad(4), 0x56],
    ]);
    chip.pull(4, 'none');
    t.equal(page.word(PADS0 + pad(4)), 0x56 & ~PDE, 'none clears both');
    chip.close();
  });

  t.test('drive strength (DRIVE 5:4) and slew (SLEWFAST bit 0)', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW, (b) => b.writeUInt32LE(0x56, PADS0 + pad(18)));
    const chip = openChip({ soc: 'rp1', gpiomem: page.path });
    for (const [ma, code] of [
      [2, 0],
      [4, 1],
      [8, 2],
      [12, 3],
    ] as const) {
      chip.drive(18, ma);
      t.equal((page.word(PADS0 + pad(18)) >>> 4) & 3, code, `${ma} mA`);
      t.equal(page.word(PADS0 + pad(18)) & ~0x30, 0x56 & ~0x30, 'other pad bits kept');
    }
    chip.slew(18, 'fast');
    t.equal(page.word(PADS0 + pad(18)) & 1, 1);
    chip.slew(18, 'slow');
    t.equal(page.word(PADS0 + pad(18)) & 1, 0);
    t.throws(() => chip.drive(18, 6 as 4), { code: 'EDRIVE' });
    chip.close();
  });

  t.test('an 8-pin mask update is one write to the SET/CLR alias; readAll is one SYNC_IN read', async (t) => {
    const page = new RegisterPage(t, RP1_WINDOW, (b) => b.writeUInt32LE(0xf00f_0ff0, SYS_RIO0 + RIO_SYNC_IN));
    const chip = openChip({ soc: 'rp1', gpiomem: page.path, trace: true });
    chip.setMask(0xff << 4);
    chip.clearMask(0xff << 4);
    chip.setMask(0xff, 2);
    t.equal(chip.readAll(), 0x000f_0ff0, "masked to bank 0's 28 pins");
    t.same(accesses(chip.trace()), [
      ['write', 'SYS_RIO0', RIO_OUT + SET, 0xff0],
      ['write', 'SYS_RIO0', RIO_OUT + CLR, 0xff0],
      ['write', 'SYS_RIO2', RIO_OUT + SET, 0xff],
      ['read', 'SYS_RIO0', RIO_SYNC_IN, 0xf00f_0ff0],
    ]);
    t.throws(() => chip.setMask(1 << 6, 1), { code: 'EMASK_RANGE' }, 'bank 1 has 6 pins');
    chip.close();
  });

  t.test('BCM-only operations are refused and RP1-only ones are refused on BCM', async (t) => {
    const page = new RegisterPage(t, 0x1000);
    const chip = openChip({ soc: 'bcm2711', gpiomem: page.path, trace: true });
    t.throws(() => chip.drive(17, 8), { code: 'ENOTSUP', name: 'HwError' });
    t.throws(() => chip.slew(17, 'fast'), { code: 'ENOTSUP' });
    t.throws(() => chip.mode(17, 'alt6'), { code: 'EMODE_UNSUPPORTED', name: 'TypeError' });
    t.same(chip.trace(), []);
    chip.close();
  });
});
