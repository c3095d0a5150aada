/**
 * The agent endpoint's HTTPS listener: a server certificate from our CA, client certificates
 * asked for (and checked by the session layer, so a refusal can say why), and the certificate
 * replaced in place a month before it expires.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { CertManager } from '../certs/index.js';

export interface ListenOptions {
  certs: CertManager;
  log: Logger;
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  host?: string;
  port?: number;
  /** Names the server certificate carries besides localhost/127.0.0.1/hostname. */
  serverNames?: string[];
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void;
}

export class AgentListener {
  readonly #o: ListenOptions;
  #server: Server | undefined;
  #rotate: NodeJS.Timeout | undefined;
  #notAfter = 0;
  #url = '';

  constructor(opts: ListenOptions) {
    this.#o = opts;
  }

  /** https://host:port (after listen). */
  get url(): string {
    return this.#url;
  }

  /** Starts the HTTPS listener with a server certificate from the CA; returns its URL. */
  async listen(): Promise<string> {
    const { certs, log } = this.#o;
    const host = this.#o.host ?? '127.0.0.1';
    const names = [
      'localhost',
      '127.0.0.1',
      hostname(),
      ...(host !== '0.0.0.0' && host !== '::' ? [host] : []),
      ...(this.#o.serverNames ?? []),
    ];
    const hosts = [...new Set(names)];
    const { cert, key, notAfter } = await certs.issueServer(hosts);
    this.#notAfter = notAfter.getTime();
    const server = createServer(
      { cert, key, ca: certs.caCert, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      this.#o.onRequest,
    );
    server.on('upgrade', this.#o.onUpgrade);
    server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake refused'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port ?? 0, host, () => resolve());
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    this.#url = `https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    // The endpoint's own certificate (90 days) is replaced in place a month before it expires:
    // new handshakes get the new one, live links are not touched.
    this.#rotate = setInterval(() => {
      if (this.#notAfter - Date.now() > 30 * 86_400_000) return;
      void certs.issueServer(hosts).then((c) => {
        server.setSecureContext({ cert: c.cert, key: c.key, ca: certs.caCert });
        this.#notAfter = c.notAfter.getTime();
        log.info({ notAfter: c.notAfter }, 'agent endpoint certificate renewed');
      });
    }, 3_600_000);
    this.#rotate.unref();
    return this.#url;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    clearInterval(this.#rotate);
    const s = this.#server;
    if (s) {
      s.closeAllConnections?.();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}
