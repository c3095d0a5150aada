import t from 'tap';
import {
  Ads1115,
  ADS1115_CONFIG_RESET,
  ads1115CodeToVolts,
  ads1115VoltsToCode,
  decodeAds1115Config,
  encodeAds1115Config,
  VirtualAds1115,
} from '../../../src/hw/devices/ads1115.js';
import { VirtualI2cBus } from '../../../src/hw/devices/register-bus.js';

t.test('ADS1115 decoding', async (t) => {
  t.test('the power-on config decodes to the datasheet defaults', async (t) => {
    t.same(decodeAds1115Config(ADS1115_CONFIG_RESET), {
      os: true,
      mux: '0-1',
      fsrVolts: 2.048,
      mode: 'single-shot',
      dataRateSps: 128,
      comparatorQueue: 'off',
    });
    t.equal(encodeAds1115Config({ os: true, mux: '0-1', fsrVolts: 2.048, mode: 'single-shot', dataRateSps: 128 }), ADS1115_CONFIG_RESET);
    t.equal(encodeAds1115Config({ os: true, mux: '3-gnd', fsrVolts: 0.256, mode: 'continuous', dataRateSps: 860 }), 0xfae3);
    t.throws(() => encodeAds1115Config({ os: true, mux: '0-gnd', fsrVolts: 3.3, mode: 'continuous', dataRateSps: 860 }), {
      code: 'EINVAL',
    });
  });

  t.test('codes to volts, with the two-complement ends', async (t) => {
    t.equal(ads1115CodeToVolts(0x7fff, 2.048), (2.048 * 32767) / 32768, '+FS (1 - 2^-15)');
    t.equal(ads1115CodeToVolts(0x8000, 2.048), -2.048, '-FS');
    t.equal(ads1115CodeToVolts(0x0001, 0.256), 0.256 / 32768, '1 LSB = 7.8125 uV at ±0.256 V');
    t.equal(ads1115VoltsToCode(5, 4.096), 0x7fff, 'clamped high');
    t.equal(ads1115VoltsToCode(-5, 4.096), 0x8000, 'clamped low');
  });
});

t.test('ADS1115 driver against the virtual ADS1115', async (t) => {
  const dev = new VirtualAds1115();
  dev.inputs = [1.2345, 0.5, 3.0, 0.0];
  const bus = new VirtualI2cBus().attach(0x48, dev);
  const adc = new Ads1115(bus);
  const lsb = (fsr: number): number => fsr / 32768;
  t.ok(Math.abs((await adc.read('0-gnd', 2.048)) - 1.2345) <= lsb(2.048) / 2, 'AIN0 single-ended');
  t.ok(Math.abs((await adc.read('0-1', 2.048)) - 0.7345) <= lsb(2.048) / 2, 'AIN0-AIN1 differential');
  t.equal(await adc.read('2-gnd', 2.048), (2.048 * 32767) / 32768, 'over range clamps to +FS');
  t.ok(Math.abs((await adc.read('2-gnd', 4.096)) - 3.0) <= lsb(4.096) / 2, 'a wider range reads 3 V');
  t.equal(dev.conversions, 4, 'one conversion per single-shot read');
  t.equal((await adc.config()).mux, '2-gnd');
  t.throws(() => new Ads1115(bus, 0x50), { code: 'EINVAL' });
});
