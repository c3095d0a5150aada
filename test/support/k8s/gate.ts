/**
 * A TCP forwarder to a local port that a test opens and closes: closed, a client gets
 * ECONNREFUSED as from an API server that is down; open, it reaches the real server behind it
 * (TLS passes through untouched, so the server's certificate for 127.0.0.1 still matches).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './cluster.js';

export interface Gate {
  /** The port clients use (reserved now; listened on only while open). */
  port: number;
  open(): Promise<void>;
  /** Stops listening and cuts every forwarded connection. */
  close(): Promise<void>;
}

export async function tcpGate(t: { teardown(fn: () => void | Promise<void>): void }, target: number): Promise<Gate> {
  const port = await freePort();
  const socks = new Set<Socket>();
  let server: Server | undefined;
  const close = async () => {
    const s = server;
    server = undefined;
    for (const c of socks) c.destroy();
    if (s) await new Promise((r) => s.close(r));
  };
  t.teardown(close);
  return {
    port,
    close,
    open: () =>
      new Promise<void>((resolve, reject) => {
        const s = createServer((down) => {
          const up = createConnection(target, '127.0.0.1');
          for (const c of [down, up]) {
            socks.add(c);
            c.once('close', () => socks.delete(c));
            c.on('error', () => (c === up ? down : up).destroy());
          }
          down.pipe(up).pipe(down);
        });
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => {
          server = s;
          resolve();
        });
      }),
  };
}
