/**
 * The agent directory: who is connected now (one session per node), and what the control plane
 * knows of each node's agent from its reports (health, applied state, version). It answers the
 * AgentGateway's `status`, `info` and `list`.
 */
import type { WebSocket } from 'ws';
import type { AgentInfo, AppliedItem, Health, HelloMsg } from '../api/agent.js';
import { NotFoundError } from '../api/errors.js';
import type { CertManager } from '../certs/index.js';
import type { AgentStatus } from '../core/ports.js';
import type { Store } from '../store/index.js';

/** One live agent connection. */
export interface Session {
  ws: WebSocket;
  nodeId: string;
  node: string;
  serial: string;
  since: string;
  hello: HelloMsg | undefined;
  lastSeen: number;
}

/** What is known of a node's agent beyond its connection (kept across reconnects). */
export interface Known {
  health: Health | null;
  applied: Map<string, AppliedItem>;
  agentVersion: string | null;
  simulated: boolean | null;
  /** Sent-at times of desired snapshots by seq (for latency measurements). */
  sent: Map<number, number>;
  /** When lastSeenAt was last written for this node (ms). */
  seenWritten: number;
}

export class AgentRegistry {
  /** Live sessions by node id. */
  readonly sessions = new Map<string, Session>();
  readonly #known = new Map<string, Known>();
  readonly #store: Store;
  readonly #certs: CertManager;

  constructor(store: Store, certs: CertManager) {
    this.#store = store;
    this.#certs = certs;
  }

  /** What is known of a node's agent (created empty on first use). */
  knownOf(nodeId: string): Known {
    let k = this.#known.get(nodeId);
    if (!k)
      this.#known.set(
        nodeId,
        (k = { health: null, applied: new Map(), agentVersion: null, simulated: null, sent: new Map(), seenWritten: 0 }),
      );
    return k;
  }

  status(nodeId: string): AgentStatus {
    const c = this.sessions.get(nodeId);
    return {
      connected: c !== undefined,
      since: c?.since ?? null,
      health: (this.#known.get(nodeId)?.health as Record<string, unknown> | null) ?? null,
    };
  }

  /** One agent's view: link, health, applied state, certificates. */
  info(nodeIdOrName: string): AgentInfo {
    const n = this.#store.nodes.find(nodeIdOrName);
    if (!n) throw new NotFoundError('node', nodeIdOrName);
    const c = this.sessions.get(n.id);
    const k = this.#known.get(n.id);
    return {
      node: n.name,
      nodeId: n.id,
      connected: c !== undefined,
      since: c?.since ?? null,
      agentVersion: k?.agentVersion ?? null,
      simulated: k?.simulated ?? null,
      health: k?.health ?? null,
      applied: [...(k?.applied.values() ?? [])],
      certificates: this.#certs
        .issued()
        .filter((x) => x.node === n.name)
        .map((x) => ({ serial: x.serial, notAfter: x.notAfter, revoked: x.revoked })),
    };
  }

  /** Every node that has an agent (connected now, or enrolled). */
  list(): AgentInfo[] {
    const names = new Set(this.#certs.issued().map((c) => c.node));
    for (const c of this.sessions.values()) names.add(c.node);
    return [...names]
      .filter((n) => this.#store.nodes.find(n))
      .sort()
      .map((n) => this.info(n));
  }
}
