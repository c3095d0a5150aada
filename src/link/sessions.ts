/**
 * The WebSocket link at `GET /agent/v1`: who may connect (a client certificate from our CA, not
 * revoked, naming a known node; refused with 401/403 before any message is exchanged), one
 * session per node (a newer connection replaces the older), heartbeats (a peer silent for three
 * periods is dropped), and what each message from an agent does.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AGENT_PATH,
  CLOSE,
  PROTOCOL_VERSION,
  UP_SCHEMAS,
  parseMessage,
  type AppliedMsg,
  type EdgesMsg,
  type EventMsg,
  type HealthMsg,
  type HelloMsg,
  type LogLinesMsg,
  type RefusedMsg,
  type RenewMsg,
} from '../api/agent.js';
import type { Validator } from '../api/validate.js';
import type { CertManager } from '../certs/index.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import type { Dispatcher } from './dispatch.js';
import type { LogRequests } from './logs.js';
import type { AgentRegistry, Session } from './registry.js';
import type { ReportWriter } from './reports.js';

/** Health messages move a node's lastSeenAt at most this often (each write is a committed transaction). */
const SEEN_WRITE_MS = 15_000;

export interface SessionOptions {
  store: Store;
  bus: EventBus;
  certs: CertManager;
  validator: Validator;
  registry: AgentRegistry;
  dispatcher: Dispatcher;
  reports: ReportWriter;
  logRequests: LogRequests;
  log: Logger;
  /** WebSocket ping period (default 5000 ms); a peer silent for 3 periods is dropped. */
  heartbeatMs?: number;
}

export class Sessions {
  readonly #o: SessionOptions;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  #ping: NodeJS.Timeout | undefined;

  constructor(opts: SessionOptions) {
    this.#o = opts;
    this.#log = opts.log;
  }

