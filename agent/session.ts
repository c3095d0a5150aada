/**
 * The agent's session with the control plane: it dials the agent endpoint over a mutual-TLS
 * WebSocket and, whenever the link drops, dials again after an exponential backoff with full
 * jitter. A link on which the server says nothing (no message, no ping; the server pings every
 * 5 s) for `deadAfterMs` is dropped, so a half-open TCP connection does not hold the agent.
 *
 * How one link is opened is a {@link Dialler}: {@link wsDialler} is the real one; the Agent takes
 * another in its options (a test can hand it links of its own).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { AGENT_PATH } from '../src/api/agent.js';
import type { AgentCredentials } from './enrol.js';

/** Where and as whom to dial: the agent endpoint's WebSocket URL and the agent's TLS material (PEM). */
export interface DialTarget {
  url: string;
  ca: string;
  cert: string;
  key: string;
}

/** What one link reports to its session. Called asynchronously, after the dialler has returned. */
export interface LinkEvents {
  open(): void;
  /** A ping from the server: the link is alive. */
  ping(): void;
  message(text: string): void;
  /** The server answered the WebSocket upgrade with this HTTP status (e.g. a revoked certificate). */
  rejected(status: number | undefined): void;
  error(err: Error): void;
  /** The link is closed (also after `rejected` or `error`); `code` is the WebSocket close code. */
  close(code: number): void;
}

/** One connection attempt, as the session uses it. */
export interface Link {
  /** Whether messages can be sent now. */
  readonly open: boolean;
  send(text: string): void;
  /** Closes with a close code and reason; resolves once closed (ends it hard after 1 s). */
  close(code: number, reason: string): Promise<void>;
  /** Ends it at once, without a closing handshake. */
  terminate(): void;
}

/** Opens one link to `target`, reporting what happens on it to `events`. */
export type Dialler = (target: DialTarget, events: LinkEvents) => Link;

/** The real link: a `ws` WebSocket with the agent's client certificate, verified against the pinned CA. */
export const wsDialler: Dialler = (target, events) => {
  const ws = new WebSocket(target.url, {
    ca: target.ca,
    cert: target.cert,
    key: target.key,
    handshakeTimeout: 10_000,
    maxPayload: 1 << 20,
  });
  ws.on('open', () => events.open());
  ws.on('ping', () => events.ping());
  ws.on('message', (data: Buffer) => events.message(data.toString('utf8')));
  ws.on('unexpected-response', (_req, res) => {
    events.rejected(res.statusCode);
    ws.terminate();
  });
  ws.on('error', (err) => events.error(err));
  ws.on('close', (code) => events.close(code));
  return {
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) => ws.send(text),
    terminate: () => ws.terminate(),
    close: (code, reason) =>
      ws.readyState === WebSocket.CLOSED
        ? Promise.resolve()
        : new Promise<void>((done) => {
            ws.once('close', () => done());
            ws.close(code, reason);
            setTimeout(() => {
              ws.terminate();
              done();
            }, 1000).unref();
          }),
  };
};

/** What a session tells its owner. */
export interface SessionEvents {
  open: [];
  message: [text: string];
  rejected: [status: number | undefined];
  close: [code: number];
}

export interface SessionOptions {
  /** The credentials to dial with, read at each dial (a renewed certificate is used from the next one). */
  credentials: () => AgentCredentials;
  log: Logger;
  /** Opens a link (default {@link wsDialler}). */
  dial?: Dialler;
  /** Reconnect backoff: first delay and cap (default 250 ms, 30 s); full jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** Silence after which the link is dropped, ms. */
  deadAfterMs: number;
}

/** See the module comment. */
export class Session extends EventEmitter<SessionEvents> {
  readonly #o: SessionOptions;
  readonly #dial: Dialler;
  #link: Link | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #deadTimer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(opts: SessionOptions) {
    super();
    this.#o = opts;
    this.#dial = opts.dial ?? wsDialler;
  }

  /** Whether the link is up. */
  get connected(): boolean {
    return this.#link?.open === true;
  }

  /** Starts dialling. */
  start(): void {
    this.#stopped = false;
    this.#dialOnce();
  }

  /** Sends a message when the link is up (otherwise it is dropped: reports are sent again on reconnect). */
  send(msg: object): void {
    if (this.#link?.open) this.#link.send(JSON.stringify(msg));
  }

  /** Stops dialling and closes the link (a normal closure). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#deadTimer);
    const link = this.#link;
    this.#link = undefined;
    if (link) await link.close(1000, 'agent stopping');
  }

  #dialOnce(): void {
    if (this.#stopped) return;
    const c = this.#o.credentials();
    const url = c.server.replace(/^http/, 'ws') + AGENT_PATH;
    const log = this.#o.log;
    const link = this.#dial(
      { url, ca: c.ca, cert: c.cert, key: c.key },
      {
        open: () => {
          this.#attempt = 0;
          this.#alive(link);
          log.info({ url }, 'connected to the control plane');
          this.emit('open');
        },
        ping: () => this.#alive(link),
        message: (text) => {
          this.#alive(link);
          this.emit('message', text);
        },
        rejected: (status) => {
          log.warn({ status }, 'the control plane refused the link');
          this.emit('rejected', status);
        },
        error: (err) => log.debug({ err: err.message }, 'link error'),
        close: (code) => {
          clearTimeout(this.#deadTimer);
          if (this.#link === link) this.#link = undefined;
          this.emit('close', code);
          if (this.#stopped) return;
          // Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)].
          const b = this.#o.backoff ?? { baseMs: 250, maxMs: 30_000 };
          const delay = Math.random() * Math.min(b.maxMs, b.baseMs * 2 ** Math.min(this.#attempt++, 20));
          this.#timer = setTimeout(() => this.#dialOnce(), delay);
        },
      },
    );
    this.#link = link;
  }

  /** The server spoke: the link is dropped only after another `deadAfterMs` of silence. */
  #alive(link: Link): void {
    clearTimeout(this.#deadTimer);
    this.#deadTimer = setTimeout(() => link.terminate(), this.#o.deadAfterMs);
    this.#deadTimer.unref();
  }
}
