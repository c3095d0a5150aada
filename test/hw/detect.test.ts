import t from 'tap';
import { detectBoard } from '../../src/hw/detect.js';
import { fixture } from '../support/paths.js';

// Each fixture tree holds the files the kernel exposes on that board (see
// test/fixtures/boards/generate.mjs); detection runs on them unchanged.
interface Expected {
  soc: string;
  model: string;
  revision: string;
  peripheralBase: bigint;
  gpioBase: bigint;
  gpiomem: string;
  memoryMb?: number;
}

const boards: Record<string, Expected> = {
  'pi-1-b': { soc: 'bcm2835', model: 'B', revision: '0002', peripheralBase: 0x20000000n, gpioBase: 0x20200000n, gpiomem: '/dev/gpiomem' },
  'pi-zero-w': {
    soc: 'bcm2835',
    model: 'Zero W',
    revision: '9000c1',
    peripheralBase: 0x20000000n,
    gpioBase: 0x20200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 512,
  },
  'pi-2-b': {
    soc: 'bcm2836',
    model: '2B',
    revision: 'a21041',
    peripheralBase: 0x3f000000n,
    gpioBase: 0x3f200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 1024,
  },
  'pi-3-b': {
    soc: 'bcm2837',
    model: '3B',
    revision: 'a02082',
    peripheralBase: 0x3f000000n,
    gpioBase: 0x3f200000n,
    gpiomem: '/dev/gpiomem',
  },
  'pi-3-b-plus': {
    soc: 'bcm2837',
    model: '3B+',
    revision: 'a020d3',
    peripheralBase: 0x3f000000n,
    gpioBase: 0x3f200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 1024,
  },
  'pi-zero-2-w': {
    soc: 'bcm2837',
    model: 'Zero 2 W',
    revision: '902120',
    peripheralBase: 0x3f000000n,
    gpioBase: 0x3f200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 512,
  },
  'pi-4-b': {
    soc: 'bcm2711',
    model: '4B',
    revision: 'c03111',
    peripheralBase: 0xfe000000n,
    gpioBase: 0xfe200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 4096,
  },
  'pi-400': {
    soc: 'bcm2711',
    model: '400',
    revision: 'c03130',
    peripheralBase: 0xfe000000n,
    gpioBase: 0xfe200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 4096,
  },
  'pi-cm4': {
    soc: 'bcm2711',
    model: 'CM4',
    revision: 'b03140',
    peripheralBase: 0xfe000000n,
    gpioBase: 0xfe200000n,
    gpiomem: '/dev/gpiomem',
    memoryMb: 2048,
  },
  'pi-5': {
    soc: 'rp1',
    model: '5',
    revision: 'c04170',
    peripheralBase: 0x107c000000n,
    gpioBase: 0x1f000d0000n,
    gpiomem: '/dev/gpiomem0',
    memoryMb: 4096,
  },
};

t.test('board detection over fixture trees', async (t) => {
  for (const [board, want] of Object.entries(boards)) {
    t.test(`detects ${board} as ${want.soc} ${want.model}`, async (t) => {
      const got = detectBoard({ root: fixture('boards', board) });
      t.equal(got.soc, want.soc, 'SoC');
      t.equal(got.model, want.model, 'model from the revision code');
      t.equal(got.revision, want.revision, 'revision code');
      t.equal(got.peripheralBase, want.peripheralBase, 'peripheral base from soc/ranges');
      t.equal(got.gpioBase, want.gpioBase, 'GPIO register base');
      t.equal(got.gpiomem, want.gpiomem, 'device to map');
      if (want.memoryMb !== undefined) t.equal(got.memoryMb, want.memoryMb, 'memory from the code');
      t.ok(
        got.compatible.some((c) => c.startsWith('raspberrypi,')),
        'compatible strings read',
      );
      t.match(got.modelName, /^Raspberry Pi/, 'model string from the device tree');
    });
  }

  t.test('reads the revision from linux,revision when cpuinfo has none', async (t) => {
    const got = detectBoard({ root: fixture('boards', 'pi-zero-2-w') });
    t.equal(got.revision, '902120');
    t.equal(got.boardRevision, '1.0');
  });

  t.test('an unknown board fails with a coded error naming what was found', async (t) => {
    t.throws(() => detectBoard({ root: fixture('boards', 'unknown-rk3588') }), {
      name: 'HwError',
      code: 'EBOARD_UNKNOWN',
      message: /compatible: radxa,rock-5b, rockchip,rk3588; revision code: none/,
    });
  });

  t.test('an empty tree (not a Pi at all) fails the same way', async (t) => {
    t.throws(() => detectBoard({ root: fixture('boards', 'does-not-exist') }), {
      code: 'EBOARD_UNKNOWN',
      message: /compatible: none; revision code: none/,
    });
  });
});
