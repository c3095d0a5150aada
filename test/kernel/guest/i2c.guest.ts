// I2C through /dev/i2c-N against i2c-stub (chips at 0x76 and 0x50; plain-I2C path from the rig's
// patch). Runs inside the kernel rig's guest only; test/kernel/rig.test.ts boots it.
import t from 'tap';
import { I2cBus } from '../../../src/hw/i2c.js';
import { stubBus } from './sim.js';

const path = stubBus();
const STUB_A = 0x76;
const STUB_B = 0x50;

t.test('i2c-dev against i2c-stub', async (t) => {
  const bus = I2cBus.open(path, { timeoutMs: 200, retries: 1 });
  t.teardown(() => bus.close());

  t.test('reports the adapter functionality', async (t) => {
    const f = bus.functionality();
    t.equal(f.I2C, true, 'plain I2C (the rig patch adds master_xfer)');
    t.equal(f.SMBUS_QUICK, true);
    t.equal(f.SMBUS_READ_WORD_DATA, true);
    t.equal(f.SMBUS_READ_BLOCK_DATA, true, 'block data enabled through the functionality parameter');
    t.equal(f.SMBUS_PROC_CALL, false, 'the stub has no process call (the core would emulate it over plain I2C)');
    t.equal(f.TENBIT_ADDR, false);
  });

  t.test('SMBus byte data round-trips', async (t) => {
    await bus.writeByte(STUB_A, 0xf4, 0x27);
    t.equal(await bus.readByte(STUB_A, 0xf4), 0x27);
    await bus.writeByte(STUB_A, 0xf4, 0x00);
    t.equal(await bus.readByte(STUB_A, 0xf4), 0x00);
  });

  t.test('SMBus send/receive byte use the register pointer', async (t) => {
    await bus.writeByte(STUB_A, 0x30, 0x5a);
    await bus.sendByte(STUB_A, 0x30);
    t.equal(await bus.receiveByte(STUB_A), 0x5a);
  });

  t.test('SMBus word data round-trips little-endian', async (t) => {
    await bus.writeWord(STUB_B, 0x02, 0x1234);
    t.equal(await bus.readWord(STUB_B, 0x02), 0x1234);
    t.equal(await bus.readByte(STUB_B, 0x02), 0x34, 'the byte view is the low byte');
  });

  t.test('SMBus block and I2C block transfers', async (t) => {
    const data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    await bus.writeBlock(STUB_B, 0x80, data);
    t.same([...(await bus.readBlock(STUB_B, 0x80))], data, 'block data (count byte on the wire)');
    const longer = Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
    await bus.writeI2cBlock(STUB_A, 0x40, longer);
    t.same([...(await bus.readI2cBlock(STUB_A, 0x40, 32))], longer, 'I2C block of 32 bytes');
  });

  t.test('I2C_RDWR combined write-then-read with a repeated start', async (t) => {
    const bytes = Array.from({ length: 40 }, (_, i) => (0xa0 + i) & 0xff);
    await bus.transfer([{ addr: STUB_A, write: [0x10, ...bytes] }]);
    const [got] = await bus.transfer([
      { addr: STUB_A, write: [0x10] },
      { addr: STUB_A, read: 40 },
    ]);
    t.same([...(got as Buffer)], bytes, '40 bytes back in one transfer (more than one SMBus block)');
    t.equal(await bus.readByte(STUB_A, 0x10 + 39), bytes[39], 'the SMBus view sees the same registers');
    const [a, b] = await bus.transfer([
      { addr: STUB_A, write: [0x10] },
      { addr: STUB_A, read: 2 },
      { addr: STUB_B, write: [0x02] },
      { addr: STUB_B, read: 1 },
    ]);
    t.same([...(a as Buffer)], [0xa0, 0xa1], 'four messages, two devices, reads in order');
    t.same([...(b as Buffer)], [0x34]);
  });

  t.test('readRegisters / writeRegisters take the plain I2C path', async (t) => {
    await bus.writeRegisters(STUB_B, 0xc0, [9, 8, 7, 6]);
    t.same([...(await bus.readRegisters(STUB_B, 0xc0, 4))], [9, 8, 7, 6]);
  });

  t.test('plain read() and write()', async (t) => {
    await bus.write(STUB_A, [0x60, 0xde, 0xad]);
    await bus.write(STUB_A, [0x60]);
    t.same([...(await bus.read(STUB_A, 2))], [0xde, 0xad]);
  });

  t.test('an absent address gives its coded error', async (t) => {
    await t.rejects(
      bus.readByte(0x33, 0),
      { code: 'ENODEV', errno: 19, syscall: 'ioctl(I2C_SMBUS)', peripheral: 'i2c' },
      'SMBus path: i2c-stub says ENODEV',
    );
    await t.rejects(
      bus.transfer([
        { addr: 0x33, write: [0] },
        { addr: 0x33, read: 1 },
      ]),
      { code: 'ENXIO', errno: 6, syscall: 'ioctl(I2C_RDWR)' },
      'plain path: no ACK is ENXIO',
    );
  });

  t.test('an unsupported transfer gives EOPNOTSUPP', async (t) => {
    await t.rejects(
      bus.transfer([{ addr: 0x150, write: [0], tenBit: true }]),
      { code: 'EOPNOTSUPP', syscall: 'ioctl(I2C_RDWR)' },
      'ten-bit address on an adapter without it',
    );
  });

  t.test('bad input is refused before the bus is touched', async (t) => {
    await bus.writeByte(STUB_A, 0x70, 0x11);
    await t.rejects(bus.writeByte(STUB_A, 0x70, 0x100), { code: 'EINVAL' });
    await t.rejects(bus.readByte(0x80, 0), { code: 'EINVAL' });
    await t.rejects(bus.readI2cBlock(STUB_A, 0, 33), { code: 'EINVAL' });
    await t.rejects(bus.transfer([]), { code: 'EINVAL' });
    t.equal(await bus.readByte(STUB_A, 0x70), 0x11, 'register unchanged');
  });

  t.test('a scan finds exactly the stub addresses', async (t) => {
    t.same(await bus.scan(), { present: [STUB_B, STUB_A], busy: [] }, 'auto mode (read byte at 0x50, quick at 0x76)');
    t.same((await bus.scan({ mode: 'quick' })).present, [STUB_B, STUB_A]);
    t.same((await bus.scan({ first: 0x51, last: 0x75 })).present, []);
  });

  t.test('transfers are serialised per bus, across handles', async (t) => {
    const other = I2cBus.open(path);
    t.teardown(() => other.close());
    // Each pair writes a pointer then reads through it; interleaving would mix the pointers.
    for (let i = 0; i < 32; i++) await bus.writeByte(STUB_A, 0x80 + i, i * 3);
    const reads = await Promise.all(Array.from({ length: 32 }, (_, i) => (i % 2 ? other : bus).writeRead(STUB_A, [0x80 + i], 1)));
    t.same(
      reads.map((b) => b[0]),
      Array.from({ length: 32 }, (_, i) => i * 3),
    );
  });

  t.test('a closed bus refuses transfers', async (t) => {
    const b = I2cBus.open(path);
    b.close();
    t.throws(() => b.functionality(), { code: 'ECLOSED' });
    t.throws(() => I2cBus.open('/dev/i2c-99'), { code: 'ENOENT', syscall: 'open' });
  });
});
