/**
 * A virtual BME280 for the simulator: chip ID, calibration registers, soft reset, forced and
 * normal mode, and measurement registers filled from an environment the test or demo sets. The
 * raw ADC values are found by inverting the datasheet's compensation (each channel is monotonic
 * in its ADC value), so a driver reading this device decodes back to the environment, within the
 * sensor's resolution.
 */
import {
  BME280_CHIP_ID,
  BME280_REG,
  BME280_RESET_WORD,
  type Bme280Calibration,
  compensateHumidityQ22_10,
  compensatePressureQ24_8,
  compensateTemperature,
  encodeBme280Calibration,
} from './bme280.js';
import { RegisterMapDevice } from './register-map.js';

export interface Bme280Environment {
  temperatureC: number;
  pressurePa: number;
  humidityPercent: number;
}

/**
 * A calibration for virtual parts: T and P are the worked example of the BMP280/BME280 compensation
 * (dig_T1 27504 ...); the datasheet gives no humidity example, so H holds plausible values.
 */
export const EXAMPLE_CALIBRATION: Bme280Calibration = {
  T1: 27504,
  T2: 26435,
  T3: -1000,
  P1: 36477,
  P2: -10685,
  P3: 3024,
  P4: 2855,
  P5: 140,
  P6: -7,
  P7: 15500,
  P8: -14600,
  P9: 6000,
  H1: 75,
  H2: 362,
  H3: 0,
  H4: 313,
  H5: 50,
  H6: 30,
};

/** Smallest x in [lo, hi] with f(x) >= target for an increasing f (binary search). */
function searchUp(lo: number, hi: number, f: (x: number) => number, target: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (f(mid) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export class VirtualBme280 extends RegisterMapDevice {
  readonly calibration: Bme280Calibration;
  env: Bme280Environment;
  /** Measurements made (forced-mode triggers, plus normal-mode reads). */
  measurements = 0;

  constructor(env: Bme280Environment, calibration: Bme280Calibration = EXAMPLE_CALIBRATION) {
    const { tp, h } = encodeBme280Calibration(calibration);
    const readOnly: number[] = [BME280_REG.ID, BME280_REG.STATUS];
    for (let i = 0; i < tp.length; i++) readOnly.push(BME280_REG.CALIB_TP + i);
    for (let i = 0; i < h.length; i++) readOnly.push(BME280_REG.CALIB_H + i);
    for (let i = 0; i < 8; i++) readOnly.push(BME280_REG.DATA + i);
    super({
      readOnly,
      onWrite: (reg, value) => this.#written(reg, value),
      onRead: (reg) => {
        // In normal mode the data registers always hold a fresh result.
        if (reg === BME280_REG.DATA && (this.regs[BME280_REG.CTRL_MEAS]! & 0b11) === 0b11) this.#measure();
      },
    });
    this.calibration = calibration;
    this.env = env;
    this.#reset();
    tp.copy(Buffer.from(this.regs.buffer), BME280_REG.CALIB_TP);
    h.copy(Buffer.from(this.regs.buffer), BME280_REG.CALIB_H);
  }

  #reset(): void {
    this.regs[BME280_REG.ID] = BME280_CHIP_ID;
    for (const r of [BME280_REG.CTRL_HUM, BME280_REG.STATUS, BME280_REG.CTRL_MEAS, BME280_REG.CONFIG]) this.regs[r] = 0;
    // After reset the data registers hold the "skipped" pattern 0x80000 / 0x8000.
    this.regs.set([0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00], BME280_REG.DATA);
  }

  #written(reg: number, value: number): void {
    if (reg === BME280_REG.RESET && value === BME280_RESET_WORD) this.#reset();
    // Forced mode (01 or 10): one measurement, then back to sleep (datasheet 3.3.2).
    if (reg === BME280_REG.CTRL_MEAS && ((value & 0b11) === 0b01 || (value & 0b11) === 0b10)) {
      this.#measure();
      this.regs[BME280_REG.CTRL_MEAS] = value & ~0b11;
    }
  }

  /** The raw ADC values that decode to the current environment. */
  rawFor(env: Bme280Environment): { adcT: number; adcP: number; adcH: number } {
    const c = this.calibration;
    const adcT = searchUp(0, 0xfffff, (x) => compensateTemperature(x, c).centiCelsius, Math.round(env.temperatureC * 100));
    const { tFine } = compensateTemperature(adcT, c);
    // Pressure falls as adc_P rises: search on the negated value.
    const adcP = searchUp(0, 0xfffff, (x) => -compensatePressureQ24_8(x, tFine, c), -Math.round(env.pressurePa * 256));
    const adcH = searchUp(0, 0xffff, (x) => compensateHumidityQ22_10(x, tFine, c), Math.round(env.humidityPercent * 1024));
    return { adcT, adcP, adcH };
  }

  #measure(): void {
    this.measurements++;
    const osrsT = (this.regs[BME280_REG.CTRL_MEAS]! >> 5) & 7;
    const osrsP = (this.regs[BME280_REG.CTRL_MEAS]! >> 2) & 7;
    const osrsH = this.regs[BME280_REG.CTRL_HUM]! & 7;
    const { adcT, adcP, adcH } = this.rawFor(this.env);
    const t = osrsT ? adcT : 0x80000;
    const p = osrsP ? adcP : 0x80000;
    const h = osrsH ? adcH : 0x8000;
    this.regs.set([p >> 12, (p >> 4) & 0xff, (p & 0xf) << 4, t >> 12, (t >> 4) & 0xff, (t & 0xf) << 4, h >> 8, h & 0xff], BME280_REG.DATA);
  }
}
