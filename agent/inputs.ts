/**
 * Sampled levels: the pins of the desired GPIO objects that no edge watcher covers are read at
 * every health sample (once a second), and a level that changed since the last look is reported.
 * An input that asks for edges but has no watcher (no edge source on this node) reports the
 * change as one edge when it goes the way its spec asks; any other change is a `gpio.changed`
 * event, not an edge.
 */
import { PROTOCOL_VERSION, type DesiredItem, type DesiredOf, type EdgesMsg, type EventMsg } from '../src/api/agent.js';
import type { Level } from '../src/hw/index.js';

export interface LevelSamplerOptions {
  /** Whether an edge watcher reports this pin (then it is not sampled here). */
  covered: (pin: number) => boolean;
  send: (msg: EdgesMsg | EventMsg) => void;
}

export class LevelSampler {
  readonly #o: LevelSamplerOptions;
  #last = new Map<number, Level>();

  constructor(opts: LevelSamplerOptions) {
    this.#o = opts;
  }

  /** Starts over from these levels (reported as nothing: they are where the last look found them). */
  reset(levels: Map<number, Level>): void {
    this.#last = levels;
  }

  /** A level the agent itself just set (reported with the apply, so not again here). */
  known(pin: number, level: Level): void {
    this.#last.set(pin, level);
  }

  /** Compares `levels` (the pins of `items`, read now) with the last look and reports each change. */
  sample(items: readonly DesiredItem[], levels: Map<number, Level>): void {
    for (const [pin, level] of levels) {
      if (this.#o.covered(pin)) continue; // its edges are counted and reported by the watcher
      const was = this.#last.get(pin);
      if (was === level) continue;
      this.#last.set(pin, level);
      const item = items.find((i): i is DesiredOf<'gpio'> => i.kind === 'gpio' && i.spec.pin === pin);
      const edge = item?.spec.mode === 'input' ? item.spec.edge : undefined;
      if (item && was !== undefined && (edge === 'both' || edge === (level ? 'rising' : 'falling'))) {
        const lastEdgeAt = new Date().toISOString();
        this.#o.send({ v: PROTOCOL_VERSION, type: 'edges', items: [{ pin, name: item.name, count: 1, level, lastEdgeAt }], lost: 0 });
      } else {
        this.#o.send({ v: PROTOCOL_VERSION, type: 'event', event: 'gpio.changed', pin, value: level, name: item?.name ?? null });
      }
    }
  }
}
