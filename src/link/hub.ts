/**
 * The agent link: a separate HTTPS listener (loopback by default) with its own CA, where the
 * node agents enrol and dial in over mutual TLS. The hub puts the parts together and is the
 * control plane's {@link AgentGateway}:
 *
 * - listener.ts: the TLS listener and the rotation of its certificate;
 * - enrolment.ts: `GET /ca` and `POST /enrol` (join token spent, CSR signed);
 * - sessions.ts: `GET /agent/v1` upgraded to the WebSocket link, heartbeats, incoming messages;
 * - registry.ts: who is connected, and what each agent last reported;
 * - dispatch.ts: desired snapshots on connect and on every `hw.changed`, safe-state requests;
 * - reports.ts: applied status written to the store in batches.
 *
 * On the bus it publishes `agent.connected`, `agent.disconnected`, `hw.applied`, `gpio.changed`,
 * `i2c.reading` and `agent.refused`.
 */
import type { Logger } from 'pino';
import type { AgentInfo, AgentLogLines } from '../api/agent.js';
import { Validator } from '../api/validate.js';
import type { CertManager } from '../certs/index.js';
import type { AgentGateway, AgentStatus, JoinToken } from '../core/ports.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import { Dispatcher } from './dispatch.js';
import { enrolmentHandler } from './enrolment.js';
import { AgentListener } from './listener.js';
import { AgentRegistry } from './registry.js';
import { ReportWriter } from './reports.js';
import { Sessions } from './sessions.js';
import { LogRequests } from './logs.js';

export interface AgentHubOptions {
  store: Store;
  /** The control plane's event bus: desired-state changes and node removals come from it; link events go to it. */
  bus: EventBus;
  certs: CertManager;
  log: Logger;
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  host?: string;
  port?: number;
  /** Names the server certificate carries besides localhost/127.0.0.1/hostname. */
  serverNames?: string[];
  /** WebSocket ping period (default 5000 ms); a peer silent for 3 periods is dropped. */
  heartbeatMs?: number;
}

/** See the module comment. */
export class AgentHub implements AgentGateway {
  readonly #o: AgentHubOptions;
  readonly #registry: AgentRegistry;
  readonly #dispatcher: Dispatcher;
  readonly #logRequests: LogRequests;
  readonly #reports: ReportWriter;
  readonly #sessions: Sessions;
  readonly #listener: AgentListener;

  constructor(opts: AgentHubOptions) {
    this.#o = opts;
    const { store, bus, certs, log } = opts;
    const validator = new Validator();
    this.#registry = new AgentRegistry(store, certs);
    this.#dispatcher = new Dispatcher(store, this.#registry);
    this.#reports = new ReportWriter({ store, bus, log });
    this.#logRequests = new LogRequests(this.#dispatcher);
    this.#sessions = new Sessions({
      logRequests: this.#logRequests,
      store,
      bus,
      certs,
      validator,
      registry: this.#registry,
      dispatcher: this.#dispatcher,
      reports: this.#reports,
      log,
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    });
    const enrol = enrolmentHandler({ certs, validator, log });
    this.#listener = new AgentListener({
      certs,
      log,
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.serverNames ? { serverNames: opts.serverNames } : {}),
      onRequest: (req, res) => void enrol(req, res),
      onUpgrade: (req, socket, head) => this.#sessions.upgrade(req, socket, head),
    });
    bus.on('agents', 'hw.changed', (e) => this.#dispatcher.pushSoon(e.data.nodeId));
    bus.on('agents', 'node.deleted', (e) => this.revokeNode(e.data.name));
  }

  /** https://host:port of the agent endpoint (after listen). */
  get url(): string {
    return this.#listener.url;
  }

  /** Starts the HTTPS listener with a server certificate from the CA, and the heartbeats. */
  async listen(): Promise<string> {
    const url = await this.#listener.listen();
    this.#sessions.start();
    this.#o.log.info({ url }, 'agent endpoint listening (mutual TLS)');
    return url;
  }

  /** Makes a join token for `node` (the node is created when unknown). */
  createJoinToken(node: string, ttlMs?: number): JoinToken {
    const { store, bus, certs } = this.#o;
    if (!store.nodes.find(node)) {
      const n = store.nodes.create({ name: node }, 'provisioning');
      bus.emit('node.created', n);
    }
    return { ...certs.createJoinToken(node, ttlMs), server: this.url };
  }

  /** Revokes every certificate of a node and drops its link. */
  revokeNode(node: string): string[] {
    const serials = this.#o.certs.revokeNode(node);
    this.#sessions.closeNode(node);
    if (serials.length) this.#o.log.warn({ node, serials }, 'revoked agent certificates');
    return serials;
  }

  status(nodeId: string): AgentStatus {
    return this.#registry.status(nodeId);
  }

  /** One agent's view: link, health, applied state, certificates. */
  info(nodeIdOrName: string): AgentInfo {
    return this.#registry.info(nodeIdOrName);
  }

  /** The agent's own recent log lines after `after` (at most `limit`), asked over its link. */
  logs(nodeIdOrName: string, after: number, limit: number): Promise<AgentLogLines> {
    const info = this.#registry.info(nodeIdOrName);
    return this.#logRequests.request(info.nodeId, info.node, after, limit);
  }

  /** Every node that has an agent (connected now, or enrolled). */
  list(): AgentInfo[] {
    return this.#registry.list();
  }

  /** Sends the node's desired snapshot to its agent (when connected); returns the seq or null. */
  pushDesired(nodeId: string): number | null {
    return this.#dispatcher.pushDesired(nodeId);
  }

  /** Asks a node's agent to apply its configured safe state. */
  requestSafeState(nodeId: string): boolean {
    return this.#dispatcher.requestSafeState(nodeId);
  }

  /** Sends a raw message to a node's agent (tests: malformed messages; operators: safe-state). */
  sendRaw(nodeId: string, text: string): boolean {
    return this.#dispatcher.sendRaw(nodeId, text);
  }

  /** Called with the time from sending a desired snapshot to its applied report (benchmarks). */
  onRoundTrip(fn: (ms: number, node: string) => void): void {
    this.#reports.onRoundTrip(fn);
  }

  /** Drops every link and stops listening. */
  async close(): Promise<void> {
    this.#o.bus.removeOwner('agents');
    this.#sessions.stop();
    this.#logRequests.close();
    await this.#listener.close();
  }
}
