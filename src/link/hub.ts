/**
 * The agent endpoint: a separate HTTPS listener (loopback by default) with its own CA.
 *
 * - `GET /ca` serves the CA certificate (agents pin it against the hash in their join token).
 * - `POST /enrol` spends a join token and signs the agent's CSR.
 * - `GET /agent/v1` upgrades to the WebSocket link. The TLS layer asks for a client certificate;
 *   a connection without one that chains to our CA, or with a revoked one, is refused with
 *   401/403 before any message is exchanged.
 *
 * The hub implements the control plane's AgentGateway: it sends each node's desired snapshot
 * on connect and on every `hw.changed`, writes applied status to the store, and publishes
 * `agent.connected`, `agent.disconnected`, `hw.applied`, `gpio.changed` and `agent.refused` on the bus.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AGENT_PATH,
  CLOSE,
  EnrolRequest,
  PROTOCOL_VERSION,
  UP_SCHEMAS,
  parseMessage,
  type AgentInfo,
  type AppliedItem,
  type AppliedMsg,
  type EdgesMsg,
  type EventMsg,
  type Health,
  type HealthMsg,
  type HelloMsg,
  type RefusedMsg,
  type RenewMsg,
} from '../api/agent.js';
import { HW_KINDS } from '../api/hardware.js';
import { ControllerError, NotFoundError } from '../api/errors.js';
import { Validator } from '../api/validate.js';
import { CertError, type CertManager } from '../certs/index.js';
import type { EventBus } from '../events/bus.js';
import type { EventMap, EventType } from '../api/events.js';
import type { Store } from '../store/index.js';
import type { AgentGateway, AgentStatus, JoinToken } from '../core/ports.js';

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

interface Conn {
  ws: WebSocket;
  nodeId: string;
  node: string;
  serial: string;
  since: string;
  hello: HelloMsg | undefined;
  lastSeen: number;
}

interface Known {
  health: Health | null;
  applied: Map<string, AppliedItem>;
  agentVersion: string | null;
  simulated: boolean | null;
  /** Sent-at times of desired snapshots by seq (for latency measurements). */
  sent: Map<number, number>;
  /** When lastSeenAt was last written for this node (ms). */
  seenWritten: number;
}

/** Health messages move a node's lastSeenAt at most this often (each write is a committed transaction). */
const SEEN_WRITE_MS = 15_000;

/** See the module comment. */
export class AgentHub implements AgentGateway {
  readonly #o: AgentHubOptions;
  readonly #log: Logger;
  readonly #validator = new Validator();
  readonly #conns = new Map<string, Conn>();
  readonly #known = new Map<string, Known>();
  readonly #wss: WebSocketServer;
  #server: Server | undefined;
  #seq = 0;
  #ping: NodeJS.Timeout | undefined;
  #rotate: NodeJS.Timeout | undefined;
  #serverNotAfter = 0;
  #url = '';

  constructor(opts: AgentHubOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
    opts.bus.on('agents', 'hw.changed', (e) => this.#pushSoon(e.data.nodeId));
    opts.bus.on('agents', 'node.deleted', (e) => this.revokeNode(e.data.name));
  }

  #emit<K extends EventType>(type: K, data: EventMap[K]): void {
    this.#o.bus.emit(type, data);
  }

  /** https://host:port of the agent endpoint (after listen). */
  get url(): string {
    return this.#url;
  }

  /** Starts the HTTPS listener with a server certificate from the CA. */
  async listen(): Promise<string> {
    const host = this.#o.host ?? '127.0.0.1';
    const names = [
      'localhost',
      '127.0.0.1',
      hostname(),
      ...(host !== '0.0.0.0' && host !== '::' ? [host] : []),
      ...(this.#o.serverNames ?? []),
    ];
    const hosts = [...new Set(names)];
    const { cert, key, notAfter } = await this.#o.certs.issueServer(hosts);
    this.#serverNotAfter = notAfter.getTime();
    const server = createServer(
      { cert, key, ca: this.#o.certs.caCert, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      (req, res) => {
        void this.#http(req, res);
      },
    );
    server.on('upgrade', (req: IncomingMessage, socket: TLSSocket, head: Buffer) => this.#upgrade(req, socket, head));
    server.on('tlsClientError', (err) => this.#log.debug({ err: err.message }, 'TLS handshake refused'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port ?? 0, host, () => resolve());
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    this.#url = `https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    const hb = this.#o.heartbeatMs ?? 5000;
    // The endpoint's own certificate (90 days) is replaced in place a month before it expires:
    // new handshakes get the new one, live links are not touched.
    this.#rotate = setInterval(() => {
      if (this.#serverNotAfter - Date.now() > 30 * 86_400_000) return;
      void this.#o.certs.issueServer(hosts).then((c) => {
        server.setSecureContext({ cert: c.cert, key: c.key, ca: this.#o.certs.caCert });
        this.#serverNotAfter = c.notAfter.getTime();
        this.#log.info({ notAfter: c.notAfter }, 'agent endpoint certificate renewed');
      });
    }, 3_600_000);
    this.#rotate.unref();
    this.#ping = setInterval(() => {
      for (const c of this.#conns.values()) {
        if (Date.now() - c.lastSeen > 3 * hb) c.ws.terminate();
        else c.ws.ping();
      }
    }, hb);
    this.#ping.unref();
    this.#log.info({ url: this.#url }, 'agent endpoint listening (mutual TLS)');
    return this.#url;
  }

