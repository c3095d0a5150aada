/**
 * The desired snapshot the agent holds, kept on disk (see snapshot-file.ts) so that a restart or a
 * lost control plane leaves the pins as they were: a new snapshot is saved before it is applied,
 * and the kept one is applied at start before the control plane is reached.
 */
import { checkDesiredSpec, type AppliedItem, type DesiredItem, type WireDesiredItem } from '../src/api/agent.js';
import type { Problem } from '../src/api/errors.js';
import type { Validator } from '../src/api/validate.js';
import { SnapshotFile } from './snapshot-file.js';

/** One desired snapshot: its sequence number from the control plane and its objects, specs checked. */
export interface Snapshot {
  seq: number;
  items: DesiredItem[];
}

export class DesiredStore {
  readonly #file: SnapshotFile;
  readonly #validator: Validator;

  constructor(stateDir: string, validator: Validator) {
    this.#file = new SnapshotFile(stateDir, 'desired.json');
    this.#validator = validator;
  }

  /**
   * The kept snapshot (empty when there is none). Its specs were checked when it came, but one
   * kept by an earlier release may not pass this release's schema: such an object is left out of
   * the snapshot and returned in `invalid`, refused with InvalidSpec (its pin stays as it was).
   */
  load(): { snapshot: Snapshot; invalid: Map<string, AppliedItem> } {
    const invalid = new Map<string, AppliedItem>();
    const text = this.#file.load();
    if (text === undefined) return { snapshot: { seq: 0, items: [] }, invalid };
    const kept = JSON.parse(text) as { seq: number; items: WireDesiredItem[] };
    const items: DesiredItem[] = [];
    for (const it of kept.items) {
      const problems: Problem[] = [];
      if (checkDesiredSpec(this.#validator, it, problems, '/spec')) items.push(it);
      else
        invalid.set(`${it.kind}/${it.name}`, {
          kind: it.kind,
          name: it.name,
          generation: it.generation,
          phase: 'Failed',
          reason: 'InvalidSpec',
          actual: { message: problems.map((p) => `${p.path}: ${p.message}`).join('; ') },
        });
    }
    return { snapshot: { seq: kept.seq, items }, invalid };
  }

  /** Keeps `s` (written in place: see snapshot-file.ts). */
  save(s: Snapshot): void {
    this.#file.save(JSON.stringify(s));
  }

  close(): void {
    this.#file.close();
  }
}
