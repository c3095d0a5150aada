/**
 * Bosch BME280 (temperature, pressure, humidity): calibration parsing, the datasheet's
 * compensation formulas, a decoder for raw burst reads and a small driver over any RegisterBus.
 * Source: BME280 datasheet (BST-BME280-DS002), sections 4.2.2 (trimming parameters), 4.2.3
 * (integer compensation), 5.4 (registers) and 8.1 (floating-point compensation).
 */
import { HwError } from '../errors.js';
import type { RegisterBus } from './register-bus.js';

/** Register addresses (datasheet 5.3, memory map). */
export const BME280_REG = {
  CALIB_TP: 0x88, // 0x88..0xA1: dig_T1..dig_P9, 0xA1 = dig_H1
  ID: 0xd0,
  RESET: 0xe0,
  CALIB_H: 0xe1, // 0xE1..0xE7: dig_H2..dig_H6
  CTRL_HUM: 0xf2,
  STATUS: 0xf3,
  CTRL_MEAS: 0xf4,
  CONFIG: 0xf5,
  DATA: 0xf7, // 0xF7..0xFE: press[3], temp[3], hum[2]
} as const;
export const BME280_CHIP_ID = 0x60;
export const BME280_RESET_WORD = 0xb6;
/** Length of the first calibration block (0x88..0xA1) and of the second (0xE1..0xE7). */
export const BME280_CALIB_TP_LEN = 26;
export const BME280_CALIB_H_LEN = 7;

export interface Bme280Calibration {
  T1: number;
  T2: number;
  T3: number;
  P1: number;
  P2: number;
  P3: number;
  P4: number;
  P5: number;
  P6: number;
  P7: number;
  P8: number;
  P9: number;
  H1: number;
  H2: number;
  H3: number;
  H4: number;
  H5: number;
  H6: number;
}

/** Parses the two calibration blocks (26 bytes from 0x88, 7 bytes from 0xE1). */
export function parseBme280Calibration(tp: Buffer, h: Buffer): Bme280Calibration {
  if (tp.length < BME280_CALIB_TP_LEN || h.length < BME280_CALIB_H_LEN) {
    throw new HwError('EINVAL: BME280 calibration needs 26 + 7 bytes', { code: 'EINVAL', peripheral: 'bme280' });
  }
  const u16 = (o: number): number => tp.readUInt16LE(o);
  const s16 = (o: number): number => tp.readInt16LE(o);
  // dig_H4 and dig_H5 are 12-bit signed values sharing the nibbles of 0xE5 (datasheet table 16):
  // H4 = 0xE4[7:0] << 4 | 0xE5[3:0], H5 = 0xE6[7:0] << 4 | 0xE5[7:4]; 0xE4 and 0xE6 carry the sign.
  const e4 = h.readInt8(3);
  const e5 = h[4] as number;
  const e6 = h.readInt8(5);
  return {
    T1: u16(0),
    T2: s16(2),
    T3: s16(4),
    P1: u16(6),
    P2: s16(8),
    P3: s16(10),
    P4: s16(12),
    P5: s16(14),
    P6: s16(16),
    P7: s16(18),
    P8: s16(20),
    P9: s16(22),
    H1: tp[25] as number,
    H2: h.readInt16LE(0),
    H3: h[2] as number,
    H4: e4 * 16 + (e5 & 0x0f),
    H5: e6 * 16 + (e5 >> 4),
    H6: h.readInt8(6),
  };
}

/** Encodes calibration back into the two register blocks (for virtual devices). */
export function encodeBme280Calibration(c: Bme280Calibration): { tp: Buffer; h: Buffer } {
  const tp = Buffer.alloc(BME280_CALIB_TP_LEN);
  tp.writeUInt16LE(c.T1, 0);
  tp.writeInt16LE(c.T2, 2);
  tp.writeInt16LE(c.T3, 4);
  tp.writeUInt16LE(c.P1, 6);
  [c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].forEach((v, i) => tp.writeInt16LE(v, 8 + 2 * i));
  tp[25] = c.H1;
  const h = Buffer.alloc(BME280_CALIB_H_LEN);
  h.writeInt16LE(c.H2, 0);
  h[2] = c.H3;
  h[3] = (c.H4 >> 4) & 0xff;
  h[4] = ((c.H5 & 0x0f) << 4) | (c.H4 & 0x0f);
  h[5] = (c.H5 >> 4) & 0xff;
  h.writeInt8(c.H6, 6);
  return { tp, h };
}

