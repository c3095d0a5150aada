// I2C through the BSC registers. The silicon cannot exist here: transfers run over the
// behavioural BSC model (native/soc/model_bsc.cc), and the register sequence is asserted on the
// accessor's trace. A file-backed page stands in for /dev/mem where the real mapping path is tested.
import t from 'tap';
import { mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BscI2c, BSC_REG, bscOwner, readCoreClockHz, type BscTraceEntry } from '../../src/hw/i2c-bsc.js';
import { Bme280 } from '../../src/hw/devices/bme280.js';
import { VirtualBme280 } from '../../src/hw/devices/virtual-bme280.js';

const NAMES = Object.fromEntries(Object.entries(BSC_REG).map(([k, v]) => [v, k]));
/** "W C 8080" style lines: short enough to compare whole sequences. */
const lines = (tr: BscTraceEntry[]): string[] => tr.map((e) => `${e.op === 'read' ? 'R' : 'W'} ${NAMES[e.offset]} ${e.value.toString(16)}`);

t.test('BSC clock from the real core clock', async (t) => {
  const b = BscI2c.simulate({ trace: true, coreClockHz: 500_000_000, sclHz: 100_000 });
  t.equal(b.sclHz, 100_000);
  // CDIV 5000; FEDL = CDIV/16 = 312, REDL = CDIV/4 = 1250; CLKT.TOUT 0x40 (reset value).
  t.same(lines(b.trace()), ['W DIV 1388', 'W DEL 13804e2', 'W CLKT 40']);
  t.equal(BscI2c.simulate({ coreClockHz: 400_000_000, sclHz: 400_000 }).sclHz, 400_000, 'Pi 3 core 400 MHz, fast mode: CDIV 1000');
  const odd = BscI2c.simulate({ trace: true, coreClockHz: 250_000_000, sclHz: 300_000 });
  t.equal(odd.trace()[0]?.value, 834, '833.3 rounds up to an even 834, so SCL stays at or below the request');
  t.equal(odd.sclHz, Math.floor(250_000_000 / 834));
  t.throws(() => BscI2c.simulate({ sclHz: 50 }), { code: 'EINVAL' });
});

t.test('BSC transfers over the model', async (t) => {
  const b = BscI2c.simulate({ trace: true });
  const regs = new Uint8Array(256).map((_, i) => (i * 5 + 1) & 0xff);
  b.attachDevice(0x76, regs);

  t.test('a write: FIFO and status cleared first, FIFO pre-filled, then ST', async (t) => {
    b.clearTrace();
    await b.write(0x76, [0xf4, 0x27]);
    t.same(lines(b.trace()), [
      'W C 30',
      'W S 302',
      'W A 76',
      'W DLEN 2',
      'W FIFO f4',
      'W FIFO 27',
      'W C 8080',
      'R S 15',
      'R S 15',
      'R S 55',
      'R S 52', // TA..., then DONE with the FIFO empty
      'W S 302', // DONE/ERR/CLKT are write-1-to-clear
    ]);
    t.same(b.busLog(), ['S 76W', 'W:f4', 'W:27', 'P']);
    t.equal(b.deviceRegisters(0x76)?.[0xf4], 0x27);
  });

  t.test('write then read with a repeated start (no stop between)', async (t) => {
    b.clearTrace();
    t.same([...(await b.writeRead(0x76, [0x10], 3))], [0x51, 0x56, 0x5b]);
    t.same(lines(b.trace()), [
      'W C 30',
      'W S 302',
      'W A 76',
      'W DLEN 1',
      'W FIFO 10',
      'W C 8080',
      'R S 15', // TA: the write is on the bus; queue the read now
      'W DLEN 3',
      'W C 8081',
      // One bus step per status read: the next byte arrives while the CPU drains the last.
      'R S 55',
      'R S 51',
      'R S 71',
      'R FIFO 51',
      'R S 71',
      'R FIFO 56',
      'R S 71',
      'R FIFO 5b',
      'R S 52',
      'W S 302',
    ]);
    t.same(b.busLog(), ['S 76W', 'W:10', 'Sr 76R', 'R:51', 'R:56', 'R:5b', 'P']);
  });

  t.test('reads and writes longer than the 16-byte FIFO', async (t) => {
    const data = Array.from({ length: 40 }, (_, i) => (0xa0 + i) & 0xff);
    b.clearTrace();
    await b.write(0x76, [0x20, ...data]);
    const tr = b.trace();
    const st = tr.findIndex((e) => e.op === 'write' && e.offset === BSC_REG.C && e.value === 0x8080);
    t.equal(tr.slice(0, st).filter((e) => e.offset === BSC_REG.FIFO).length, 16, '16 bytes pre-filled before ST');
    t.equal(tr.filter((e) => e.op === 'write' && e.offset === BSC_REG.FIFO).length, 41, 'the rest refilled on TXD');
    t.same([...(b.deviceRegisters(0x76) ?? Buffer.alloc(0)).subarray(0x20, 0x20 + 40)], data);
    b.clearTrace();
    t.same([...(await b.readRegisters(0x76, 0x20, 40))], data, '40 bytes back through the FIFO');
    t.equal(b.trace().filter((e) => e.op === 'read' && e.offset === BSC_REG.FIFO).length, 40);
  });

  t.test('no ACK is ENXIO, a stretch timeout ETIMEDOUT, a stalled controller ETIMEDOUT', async (t) => {
    await t.rejects(b.write(0x33, [1]), { code: 'ENXIO', errno: 6, syscall: 'bsc', peripheral: 'bsc', reason: 'no ACK (S.ERR)' });
    t.same(b.busLog().slice(-3), ['S 33W', 'NACK', 'P']);
    b.attachDevice(0x40, undefined, { stretch: true });
    await t.rejects(b.read(0x40, 2), { code: 'ETIMEDOUT', reason: 'clock stretch timeout (S.CLKT)' });
    const noTimeout = BscI2c.simulate({ stretchTimeoutCycles: 0 });
    noTimeout.attachDevice(0x40, undefined, { stretch: true });
    await t.rejects(
      noTimeout.write(0x40, [1]),
      { code: 'ETIMEDOUT', reason: 'the transfer did not finish (no S.DONE)' },
      'bounded polling',
    );
  });

  t.test('bad input is refused before any register is touched', async (t) => {
    b.clearTrace();
    await t.rejects(b.write(0x80, [1]), { code: 'EINVAL' });
    await t.rejects(b.writeRead(0x76, Buffer.alloc(17), 1), { code: 'EINVAL' });
    await t.rejects(b.read(0x76, 0), { code: 'EINVAL' });
    t.same(b.trace(), []);
  });

  t.test('a BME280 decoded through the BSC', async (t) => {
    const bme = new VirtualBme280({ temperatureC: 23.45, pressurePa: 99000, humidityPercent: 55.5 });
    // The model's devices are register maps: measure in the virtual part, then put its registers
    // (calibration and results) behind address 0x77 of the simulated controller.
    bme.write(Buffer.from([0xf2, 0x01])); // ctrl_hum: humidity x1
    bme.write(Buffer.from([0xf4, 0x25])); // ctrl_meas: T x1, P x1, forced
    b.attachDevice(0x77, bme.regs);
    const r = await new Bme280(b, 0x77).measure();
    t.equal(r.temperatureC, 23.45);
    t.ok(Math.abs(r.pressurePa - 99000) < 0.2);
    t.ok(Math.abs(r.humidityPercent - 55.5) < 0.01);
  });
});

