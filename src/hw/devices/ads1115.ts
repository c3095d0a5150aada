/**
 * TI ADS1115 (16-bit, 4-channel delta-sigma ADC): config encoding/decoding, conversion decoding,
 * a driver for single-shot reads over any RegisterBus, and a virtual part for the simulator.
 * Source: ADS111x datasheet (SBAS444), section 8.6 (register map): pointer 0 conversion,
 * 1 config, 2 Lo_thresh, 3 Hi_thresh; 16-bit registers sent MSB first.
 */
import { HwError } from '../errors.js';
import type { RegisterBus, VirtualI2cDevice } from './register-bus.js';

export const ADS1115_REG = { CONVERSION: 0, CONFIG: 1, LO_THRESH: 2, HI_THRESH: 3 } as const;
/** Config after power-up: single-shot, AIN0-AIN1, ±2.048 V, 128 SPS, comparator off. */
export const ADS1115_CONFIG_RESET = 0x8583;

/** Input multiplexer (config bits 14:12): differential pairs, then single-ended against GND. */
export const ADS1115_MUX = ['0-1', '0-3', '1-3', '2-3', '0-gnd', '1-gnd', '2-gnd', '3-gnd'] as const;
export type Ads1115Mux = (typeof ADS1115_MUX)[number];
/** Full-scale range in volts for PGA codes 0..7 (bits 11:9); 5, 6 and 7 are all ±0.256 V. */
export const ADS1115_FSR = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256] as const;
/** Data rates in samples/s for DR codes 0..7 (bits 7:5). */
export const ADS1115_RATES = [8, 16, 32, 64, 128, 250, 475, 860] as const;

export interface Ads1115Config {
  /** Read: true when no conversion is running. Write: true starts a single-shot conversion. */
  os: boolean;
  mux: Ads1115Mux;
  /** Full-scale range, volts (±). */
  fsrVolts: number;
  mode: 'continuous' | 'single-shot';
  dataRateSps: number;
  /** Comparator queue: 'off' or assert after 1, 2 or 4 conversions. */
  comparatorQueue: 1 | 2 | 4 | 'off';
}

/** Decodes a config register word. */
export function decodeAds1115Config(word: number): Ads1115Config {
  const que = word & 0b11;
  return {
    os: (word & 0x8000) !== 0,
    mux: ADS1115_MUX[(word >> 12) & 7] as Ads1115Mux,
    fsrVolts: ADS1115_FSR[(word >> 9) & 7] as number,
    mode: word & 0x0100 ? 'single-shot' : 'continuous',
    dataRateSps: ADS1115_RATES[(word >> 5) & 7] as number,
    comparatorQueue: que === 3 ? 'off' : (([1, 2, 4] as const)[que] as 1 | 2 | 4),
  };
}

/** Encodes a config word (comparator off) from its parts. */
export function encodeAds1115Config(c: Omit<Ads1115Config, 'comparatorQueue'>): number {
  const mux = ADS1115_MUX.indexOf(c.mux);
  const pga = ADS1115_FSR.indexOf(c.fsrVolts as (typeof ADS1115_FSR)[number]);
  const dr = ADS1115_RATES.indexOf(c.dataRateSps as (typeof ADS1115_RATES)[number]);
  if (mux < 0 || pga < 0 || dr < 0) {
    throw new HwError(`EINVAL: ADS1115 config ${JSON.stringify(c)} has a value the chip does not offer`, {
      code: 'EINVAL',
      peripheral: 'ads1115',
    });
  }
  return ((c.os ? 1 : 0) << 15) | (mux << 12) | (pga << 9) | ((c.mode === 'single-shot' ? 1 : 0) << 8) | (dr << 5) | 0b11;
}

/** Volts for a conversion code (two's complement; 0x7FFF is +FSR * (1 - 2^-15)). */
export function ads1115CodeToVolts(code: number, fsrVolts: number): number {
  const signed = code & 0x8000 ? code - 0x10000 : code;
  return (signed * fsrVolts) / 32768;
}

