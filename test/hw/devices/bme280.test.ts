import t from 'tap';
import {
  Bme280,
  compensateFloat,
  compensateHumidityQ22_10,
  compensatePressureQ24_8,
  compensateTemperature,
  decodeBme280,
  encodeBme280Calibration,
  parseBme280Calibration,
  type Bme280Calibration,
} from '../../../src/hw/devices/bme280.js';
import { VirtualI2cBus } from '../../../src/hw/devices/register-bus.js';
import { EXAMPLE_CALIBRATION, VirtualBme280 } from '../../../src/hw/devices/virtual-bme280.js';

const cal = EXAMPLE_CALIBRATION;

t.test('BME280 compensation', async (t) => {
  t.test('matches the worked example of the datasheet formulas', async (t) => {
    // Worked example (Bosch BMP280 datasheet 3.12, same T/P formulas as the BME280):
    // adc_T = 519888 -> t_fine 128422, T = 25.08 °C; adc_P = 415148 -> p = 100653.27 Pa.
    const tc = compensateTemperature(519888, cal);
    t.equal(tc.tFine, 128422);
    t.equal(tc.centiCelsius, 2508, '25.08 °C (integer formula)');
    const f = compensateFloat(519888, 415148, 0, cal);
    t.equal(f.celsius.toFixed(2), '25.08', 'floating-point formula');
    t.equal(f.pa.toFixed(2), '100653.27', 'floating-point formula');
    const q = compensatePressureQ24_8(415148, tc.tFine, cal);
    t.equal(q, 25767233, '64-bit integer formula, Q24.8');
    t.ok(Math.abs(q / 256 - f.pa) < 0.05, `integer ${q / 256} Pa agrees with float ${f.pa.toFixed(3)} Pa`);
  });

  t.test('integer and floating-point humidity agree over the range', async (t) => {
    // The datasheet has no humidity example; its two formulas must agree with each other.
    const { tFine } = compensateTemperature(519888, cal);
    let worst = 0;
    for (let adcH = 20000; adcH <= 40000; adcH += 500) {
      const i = compensateHumidityQ22_10(adcH, tFine, cal) / 1024;
      const f = compensateFloat(519888, 415148, adcH, cal).rh;
      worst = Math.max(worst, Math.abs(i - f));
    }
    t.ok(worst < 0.01, `worst difference ${worst.toFixed(4)} %RH`);
    t.equal(compensateHumidityQ22_10(0, tFine, cal), 0, 'clamped at 0 %RH');
    t.equal(compensateHumidityQ22_10(0xffff, tFine, cal), 100 * 1024, 'clamped at 100 %RH');
  });

  t.test('calibration registers round-trip, including the packed dig_H4/dig_H5', async (t) => {
    const odd: Bme280Calibration = { ...cal, H4: -1234, H5: 2047, H6: -5, H2: -300 };
    const { tp, h } = encodeBme280Calibration(odd);
    t.same(parseBme280Calibration(tp, h), odd);
    t.equal(h[4], ((2047 & 0xf) << 4) | (-1234 & 0xf), '0xE5 holds H5[3:0] high and H4[3:0] low');
    t.throws(() => parseBme280Calibration(Buffer.alloc(10), h), { code: 'EINVAL' });
  });

  t.test('decodes a burst read and flags skipped channels', async (t) => {
    const burst = Buffer.from([
      415148 >> 12,
      (415148 >> 4) & 0xff,
      (415148 & 0xf) << 4,
      519888 >> 12,
      (519888 >> 4) & 0xff,
      (519888 & 0xf) << 4,
      0x6a,
      0x00,
    ]);
    const r = decodeBme280(burst, cal);
    t.equal(r.temperatureC, 25.08);
    t.equal(r.pressurePa, 25767233 / 256);
    t.same(r.raw, { adcT: 519888, adcP: 415148, adcH: 0x6a00 });
    const skipped = decodeBme280(Buffer.from([0x80, 0, 0, 0x80, 0, 0, 0x80, 0]), cal);
    t.ok(Number.isNaN(skipped.temperatureC) && Number.isNaN(skipped.humidityPercent));
  });
});

t.test('BME280 driver against the virtual BME280', async (t) => {
  t.test('reads the environment back within the sensor resolution', async (t) => {
    const dev = new VirtualBme280({ temperatureC: 21.37, pressurePa: 98765.4, humidityPercent: 43.2 });
    const bus = new VirtualI2cBus().attach(0x76, dev);
    const bme = new Bme280(bus, 0x76);
    t.same(await bme.init(), cal, 'calibration read from 0x88 and 0xE1');
    const r = await bme.measure();
    t.equal(r.temperatureC, 21.37);
    t.ok(Math.abs(r.pressurePa - 98765.4) < 0.2, `pressure ${r.pressurePa} Pa`);
    t.ok(Math.abs(r.humidityPercent - 43.2) < 0.01, `humidity ${r.humidityPercent} %RH`);
    t.equal(dev.measurements, 1, 'one forced measurement');
    t.equal(dev.regs[0xf4]! & 0b11, 0, 'back to sleep mode after the forced measurement');
    dev.env = { temperatureC: -12.5, pressurePa: 101325, humidityPercent: 88 };
    const r2 = await bme.measure({ t: 2, p: 16, h: 1 });
    t.equal(r2.temperatureC, -12.5);
    t.ok(Math.abs(r2.pressurePa - 101325) < 0.2);
  });

  t.test('a skipped humidity channel decodes to NaN', async (t) => {
    const bus = new VirtualI2cBus().attach(0x77, new VirtualBme280({ temperatureC: 20, pressurePa: 100000, humidityPercent: 50 }));
    const r = await new Bme280(bus, 0x77).measure({ h: 0 });
    t.equal(r.temperatureC, 20);
    t.ok(Number.isNaN(r.humidityPercent));
  });

  t.test('soft reset restores the power-on state and keeps calibration', async (t) => {
    const dev = new VirtualBme280({ temperatureC: 20, pressurePa: 100000, humidityPercent: 50 });
    const bus = new VirtualI2cBus().attach(0x76, dev);
    await bus.writeRegisters(0x76, 0xf2, [3]);
    await bus.writeRegisters(0x76, 0xe0, [0xb6]);
    t.equal(dev.regs[0xf2], 0);
    t.same([...(await bus.readRegisters(0x76, 0xd0, 1))], [0x60]);
    await bus.writeRegisters(0x76, 0x88, [1, 2]);
    t.same(
      parseBme280Calibration(Buffer.from(dev.regs.subarray(0x88, 0xa2)), Buffer.from(dev.regs.subarray(0xe1, 0xe8))),
      cal,
      'calibration is read-only',
    );
  });

  t.test('another chip or no chip is a coded error', async (t) => {
    const bus = new VirtualI2cBus();
    await t.rejects(new Bme280(bus, 0x76).init(), { code: 'ENXIO' });
    const other = new VirtualBme280({ temperatureC: 20, pressurePa: 100000, humidityPercent: 50 });
    other.regs[0xd0] = 0x58; // a BMP280's ID
    bus.attach(0x76, other);
    await t.rejects(new Bme280(bus, 0x76).init(), { code: 'EBADCHIP' });
  });
});
