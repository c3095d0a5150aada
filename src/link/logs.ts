/**
 * Requests for an agent's own log lines: a `logs` message down the node's link with an id, and
 * the agent's `log-lines` answer matched to it; no answer within the timeout (an agent too old
 * to know the message refuses it) is a 504.
 */
import { randomUUID } from 'node:crypto';
import { PROTOCOL_VERSION, type AgentLogLines, type LogLinesMsg } from '../api/agent.js';
import { ControllerError } from '../api/errors.js';
import type { Dispatcher } from './dispatch.js';

interface Pending {
  nodeId: string;
  node: string;
  resolve(v: AgentLogLines): void;
  timer: NodeJS.Timeout;
}

export class LogRequests {
  readonly #pending = new Map<string, Pending>();
  readonly #dispatcher: Dispatcher;
  readonly #timeoutMs: number;

  constructor(dispatcher: Dispatcher, timeoutMs = 5000) {
    this.#dispatcher = dispatcher;
    this.#timeoutMs = timeoutMs;
  }

  request(nodeId: string, node: string, after: number, limit: number): Promise<AgentLogLines> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const sent = this.#dispatcher.sendRaw(nodeId, JSON.stringify({ v: PROTOCOL_VERSION, type: 'logs', id, after, limit }));
      if (!sent) {
        reject(new ControllerError('AGENT_OFFLINE', 409, `the agent of ${node} is not connected`, { details: { node } }));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new ControllerError('AGENT_TIMEOUT', 504, `the agent of ${node} did not send its log lines in ${this.#timeoutMs} ms`, {
            expose: true,
          }),
        );
      }, this.#timeoutMs);
      this.#pending.set(id, { nodeId, node, resolve, timer });
    });
  }

  /** An agent's answer; ignored unless it answers a request to that same node. */
  answer(nodeId: string, m: LogLinesMsg): void {
    const p = this.#pending.get(m.id);
    if (!p || p.nodeId !== nodeId) return;
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    p.resolve({ node: p.node, lines: m.lines, first: m.first, last: m.last });
  }

  close(): void {
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
  }
}
