/**
 * Board and SoC detection from the files the kernel exposes:
 * `/proc/device-tree/compatible`, `/proc/device-tree/soc/ranges`, the revision code from
 * `/proc/cpuinfo` or `/proc/device-tree/system/linux,revision`, and `/proc/device-tree/model`.
 * Every path is read under `root` (default `/`), so tests run this code on fixture trees.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HwError } from './errors.js';
import type { SocName } from './native.js';

/** What detection found. */
export interface BoardInfo {
  /** The SoC whose GPIO block the core drives (`rp1` on a Pi 5: its GPIO sits on RP1). */
  soc: SocName;
  /** Short model name from the revision code ('4B', 'Zero 2 W', '5'...), or from compatible. */
  model: string;
  /** The kernel's model string (`/proc/device-tree/model`), when present. */
  modelName?: string;
  /** Revision code as 6 hex digits (new style) or 4 (old style), lower case; absent if not found. */
  revision?: string;
  /** Board revision (bits 3:0) of a new-style code, e.g. '1.1'. */
  boardRevision?: string;
  /** Memory in MiB from a new-style code. */
  memoryMb?: number;
  /** ARM physical address of the SoC's peripherals (from soc/ranges, or the SoC's known value). */
  peripheralBase: bigint;
  /** ARM physical address of the GPIO registers gpiomem maps. */
  gpioBase: bigint;
  /** The device to map (under `/`, not under `root`). */
  gpiomem: string;
  /** The strings of /proc/device-tree/compatible. */
  compatible: string[];
}

export interface DetectOptions {
  /** Root of the file tree to read (default '/'). */
  root?: string;
}

// Revision code layout (raspberrypi/documentation, revision-codes): new style when bit 23 is set;
// type 11:4, processor 15:12, memory 22:20, revision 3:0.
const PROCESSORS: readonly (SocName | undefined)[] = ['bcm2835', 'bcm2836', 'bcm2837', 'bcm2711', 'rp1'];
const TYPES: Record<number, string> = {
  0x00: 'A',
  0x01: 'B',
  0x02: 'A+',
  0x03: 'B+',
  0x04: '2B',
  0x06: 'CM1',
  0x08: '3B',
  0x09: 'Zero',
  0x0a: 'CM3',
  0x0c: 'Zero W',
  0x0d: '3B+',
  0x0e: '3A+',
  0x10: 'CM3+',
  0x11: '4B',
  0x12: 'Zero 2 W',
  0x13: '400',
  0x14: 'CM4',
  0x15: 'CM4S',
  0x17: '5',
  0x18: 'CM5',
  0x19: '500',
  0x1a: 'CM5 Lite',
};
// Old-style codes (all BCM2835): bit 24 is the over-voltage warranty flag and is ignored.
const OLD_STYLE: Record<number, string> = {
  0x02: 'B',
  0x03: 'B',
  0x04: 'B',
  0x05: 'B',
  0x06: 'B',
  0x07: 'A',
  0x08: 'A',
  0x09: 'A',
  0x0d: 'B',
  0x0e: 'B',
  0x0f: 'B',
  0x10: 'B+',
  0x11: 'CM1',
  0x12: 'A+',
  0x13: 'B+',
  0x14: 'CM1',
  0x15: 'A+',
};
// compatible → SoC. The downstream kernel's older names (bcm2708/9/10) are the same chips.
const COMPATIBLE_SOC: Record<string, SocName> = {
  'brcm,bcm2835': 'bcm2835',
  'brcm,bcm2708': 'bcm2835',
  'brcm,bcm2836': 'bcm2836',
  'brcm,bcm2709': 'bcm2836',
  'brcm,bcm2837': 'bcm2837',
  'brcm,bcm2710': 'bcm2837',
  'brcm,bcm2711': 'bcm2711',
  'brcm,bcm2712': 'rp1',
};
// Known peripheral bases (BCM2835/2711 peripherals, 1.2) for when soc/ranges is missing.
const KNOWN_BASE: Record<SocName, bigint> = {
  bcm2835: 0x20000000n,
  bcm2836: 0x3f000000n,
  bcm2837: 0x3f000000n,
  bcm2711: 0xfe000000n,
  rp1: 0x107c000000n,
};
/** RP1's GPIO window through PCIe BAR1 (RP1 peripherals: IO_BANK0 at RP1 0x400d0000). */
const RP1_GPIO_BASE = 0x1f000d0000n;
const GPIO_OFFSET = 0x200000n;

/**
 * Bytes of the GPIO window `gpiomem` maps: one 4 KiB page on the BCM SoCs, 0x30000 on RP1
 * (IO_BANK, SYS_RIO and PADS). A register-page file standing in for the device needs this size.
 */