/**
 * Temperature, datasheet 4.2.3 (32-bit integer): returns hundredths of a degree Celsius and
 * t_fine, which the pressure and humidity formulas need.
 */
export function compensateTemperature(adcT: number, c: Bme280Calibration): { centiCelsius: number; tFine: number } {
  const var1 = (((adcT >> 3) - (c.T1 << 1)) * c.T2) >> 11;
  const var2 = (((((adcT >> 4) - c.T1) * ((adcT >> 4) - c.T1)) >> 12) * c.T3) >> 14;
  const tFine = var1 + var2;
  return { centiCelsius: (tFine * 5 + 128) >> 8, tFine };
}

/** Pressure, datasheet 4.2.3 (64-bit integer): Pa in Q24.8 (divide by 256 for Pa). */
export function compensatePressureQ24_8(adcP: number, tFine: number, c: Bme280Calibration): number {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.P6);
  var2 += (var1 * BigInt(c.P5)) << 17n;
  var2 += BigInt(c.P4) << 35n;
  var1 = ((var1 * var1 * BigInt(c.P3)) >> 8n) + ((var1 * BigInt(c.P2)) << 12n);
  var1 = (((1n << 47n) + var1) * BigInt(c.P1)) >> 33n;
  if (var1 === 0n) return 0; // avoids a division by zero (datasheet)
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = (BigInt(c.P9) * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (BigInt(c.P8) * p) >> 19n;
  p = ((p + var1 + var2) >> 8n) + (BigInt(c.P7) << 4n);
  return Number(p);
}

/** Humidity, datasheet 4.2.3 (32-bit integer): %RH in Q22.10 (divide by 1024 for %RH). */
export function compensateHumidityQ22_10(adcH: number, tFine: number, c: Bme280Calibration): number {
  let v = tFine - 76800;
  // `| 0` keeps the product in 32 bits, as the datasheet's BME280_S32_t arithmetic does.
  v =
    ((((adcH << 14) - (c.H4 << 20) - c.H5 * v + 16384) >> 15) *
      (((((((v * c.H6) >> 10) * (((v * c.H3) >> 11) + 32768)) >> 10) + 2097152) * c.H2 + 8192) >> 14)) |
    0;
  v = v - (((((v >> 15) * (v >> 15)) >> 7) * c.H1) >> 4);
  v = Math.min(Math.max(v, 0), 419430400);
  return v >> 12;
}

/** The datasheet's floating-point formulas (section 8.1), for cross-checks. */
export function compensateFloat(
  adcT: number,
  adcP: number,
  adcH: number,
  c: Bme280Calibration,
): { celsius: number; pa: number; rh: number } {
  let var1 = (adcT / 16384 - c.T1 / 1024) * c.T2;
  let var2 = (adcT / 131072 - c.T1 / 8192) * (adcT / 131072 - c.T1 / 8192) * c.T3;
  const tFine = var1 + var2;
  const celsius = tFine / 5120;
  var1 = tFine / 2 - 64000;
  var2 = (var1 * var1 * c.P6) / 32768;
  var2 = var2 + var1 * c.P5 * 2;
  var2 = var2 / 4 + c.P4 * 65536;
  var1 = ((c.P3 * var1 * var1) / 524288 + c.P2 * var1) / 524288;
  var1 = (1 + var1 / 32768) * c.P1;
  let pa = 0;
  if (var1 !== 0) {
    pa = 1048576 - adcP;
    pa = ((pa - var2 / 4096) * 6250) / var1;
    var1 = (c.P9 * pa * pa) / 2147483648;
    var2 = (pa * c.P8) / 32768;
    pa = pa + (var1 + var2 + c.P7) / 16;
  }
  let h = tFine - 76800;
  h = (adcH - (c.H4 * 64 + (c.H5 / 16384) * h)) * ((c.H2 / 65536) * (1 + (c.H6 / 67108864) * h * (1 + (c.H3 / 67108864) * h)));
  h = h * (1 - (c.H1 * h) / 524288);
  return { celsius, pa, rh: Math.min(Math.max(h, 0), 100) };
}

/** One decoded measurement, with units in the names. */
export interface Bme280Reading {
  temperatureC: number;
  pressurePa: number;
  humidityPercent: number;
  /** Raw ADC values (20-bit T and P, 16-bit H), for diagnostics. */
  raw: { adcT: number; adcP: number; adcH: number };
}