t.test('BSC on real hardware paths', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-bsc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sysfs = join(dir, 'sys');
  const debugfs = join(dir, 'debug');
  mkdirSync(join(debugfs, 'clk', 'vpu'), { recursive: true });
  writeFileSync(join(debugfs, 'clk', 'vpu', 'clk_rate'), '500000000\n');

  t.test('refuses a controller the kernel driver owns, with the reason', async (t) => {
    mkdirSync(join(sysfs, 'bus', 'platform', 'drivers', 'i2c-bcm2835', 'fe804000.i2c'), { recursive: true });
    t.equal(bscOwner(1, sysfs), 'i2c-bcm2835 (fe804000.i2c)');
    t.equal(bscOwner(0, sysfs), undefined);
    t.throws(() => BscI2c.open({ bus: 1, soc: 'bcm2711', sysfs, debugfs }), { code: 'EBUSY', message: /kernel driver i2c-bcm2835/ });
    t.throws(() => BscI2c.open({ bus: 1, soc: 'rp1', sysfs, debugfs }), { code: 'ENOTSUP' }, 'the Pi 5 has no BSC');
    t.throws(() => BscI2c.open({ bus: 3, soc: 'bcm2837', sysfs, debugfs }), { code: 'EINVAL' }, 'BSC3 is BCM2711 only');
  });

  t.test('reads the core clock, never assumes one', async (t) => {
    t.equal(readCoreClockHz(debugfs), 500_000_000);
    t.throws(() => readCoreClockHz(join(dir, 'none')), { code: 'ENOCLOCK' });
  });

  t.test('maps the controller at its physical address (file-backed page)', async (t) => {
    // A sparse file standing in for /dev/mem: BSC0 of a BCM2711 at 0xFE205000.
    const mem = join(dir, 'mem');
    const fd = openSync(mem, 'w+');
    ftruncateSync(fd, 0xfe206000);
    closeSync(fd);
    const b = BscI2c.open({ bus: 0, soc: 'bcm2711', sysfs, debugfs, memPath: mem, sclHz: 400_000 });
    t.equal(b.sclHz, 400_000);
    const div = Buffer.alloc(4);
    const rfd = openSync(mem, 'r');
    readSync(rfd, div, 0, 4, 0xfe205000 + BSC_REG.DIV);
    closeSync(rfd);
    t.equal(div.readUInt32LE(0), 1250, 'DIV written at 0xFE205014');
    // A page of memory never raises DONE: the poll bound ends the transfer.
    await t.rejects(b.write(0x76, [0]), { code: 'ETIMEDOUT' });
  });
});