  /** Starts the heartbeats. */
  start(): void {
    const hb = this.#o.heartbeatMs ?? 5000;
    this.#ping = setInterval(() => {
      for (const c of this.#o.registry.sessions.values()) {
        if (Date.now() - c.lastSeen > 3 * hb) c.ws.terminate();
        else c.ws.ping();
      }
    }, hb);
    this.#ping.unref();
  }

  /** Drops every session and stops the heartbeats. */
  stop(): void {
    clearInterval(this.#ping);
    const sessions = this.#o.registry.sessions;
    for (const c of sessions.values()) c.ws.terminate();
    sessions.clear();
  }

  /** Closes the sessions of a node (its certificates were revoked). */
  closeNode(node: string): void {
    for (const c of this.#o.registry.sessions.values()) if (c.node === node) c.ws.close(CLOSE.revoked, 'certificate revoked');
  }

  /** Answers an HTTP upgrade: a session for an authorized agent, a JSON refusal otherwise. */
  upgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    const refuse = (status: number, code: string, message: string) => {
      this.#log.warn({ code, peer: socket.remoteAddress }, 'agent link refused');
      this.#o.bus.emit('agent.refused', { node: null, reason: code, message });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ error: { code, message } })}`,
      );
    };
    if (req.url !== AGENT_PATH) return refuse(404, 'NOT_FOUND', `the agent link is at ${AGENT_PATH}`);
    if (!socket.authorized)
      return refuse(
        401,
        'CLIENT_CERT_REQUIRED',
        `a client certificate issued by this control plane is required (${String(socket.authorizationError ?? 'none presented')})`,
      );
    const peer = socket.getPeerCertificate();
    const serial = peer.serialNumber.toLowerCase();
    if (this.#o.certs.isRevoked(serial)) return refuse(403, 'CERT_REVOKED', `certificate ${serial} is revoked`);
    const name = typeof peer.subject?.CN === 'string' ? peer.subject.CN : '';
    const node = this.#o.store.nodes.find(name);
    if (!node) return refuse(403, 'NODE_UNKNOWN', `no node named ${JSON.stringify(name)}`);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, node.id, node.name, serial));
  }

  #accept(ws: WebSocket, nodeId: string, node: string, serial: string): void {
    const sessions = this.#o.registry.sessions;
    const old = sessions.get(nodeId);
    if (old) old.ws.close(CLOSE.replaced, 'replaced by a newer connection');
    const c: Session = { ws, nodeId, node, serial, since: new Date().toISOString(), hello: undefined, lastSeen: Date.now() };
    sessions.set(nodeId, c);
    this.#o.store.nodes.markSeen(nodeId);
    ws.on('pong', () => (c.lastSeen = Date.now()));
    ws.on('message', (data: Buffer) => {
      c.lastSeen = Date.now();
      this.#onMessage(c, data.toString('utf8'));
    });
    ws.on('close', () => {
      if (sessions.get(nodeId) !== c) return;
      sessions.delete(nodeId);
      this.#o.bus.emit('agent.disconnected', { nodeId, node });
      this.#log.info({ node }, 'agent disconnected');
    });
    ws.on('error', (err) => this.#log.debug({ err: err.message, node }, 'agent link error'));
    this.#log.info({ node, serial }, 'agent connected');
  }

  /**
   * An agent that said hello runs on its node: a node still `provisioning` (made by a join token)
   * or only `discovered` is `ready` from now on. A state someone chose (`retired`, `error`) stays.
   */
  #markReady(nodeId: string): void {
    const { store, bus } = this.#o;
    const node = store.nodes.get(nodeId);
    if (!node || (node.state !== 'provisioning' && node.state !== 'discovered')) return;
    bus.emit('node.updated', store.nodes.update(nodeId, { state: 'ready' }));
    this.#log.info({ node: node.name, from: node.state }, 'node ready: its agent connected');
  }

  #onMessage(c: Session, raw: string): void {
    const p = parseMessage<HelloMsg | AppliedMsg | HealthMsg | EventMsg | EdgesMsg | RenewMsg | RefusedMsg | LogLinesMsg>(
      this.#o.validator,
      UP_SCHEMAS,
      raw,
    );
    if (!p.ok) {
      this.#log.warn({ node: c.node, reason: p.reason, problems: p.problems }, 'refused a message from an agent');
      // A peer that does not speak our protocol gets no second chance before hello.
      if (!c.hello) c.ws.close(CLOSE.protocol, p.reason);
      return;
    }
    const m = p.msg;
    const k = this.#o.registry.knownOf(c.nodeId);
    switch (m.type) {
      case 'hello':
        if (m.node !== c.node) {
          c.ws.close(CLOSE.refused, 'hello names another node than the certificate');
          return;
        }
        c.hello = m;
        k.agentVersion = m.agentVersion;
        k.simulated = m.simulated;
        this.#o.bus.emit('agent.connected', {
          nodeId: c.nodeId,
          node: c.node,
          agentVersion: m.agentVersion,
          simulated: m.simulated,
          soc: m.soc,
          ...(m.model ? { model: m.model } : {}),
        });
        this.#markReady(c.nodeId);
        this.#o.dispatcher.pushDesired(c.nodeId);
        return;
      case 'applied':
        return this.#o.reports.applied(c.nodeId, c.node, k, m);
      case 'health':
        k.health = m.health;
        try {
          this.#o.store.health.record(c.nodeId, m.health);
        } catch (err) {
          this.#log.warn({ err: (err as Error).message, node: c.node }, 'could not record a health sample');
        }
        if (Date.now() - k.seenWritten >= SEEN_WRITE_MS) {
          k.seenWritten = Date.now();
          this.#o.store.nodes.markSeen(c.nodeId);
        }
        return;
      case 'event':
        // Recorded with the next status batch: one transaction for every agent's reports of this turn.
        this.#o.reports.levelChanges([{ nodeId: c.nodeId, node: c.node, pin: m.pin, value: m.value, name: m.name }]);
        return;
      case 'edges':
        // Counts of a watched input's edges (the agent sends at most 10 of these a second): one
        // gpio.changed per pin carrying the count, however fast the input toggled.
        if (m.lost) this.#log.warn({ node: c.node, lost: m.lost }, 'the agent lost edge events');
        this.#o.reports.levelChanges(
          m.items.map((it) => ({
            nodeId: c.nodeId,
            node: c.node,
            pin: it.pin,
            value: it.level,
            name: it.name,
            edges: it.count,
            lastEdgeAt: it.lastEdgeAt,
          })),
        );
        return;
      case 'renew':
        void this.#o.certs.issueAgent(m.csr, c.node).then(
          (r) => c.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'renewed', cert: r.cert })),
          (err: unknown) => this.#log.warn({ err: (err as Error).message, node: c.node }, 'renewal refused'),
        );
        return;
      case 'refused':
        this.#o.bus.emit('agent.refused', { node: c.node, reason: m.reason, message: m.message });
        return;
      case 'log-lines':
        this.#o.logRequests.answer(c.nodeId, m);
        return;
    }
  }
}
