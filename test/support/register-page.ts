import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TraceEntry } from '../../src/hw/native.js';

/** Sizes of the gpiomem windows: BCM /dev/gpiomem is one 4 KiB page, RP1 /dev/gpiomem0 0x30000. */
export const BCM_PAGE = 0x1000;
export const RP1_WINDOW = 0x30000;

/**
 * A temporary file standing in for /dev/gpiomem(0): the silicon is what cannot exist here, so
 * the registers are a file of the right size, mapped by the same code, and read back with fs.
 */
export class RegisterPage {
  readonly path: string;
  readonly #dir: string;

  constructor(t: { teardown(fn: () => void): void }, size: number, init?: (buf: Buffer) => void) {
    this.#dir = mkdtempSync(join(tmpdir(), 'pic-regs-'));
    this.path = join(this.#dir, 'gpiomem');
    const buf = Buffer.alloc(size);
    init?.(buf);
    writeFileSync(this.path, buf);
    t.teardown(() => rmSync(this.#dir, { recursive: true, force: true }));
  }

  /** The 32-bit register at a byte offset of the window, as the file holds it now. */
  word(offset: number): number {
    return readFileSync(this.path).readUInt32LE(offset);
  }

  bytes(): Buffer {
    return readFileSync(this.path);
  }
}

/** A trace without sequence numbers, for exact comparison: [op, block, offset, value]. */
export type Access = [TraceEntry['op'], TraceEntry['block'], number, number];

export function accesses(trace: TraceEntry[]): Access[] {
  return trace.map((e) => [e.op, e.block, e.offset, e.value]);
}
