/** Sending to the agents: desired-state snapshots (batched per event-loop turn), safe-state requests, raw messages. */
import { PROTOCOL_VERSION } from '../api/agent.js';
import { HW_KINDS } from '../api/hardware.js';
import type { Store } from '../store/index.js';
import type { AgentRegistry } from './registry.js';

export class Dispatcher {
  readonly #store: Store;
  readonly #registry: AgentRegistry;
  readonly #pushNodes = new Set<string>();
  #seq = 0;

  constructor(store: Store, registry: AgentRegistry) {
    this.#store = store;
    this.#registry = registry;
  }

  /**
   * Desired-state changes of one event-loop turn are sent as one snapshot per node: a burst of
   * changes to a node's pins (many objects applied together) costs one message, always the latest.
   */
  pushSoon(nodeId: string): void {
    this.#pushNodes.add(nodeId);
    if (this.#pushNodes.size > 1) return;
    setImmediate(() => {
      const nodes = [...this.#pushNodes];
      this.#pushNodes.clear();
      for (const n of nodes) this.pushDesired(n);
    });
  }

  /** Sends the node's desired snapshot to its agent (when connected); returns the seq or null. */
  pushDesired(nodeId: string): number | null {
    const c = this.#registry.sessions.get(nodeId);
    if (!c) return null;
    const items = HW_KINDS.flatMap((kind) =>
      this.#store.hardware
        .list(nodeId, kind)
        .map((o) => ({ kind, name: o.name, generation: o.generation, spec: o.spec as unknown as Record<string, unknown> })),
    );
    const seq = ++this.#seq;
    this.#registry.knownOf(nodeId).sent.set(seq, performance.now());
    c.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'desired', seq, items }));
    return seq;
  }

  /** Asks a node's agent to apply its configured safe state. */
  requestSafeState(nodeId: string): boolean {
    return this.sendRaw(nodeId, JSON.stringify({ v: PROTOCOL_VERSION, type: 'safe-state' }));
  }

  /** Sends a raw message to a node's agent; false when it is not connected. */
  sendRaw(nodeId: string, text: string): boolean {
    const c = this.#registry.sessions.get(nodeId);
    if (!c) return false;
    c.ws.send(text);
    return true;
  }
}
