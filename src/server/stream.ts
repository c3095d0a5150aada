/**
 * `/api/v1/events`: the WebSocket event stream. Clients authenticate like REST (bearer
 * header, or `access_token` in the query), or as the web UI does, with the subprotocols
 * `pi-controller.events, bearer.<token>` (browsers cannot set headers on a WebSocket); filter with `types=node.*,job.updated`
 * and can replay from a sequence number with `since=N`. A client that reads too slowly does
 * not make the server buffer without bound: once its socket holds more than `maxBuffer`
 * bytes, events are dropped for it and it is told how many (a `stream.dropped` event) when
 * it catches up; past `maxDropped` consecutive drops it is disconnected (close code 1013).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { EventEnvelope } from '../api/events.js';
import { EVENT_TYPES } from '../api/events.js';
import type { EventBus } from '../events/bus.js';
import { matchesFilter } from '../events/bus.js';
import type { Store } from '../store/index.js';
import { STREAM_PROTOCOL, presentedToken, protocolToken } from './auth.js';
import type { Metrics } from './metrics.js';

export interface StreamOptions {
  path: string;
  store: Store;
  bus: EventBus;
  log: Logger;
  metrics: Metrics;
  /** Bytes queued on one client's socket before its events are dropped (default 1 MiB). */
  maxBuffer?: number;
  /** Consecutive dropped events before the client is disconnected (default 10000). */
  maxDropped?: number;
  /** Ping interval; a client that misses a pong is terminated (default 30 s). */
  heartbeatMs?: number;
}

const FILTER_RE = /^(\*|[a-z]+\.\*|[a-z]+\.[a-z]+)$/;

function refuse(socket: Duplex, status: number, reason: string, body: object): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export class EventStream {
  readonly #wss: WebSocketServer;
  readonly #opts: Required<StreamOptions>;
  /** Connected clients and whether each answered the last ping. */
  readonly #clients = new Map<WebSocket, { alive: boolean }>();
  #nextId = 0;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: StreamOptions) {
    this.#opts = { maxBuffer: 1 << 20, maxDropped: 10_000, heartbeatMs: 30_000, ...opts };
    // A browser that offered subprotocols needs one chosen: ours, never the one carrying the token.
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: 4096,
      handleProtocols: (offered) => (offered.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false),
    });
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Bytes queued on each client's socket right now (to observe the bound on slow clients). */
  bufferedAmounts(): number[] {
    return [...this.#clients.keys()].map((ws) => ws.bufferedAmount);
  }

  /** Handles upgrade requests on `server` for the stream path; refuses every other upgrade. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    if (!this.#heartbeat) {
      this.#heartbeat = setInterval(() => this.#ping(), this.#opts.heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== this.#opts.path)
      return refuse(socket, 404, 'Not Found', { error: { code: 'NOT_FOUND', message: `no stream at ${url.pathname}` } });
    const token = presentedToken(req.headers.authorization, url.searchParams) ?? protocolToken(req.headers['sec-websocket-protocol']);
    const actor = token ? this.#opts.store.tokens.verify(token) : undefined;
    if (!actor)
      return refuse(socket, 401, 'Unauthorized', { error: { code: 'UNAUTHENTICATED', message: 'a valid bearer token is required' } });
    const filters = (url.searchParams.get('types') ?? '').split(',').filter(Boolean);
    const problems = filters
      .map((f, i) => ({ f, i }))
      .filter(({ f }) => !FILTER_RE.test(f) || (!f.includes('*') && !EVENT_TYPES.includes(f as (typeof EVENT_TYPES)[number])))
      .map(({ f, i }) => ({ path: `/query/types/${i}`, code: 'enum', message: `unknown event type or pattern ${JSON.stringify(f)}` }));
    const sinceRaw = url.searchParams.get('since');
    const since = sinceRaw === null ? undefined : Number(sinceRaw);
    if (since !== undefined && !(Number.isInteger(since) && since >= 0))
      problems.push({ path: '/query/since', code: 'integer', message: 'Expected a non-negative integer' });
    if (problems.length)
      return refuse(socket, 422, 'Unprocessable Entity', {
        error: { code: 'VALIDATION_FAILED', message: 'bad stream parameters', problems },
      });
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#serve(ws, actor.name, filters, since));
  }

  #serve(ws: WebSocket, who: string, filters: string[], since: number | undefined): void {
    const { bus, store, maxBuffer, maxDropped, metrics, log } = this.#opts;
    const owner = `stream:${++this.#nextId}`;
    const health = { alive: true };
    let dropped = 0;
    let firstDropped = 0;
    let lastDropped = 0;
    this.#clients.set(ws, health);
    metrics.wsClients.set(this.#clients.size);
    log.debug({ who, owner, filters }, 'stream client connected');

    const deliver = (env: EventEnvelope) => {
      if (ws.readyState !== ws.OPEN || !matchesFilter(env.type, filters)) return;
      if (ws.bufferedAmount > maxBuffer) {
        if (dropped++ === 0) firstDropped = env.seq;
        lastDropped = env.seq;
        metrics.wsDropped.inc();
        if (dropped > maxDropped) {
          log.warn({ who, owner, dropped }, 'stream client too slow, disconnecting');
          ws.close(1013, 'too slow');
          // A client that does not read will not complete the close handshake either.
          setTimeout(() => ws.terminate(), 1000).unref();
        }
        return;
      }
      if (dropped) {
        ws.send(
          JSON.stringify({
            seq: lastDropped,
            at: new Date().toISOString(),
            type: 'stream.dropped',
            data: { count: dropped, firstSeq: firstDropped, lastSeq: lastDropped },
          }),
        );
        dropped = 0;
      }
      ws.send(JSON.stringify(env));
    };
    // Replay and subscribe in the same tick: no event can fall between the two.
    if (since !== undefined) for (const env of store.events.since(since, 10_000)) deliver(env);
    bus.onAny(owner, deliver);

    ws.on('pong', () => (health.alive = true));
    ws.on('message', () => ws.close(1003, 'the event stream is one-way'));
    ws.on('error', (err) => log.debug({ err, owner }, 'stream client error'));
    ws.on('close', () => {
      bus.removeOwner(owner);
      this.#clients.delete(ws);
      metrics.wsClients.set(this.#clients.size);
    });
  }

  #ping(): void {
    for (const [ws, health] of this.#clients) {
      if (!health.alive) {
        ws.terminate();
        continue;
      }
      health.alive = false;
      ws.ping();
    }
  }

  /** Closes every client (going away) and stops the heartbeat. */
  close(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const ws of this.#clients.keys()) ws.close(1001, 'server shutting down');
    for (const ws of this.#clients.keys()) setTimeout(() => ws.terminate(), 500).unref();
    this.#wss.close();
  }
}