/**
 * Decodes the 8-byte burst from 0xF7 (press msb/lsb/xlsb, temp msb/lsb/xlsb, hum msb/lsb).
 * A channel that was skipped (oversampling 0) reads 0x80000 / 0x8000 and decodes to NaN.
 */
export function decodeBme280(data: Buffer, c: Bme280Calibration): Bme280Reading {
  if (data.length < 8) throw new HwError('EINVAL: a BME280 burst read is 8 bytes', { code: 'EINVAL', peripheral: 'bme280' });
  const b = (i: number): number => data[i] as number;
  const adcP = (b(0) << 12) | (b(1) << 4) | (b(2) >> 4);
  const adcT = (b(3) << 12) | (b(4) << 4) | (b(5) >> 4);
  const adcH = (b(6) << 8) | b(7);
  if (adcT === 0x80000) return { temperatureC: NaN, pressurePa: NaN, humidityPercent: NaN, raw: { adcT, adcP, adcH } };
  const { centiCelsius, tFine } = compensateTemperature(adcT, c);
  return {
    temperatureC: centiCelsius / 100,
    pressurePa: adcP === 0x80000 ? NaN : compensatePressureQ24_8(adcP, tFine, c) / 256,
    humidityPercent: adcH === 0x8000 ? NaN : compensateHumidityQ22_10(adcH, tFine, c) / 1024,
    raw: { adcT, adcP, adcH },
  };
}

/** Oversampling settings: 0 skips the channel; 1, 2, 4, 8, 16 are the datasheet's choices. */
export type Oversampling = 0 | 1 | 2 | 4 | 8 | 16;
const OSRS: Record<Oversampling, number> = { 0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5 };

/** A BME280 on a bus, measured in forced mode (one measurement per call, then sleep). */
export class Bme280 {
  readonly #bus: RegisterBus;
  readonly addr: number;
  #cal: Bme280Calibration | undefined;

  /** @param addr 0x76 (SDO low) or 0x77 (SDO high). Default 0x76. */
  constructor(bus: RegisterBus, addr = 0x76) {
    this.#bus = bus;
    this.addr = addr;
  }

  /** Checks the chip ID and reads the calibration. Rejects with code EBADCHIP for another chip. */
  async init(): Promise<Bme280Calibration> {
    const [id] = await this.#bus.readRegisters(this.addr, BME280_REG.ID, 1);
    if (id !== BME280_CHIP_ID) {
      throw new HwError(`EBADCHIP: chip ID 0x${(id ?? 0).toString(16)} at 0x${this.addr.toString(16)} is not a BME280 (0x60)`, {
        code: 'EBADCHIP',
        peripheral: 'bme280',
      });
    }
    const tp = await this.#bus.readRegisters(this.addr, BME280_REG.CALIB_TP, BME280_CALIB_TP_LEN);
    const h = await this.#bus.readRegisters(this.addr, BME280_REG.CALIB_H, BME280_CALIB_H_LEN);
    this.#cal = parseBme280Calibration(tp, h);
    return this.#cal;
  }

  /** One forced-mode measurement. Waits (bounded, 50 polls) for the measuring bit to clear. */
  async measure(osrs: { t?: Oversampling; p?: Oversampling; h?: Oversampling } = {}): Promise<Bme280Reading> {
    const cal = this.#cal ?? (await this.init());
    const t = OSRS[osrs.t ?? 1],
      p = OSRS[osrs.p ?? 1],
      h = OSRS[osrs.h ?? 1];
    if (t === undefined || p === undefined || h === undefined)
      throw new HwError('EINVAL: oversampling is 0, 1, 2, 4, 8 or 16', { code: 'EINVAL', peripheral: 'bme280' });
    // ctrl_hum only takes effect after a write to ctrl_meas (datasheet 5.4.3), so write it first.
    await this.#bus.writeRegisters(this.addr, BME280_REG.CTRL_HUM, [h]);
    await this.#bus.writeRegisters(this.addr, BME280_REG.CTRL_MEAS, [(t << 5) | (p << 2) | 0b01]);
    for (let i = 0; i < 50; i++) {
      const [status] = await this.#bus.readRegisters(this.addr, BME280_REG.STATUS, 1);
      if (((status ?? 0) & 0x08) === 0) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    return decodeBme280(await this.#bus.readRegisters(this.addr, BME280_REG.DATA, 8), cal);
  }
}