/** The code the chip outputs for `volts` (rounded, clamped to the 16-bit range). */
export function ads1115VoltsToCode(volts: number, fsrVolts: number): number {
  const c = Math.round((volts / fsrVolts) * 32768);
  return Math.min(0x7fff, Math.max(-0x8000, c)) & 0xffff;
}

/** An ADS1115 on a bus: single-shot reads in volts. */
export class Ads1115 {
  readonly #bus: RegisterBus;
  readonly addr: number;

  /** @param addr 0x48..0x4B (set by the ADDR pin). Default 0x48. */
  constructor(bus: RegisterBus, addr = 0x48) {
    if (addr < 0x48 || addr > 0x4b)
      throw new HwError(`EINVAL: 0x${addr.toString(16)} is not an ADS1115 address`, { code: 'EINVAL', peripheral: 'ads1115' });
    this.#bus = bus;
    this.addr = addr;
  }

  async #read16(reg: number): Promise<number> {
    return (await this.#bus.readRegisters(this.addr, reg, 2)).readUInt16BE(0);
  }

  /** The config register, decoded. */
  async config(): Promise<Ads1115Config> {
    return decodeAds1115Config(await this.#read16(ADS1115_REG.CONFIG));
  }

  /**
   * One single-shot conversion of `mux` at ±`fsrVolts`, in volts. Polls OS (bounded: 100 polls)
   * until the conversion is done.
   */
  async read(mux: Ads1115Mux, fsrVolts = 2.048, dataRateSps = 860): Promise<number> {
    const word = encodeAds1115Config({ os: true, mux, fsrVolts, mode: 'single-shot', dataRateSps });
    await this.#bus.writeRegisters(this.addr, ADS1115_REG.CONFIG, [word >> 8, word & 0xff]);
    for (let i = 0; i < 100 && !(await this.config()).os; i++) await new Promise((r) => setTimeout(r, 1));
    return ads1115CodeToVolts(await this.#read16(ADS1115_REG.CONVERSION), fsrVolts);
  }
}

/** A virtual ADS1115: four input voltages, single-shot and continuous conversions. */
export class VirtualAds1115 implements VirtualI2cDevice {
  /** Input voltages AIN0..AIN3 in volts (set by the simulator or a test). */
  inputs: [number, number, number, number] = [0, 0, 0, 0];
  readonly regs: [number, number, number, number] = [0, ADS1115_CONFIG_RESET, 0x8000, 0x7fff];
  conversions = 0;
  #pointer = 0;

  write(data: Buffer): void {
    if (data.length === 0) return;
    this.#pointer = (data[0] as number) & 0b11; // pointer register: bits 1:0
    if (data.length < 3 || this.#pointer === ADS1115_REG.CONVERSION) return; // conversion is read-only
    const word = data.readUInt16BE(1);
    if (this.#pointer === ADS1115_REG.CONFIG) {
      // Conversions are instant in this model, so OS always reads 1 (idle); a single-shot
      // conversion starts when OS is written 1, continuous mode converts on every read.
      this.regs[1] = word | 0x8000;
      if (word & 0x0100 && word & 0x8000) this.#convert();
    } else {
      this.regs[this.#pointer] = word;
    }
  }

  read(length: number): Buffer {
    if (this.#pointer === ADS1115_REG.CONVERSION && !(this.regs[1] & 0x0100)) this.#convert();
    const out = Buffer.alloc(length);
    const word = this.regs[this.#pointer] as number;
    // Reads past the 2 bytes of a register repeat it (the pointer does not advance).
    for (let i = 0; i < length; i++) out[i] = i % 2 === 0 ? word >> 8 : word & 0xff;
    return out;
  }

  #convert(): void {
    const cfg = decodeAds1115Config(this.regs[1]);
    const [a, b] = cfg.mux.split('-') as [string, string];
    const v = (this.inputs[Number(a)] as number) - (b === 'gnd' ? 0 : (this.inputs[Number(b)] as number));
    this.regs[0] = ads1115VoltsToCode(v, cfg.fsrVolts);
    this.regs[1] |= 0x8000; // OS reads 1: the (instant) conversion is done
    this.conversions++;
  }
}