  /** Makes a join token for `node` (the node is created when unknown). */
  createJoinToken(node: string, ttlMs?: number): JoinToken {
    if (!this.#o.store.nodes.find(node)) {
      const n = this.#o.store.nodes.create({ name: node }, 'provisioning');
      this.#emit('node.created', n);
    }
    return { ...this.#o.certs.createJoinToken(node, ttlMs), server: this.#url };
  }

  /** Revokes every certificate of a node and drops its link. */
  revokeNode(node: string): string[] {
    const serials = this.#o.certs.revokeNode(node);
    for (const c of this.#conns.values()) if (c.node === node) c.ws.close(CLOSE.revoked, 'certificate revoked');
    if (serials.length) this.#log.warn({ node, serials }, 'revoked agent certificates');
    return serials;
  }

  status(nodeId: string): AgentStatus {
    const c = this.#conns.get(nodeId);
    return {
      connected: c !== undefined,
      since: c?.since ?? null,
      health: (this.#known.get(nodeId)?.health as Record<string, unknown> | null) ?? null,
    };
  }

  /** One agent's view: link, health, applied state, certificates. */
  info(nodeIdOrName: string): AgentInfo {
    const n = this.#o.store.nodes.find(nodeIdOrName);
    if (!n) throw new NotFoundError('node', nodeIdOrName);
    const c = this.#conns.get(n.id);
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
      certificates: this.#o.certs
        .issued()
        .filter((x) => x.node === n.name)
        .map((x) => ({ serial: x.serial, notAfter: x.notAfter, revoked: x.revoked })),
    };
  }

  /** Every node that has an agent (connected now, or enrolled). */
  list(): AgentInfo[] {
    const names = new Set(this.#o.certs.issued().map((c) => c.node));
    for (const c of this.#conns.values()) names.add(c.node);
    return [...names]
      .filter((n) => this.#o.store.nodes.find(n))
      .sort()
      .map((n) => this.info(n));
  }

  /**
   * Desired-state changes of one event-loop turn are sent as one snapshot per node: a burst of
   * changes to a node's pins (many objects applied together) costs one message, always the latest.
   */
  #pushSoon(nodeId: string): void {
    this.#pushNodes.add(nodeId);
    if (this.#pushNodes.size > 1) return;
    setImmediate(() => {
      const nodes = [...this.#pushNodes];
      this.#pushNodes.clear();
      for (const n of nodes) this.pushDesired(n);
    });
  }
  readonly #pushNodes = new Set<string>();

  /** Sends the node's desired snapshot to its agent (when connected); returns the seq or null. */
  pushDesired(nodeId: string): number | null {
    const c = this.#conns.get(nodeId);
    if (!c) return null;
    const store = this.#o.store;
    const items = HW_KINDS.flatMap((kind) =>
      store.hardware
        .list(nodeId, kind)
        .map((o) => ({ kind, name: o.name, generation: o.generation, spec: o.spec as unknown as Record<string, unknown> })),
    );
    const seq = ++this.#seq;
    this.#knownOf(nodeId).sent.set(seq, performance.now());
    c.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'desired', seq, items }));
    return seq;
  }

  /** Asks a node's agent to apply its configured safe state. */
  requestSafeState(nodeId: string): boolean {
    return this.sendRaw(nodeId, JSON.stringify({ v: PROTOCOL_VERSION, type: 'safe-state' }));
  }

  /** Sends a raw message to a node's agent (tests: malformed messages; operators: safe-state). */
  sendRaw(nodeId: string, text: string): boolean {
    const c = this.#conns.get(nodeId);
    if (!c) return false;
    c.ws.send(text);
    return true;
  }

  /** Drops every link and stops listening. */
  async close(): Promise<void> {
    clearInterval(this.#ping);
    clearInterval(this.#rotate);
    this.#o.bus.removeOwner('agents');
    for (const c of this.#conns.values()) c.ws.terminate();
    this.#conns.clear();
    const s = this.#server;
    if (s) {
      s.closeAllConnections?.();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  #knownOf(nodeId: string): Known {
    let k = this.#known.get(nodeId);
    if (!k)
      this.#known.set(
        nodeId,
        (k = { health: null, applied: new Map(), agentVersion: null, simulated: null, sent: new Map(), seenWritten: 0 }),
      );
    return k;
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const fail = (err: ControllerError) =>
      reply(err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    try {
      if (req.method === 'GET' && req.url === '/ca') return reply(200, this.#o.certs.caCert, 'application/x-pem-file');
      if (req.method === 'POST' && req.url === '/enrol') {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of req as AsyncIterable<Buffer>) {
          size += c.length;
          if (size > 64 * 1024) return fail(new ControllerError('PAYLOAD_TOO_LARGE', 413, 'enrolment body over 64 KiB'));
          chunks.push(c);
        }
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return fail(new ControllerError('BAD_JSON', 400, 'the body is not JSON'));
        }
        const problems = this.#validator.problems(EnrolRequest, body, '/body');
        if (problems.length)
          return fail(new ControllerError('VALIDATION_FAILED', 422, 'enrolment request validation failed', { details: { problems } }));
        const { token, csr } = body as EnrolRequest;
        const node = this.#o.certs.consumeJoinToken(token);
        const issued = await this.#o.certs.issueAgent(csr, node);
        this.#log.info({ node, serial: issued.serial }, 'agent enrolled');
        return reply(200, { node, cert: issued.cert, ca: this.#o.certs.caCert });
      }
      return reply(404, { error: { code: 'NOT_FOUND', message: `${req.method ?? ''} ${req.url ?? ''} is not served here` } });
    } catch (err) {
      if (err instanceof ControllerError) {
        this.#log.warn({ code: err.code }, 'enrolment refused');
        return fail(err);
      }
      this.#log.error({ err }, 'agent endpoint failed');
      return reply(500, { error: { code: 'INTERNAL', message: 'internal error' } });
    }
  }

  #upgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    const refuse = (status: number, code: string, message: string) => {
      this.#log.warn({ code, peer: socket.remoteAddress }, 'agent link refused');
      this.#emit('agent.refused', { node: null, reason: code, message });
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
    const old = this.#conns.get(nodeId);
    if (old) old.ws.close(CLOSE.replaced, 'replaced by a newer connection');
    const c: Conn = { ws, nodeId, node, serial, since: new Date().toISOString(), hello: undefined, lastSeen: Date.now() };
    this.#conns.set(nodeId, c);
    this.#o.store.nodes.markSeen(nodeId);
    ws.on('pong', () => (c.lastSeen = Date.now()));
    ws.on('message', (data: Buffer) => {
      c.lastSeen = Date.now();
      this.#onMessage(c, data.toString('utf8'));
    });
    ws.on('close', () => {
      if (this.#conns.get(nodeId) !== c) return;
      this.#conns.delete(nodeId);
      this.#emit('agent.disconnected', { nodeId, node });
      this.#log.info({ node }, 'agent disconnected');
    });
    ws.on('error', (err) => this.#log.debug({ err: err.message, node }, 'agent link error'));
    this.#log.info({ node, serial }, 'agent connected');
  }

  #onMessage(c: Conn, raw: string): void {
    const p = parseMessage<HelloMsg | AppliedMsg | HealthMsg | EventMsg | EdgesMsg | RenewMsg | RefusedMsg>(
      this.#validator,
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
    const k = this.#knownOf(c.nodeId);
    switch (m.type) {
      case 'hello':
        if (m.node !== c.node) {
          c.ws.close(CLOSE.refused, 'hello names another node than the certificate');
          return;
        }
        c.hello = m;
        k.agentVersion = m.agentVersion;
        k.simulated = m.simulated;
        this.#emit('agent.connected', { nodeId: c.nodeId, node: c.node, agentVersion: m.agentVersion, simulated: m.simulated, soc: m.soc });
        this.pushDesired(c.nodeId);
        return;
      case 'applied':
        return this.#onApplied(c, k, m);
      case 'health':
        k.health = m.health;
        if (Date.now() - k.seenWritten >= SEEN_WRITE_MS) {
          k.seenWritten = Date.now();
          this.#o.store.nodes.markSeen(c.nodeId);
        }
        return;
      case 'event':
        // Recorded with the next status batch: one transaction for every agent's reports of this turn.
        this.#pendingEvents.push({ nodeId: c.nodeId, node: c.node, pin: m.pin, value: m.value, name: m.name });
        this.#scheduleFlush();
        return;
      case 'edges':
        // Counts of a watched input's edges (the agent sends at most 10 of these a second): one
        // gpio.changed per pin carrying the count, however fast the input toggled.
        for (const it of m.items) {
          this.#pendingEvents.push({
            nodeId: c.nodeId,
            node: c.node,
            pin: it.pin,
            value: it.level,
            name: it.name,
            edges: it.count,
            lastEdgeAt: it.lastEdgeAt,
          });
        }
        if (m.lost) this.#log.warn({ node: c.node, lost: m.lost }, 'the agent lost edge events');
        if (m.items.length) this.#scheduleFlush();
        return;
      case 'renew':
        void this.#o.certs.issueAgent(m.csr, c.node).then(
          (r) => c.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'renewed', cert: r.cert })),
          (err: unknown) => this.#log.warn({ err: (err as Error).message, node: c.node }, 'renewal refused'),
        );
        return;
      case 'refused':
        this.#emit('agent.refused', { node: c.node, reason: m.reason, message: m.message });
        return;
    }
  }

  #onApplied(c: Conn, k: Known, m: AppliedMsg): void {
    const sentAt = k.sent.get(m.seq);
    k.sent.delete(m.seq);
    for (const s of k.sent.keys()) if (s < m.seq) k.sent.delete(s);
    // The report arrives after the agent's register writes: that is the latency measured.
    if (sentAt !== undefined) this.#latency?.(performance.now() - sentAt, c.node);
    const names = new Set<string>();
    for (const it of m.items) {
      const key = `${it.kind}/${it.name}`;
      names.add(key);
      const prev = k.applied.get(key);
      k.applied.set(key, it);
      // Only a changed report is written: a snapshot of 26 pins with one change writes one row.
      if (!prev || JSON.stringify(prev) !== JSON.stringify(it)) this.#pending.push({ nodeId: c.nodeId, node: c.node, item: it });
    }
    for (const key of [...k.applied.keys()]) if (!names.has(key)) k.applied.delete(key);
    if (this.#pending.length) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => this.#flush());
  }

  /** Writes queued status reports of every agent in one transaction (one fsync per event-loop turn). */
  #flush(): void {
    this.#flushing = false;
    const batch = this.#pending.splice(0);
    const events = this.#pendingEvents.splice(0);
    const store = this.#o.store;
    const at = new Date().toISOString();
    try {
      store.tx(() => {
        for (const { nodeId, node, item: it } of batch) {
          // One row by its key (listing the node's objects for each report made a snapshot of n pins cost n^2).
          let obj;
          try {
            obj = store.hardware.require(nodeId, it.kind, it.name);
          } catch {
            continue; // deleted meanwhile
          }
          if (obj.generation !== it.generation) continue;
          store.hardware.setStatus(obj.id, {
            phase: it.phase,
            reason: it.reason,
            observedGeneration: it.generation,
            ...(it.actual ? { actual: it.actual } : {}),
            updatedAt: at,
          });
          this.#emit('hw.applied', {
            nodeId,
            node,
            kind: it.kind,
            name: it.name,
            generation: it.generation,
            phase: it.phase,
            reason: it.reason,
          });
          const readings = it.kind === 'i2c' && it.phase === 'Applied' ? it.actual?.readings : undefined;
          if (readings && typeof readings === 'object') {
            const readAt = typeof it.actual?.readAt === 'string' ? it.actual.readAt : null;
            this.#emit('i2c.reading', { nodeId, node, name: it.name, readings: readings as Record<string, unknown>, readAt });
          }
        }
        for (const e of events) this.#emit('gpio.changed', e);
      });
    } catch (err) {
      this.#log.error({ err }, 'could not store applied status');
    }
  }

  #pending: { nodeId: string; node: string; item: AppliedItem }[] = [];
  #pendingEvents: EventMap['gpio.changed'][] = [];
  #flushing = false;
  #latency: ((ms: number, node: string) => void) | undefined;

  /** Called with the time from sending a desired snapshot to its applied report (benchmarks). */
  onRoundTrip(fn: (ms: number, node: string) => void): void {
    this.#latency = fn;
  }
}

export { CertError };
