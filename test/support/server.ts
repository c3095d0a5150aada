/** Test harness: the real app from createApp on an ephemeral 127.0.0.1 port with a temporary SQLite file. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp, type AppDeps, type ControlPlaneApp } from '../../src/server/app.js';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log/index.js';
import { tempDir } from './tmp.js';

export interface TestServer {
  url: string;
  dir: string;
  store: Store;
  app: ControlPlaneApp;
  server: Server;
  admin: string;
  operator: string;
  viewer: string;
  req(
    method: string,
    path: string,
    opts?: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Res>;
}

export interface Res {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are inspected field by field
  text: string;
}

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** `extra` adds or overrides app dependencies; as a function it receives the store and data directory. */
export async function startServer(
  t: Teardown,
  extra: Partial<AppDeps> | ((store: Store, dir: string) => Partial<AppDeps>) = {},
): Promise<TestServer> {
  const dir = tempDir(t);
  const store = openStore({ file: join(dir, 'state.sqlite') });
  const app = createApp({ store, log: silentLogger(), ...(typeof extra === 'function' ? extra(store, dir) : extra) });
  const server = createServer(app.callback());
  app.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    app.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    store.close();
  });
  const admin = store.tokens.create('test-admin', 'admin', 'test').token;
  const operator = store.tokens.create('test-operator', 'operator', 'test').token;
  const viewer = store.tokens.create('test-viewer', 'viewer', 'test').token;
  const req: TestServer['req'] = async (method, path, opts = {}) => {
    const token = opts.token === undefined ? admin : opts.token;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const r = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await r.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: r.status, headers: r.headers, body: parsed, text };
  };
  return { url, dir, store, app, server, admin, operator, viewer, req };
}