export function gpioWindowBytes(soc: SocName): number {
  return soc === 'rp1' ? 0x30000 : 0x1000;
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** NUL-separated device-tree strings. */
function dtStrings(buf: Buffer | undefined): string[] {
  if (!buf) return [];
  return buf
    .toString('latin1')
    .split('\0')
    .filter((s) => s.length > 0);
}

/** The revision code from cpuinfo's `Revision` line, else the device tree's big-endian u32. */
function readRevision(root: string): number | undefined {
  const cpuinfo = readOptional(join(root, 'proc', 'cpuinfo'))?.toString('latin1');
  const m = cpuinfo ? /^Revision\s*:\s*([0-9a-fA-F]+)\s*$/m.exec(cpuinfo) : null;
  if (m?.[1]) return parseInt(m[1], 16);
  const dt = readOptional(join(root, 'proc', 'device-tree', 'system', 'linux,revision'));
  if (dt && dt.length >= 4) return dt.readUInt32BE(0);
  return undefined;
}

/**
 * The peripheral base from soc/ranges: <child-bus parent size> with a 1-cell (Pi 1-3, 12 bytes)
 * or 2-cell (Pi 4/5, 16 bytes) parent address. A 0 in the first parent cell means the 2-cell form.
 */
function parseRanges(buf: Buffer | undefined): bigint | undefined {
  if (!buf || buf.length < 12) return undefined;
  const hi = buf.readUInt32BE(4);
  if (buf.length >= 16 && (hi === 0 || hi < 0x100)) {
    return (BigInt(hi) << 32n) | BigInt(buf.readUInt32BE(8));
  }
  return BigInt(hi);
}

function hex(code: number, oldStyle: boolean): string {
  return code.toString(16).padStart(oldStyle ? 4 : 6, '0');
}

/**
 * Detects the board under `root`.
 * @throws HwError `EBOARD_UNKNOWN` naming the compatible strings and revision code it found,
 *   when neither identifies a supported Raspberry Pi SoC.
 */
export function detectBoard(options: DetectOptions = {}): BoardInfo {
  const root = options.root ?? '/';
  const dt = join(root, 'proc', 'device-tree');
  const compatible = dtStrings(readOptional(join(dt, 'compatible')));
  const modelName = dtStrings(readOptional(join(dt, 'model')))[0];
  const code = readRevision(root);

  let soc: SocName | undefined;
  let model: string | undefined;
  let revision: string | undefined;
  let boardRevision: string | undefined;
  let memoryMb: number | undefined;
  if (code !== undefined) {
    if (code & 0x800000) {
      soc = PROCESSORS[(code >> 12) & 0xf];
      model = TYPES[(code >> 4) & 0xff];
      revision = hex(code & 0xffffff, false);
      boardRevision = `1.${code & 0xf}`;
      memoryMb = 256 << ((code >> 20) & 0x7);
    } else if (OLD_STYLE[code & 0xffffff] !== undefined) {
      soc = 'bcm2835';
      model = OLD_STYLE[code & 0xffffff];
      revision = hex(code & 0xffffff, true);
    }
  }
  const fromCompatible = compatible.map((c) => COMPATIBLE_SOC[c]).find((s) => s !== undefined);
  // The revision code is the more specific source (a Pi 2 v1.2 has a BCM2837); compatible
  // decides when there is no usable code.
  soc ??= fromCompatible;
  if (soc === undefined || (!compatible.some((c) => c.startsWith('raspberrypi,')) && code === undefined)) {
    const found = [
      `compatible: ${compatible.length ? compatible.join(', ') : 'none'}`,
      `revision code: ${code === undefined ? 'none' : code.toString(16)}`,
    ].join('; ');
    throw new HwError(`not a supported Raspberry Pi board (${found}) under ${root}`, { code: 'EBOARD_UNKNOWN' });
  }
  model ??= compatible.find((c) => c.startsWith('raspberrypi,'))?.slice('raspberrypi,'.length) ?? 'unknown';
  const peripheralBase = parseRanges(readOptional(join(dt, 'soc', 'ranges'))) ?? KNOWN_BASE[soc];
  const info: BoardInfo = {
    soc,
    model,
    peripheralBase,
    gpioBase: soc === 'rp1' ? RP1_GPIO_BASE : peripheralBase + GPIO_OFFSET,
    gpiomem: soc === 'rp1' ? '/dev/gpiomem0' : '/dev/gpiomem',
    compatible,
  };
  if (modelName !== undefined) info.modelName = modelName;
  if (revision !== undefined) info.revision = revision;
  if (boardRevision !== undefined) info.boardRevision = boardRevision;
  if (memoryMb !== undefined) info.memoryMb = memoryMb;
  return info;
}
