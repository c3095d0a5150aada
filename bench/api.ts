/**
 * `npm run bench:api`: the control plane's REST throughput against a bare Koa hello-world
 * measured in the same run, idle memory with 100 nodes, and start-up time to /readyz.
 * Servers run in child processes (the load generator stays in this one), all on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import Koa from 'koa';
import { createApp } from '../src/server/app.js';
import { openStore } from '../src/store/index.js';
import { silentLogger } from '../src/log/index.js';

const SELF = fileURLToPath(import.meta.url);
const CLI = join(SELF, '../../src/cli/main.js');
const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 10;
/** V8 flags of the control-plane child: the ones `npm start` (scripts/start.sh) runs the server with. */
const SERVE_FLAGS = ['--max-semi-space-size=4'];

/** Child mode: serve the control plane (100 nodes, auth on) or a bare Koa app, print the port. */
async function child(kind: string): Promise<void> {
  let handler;
  let token = '';
  if (kind === 'control-plane') {
    const dir = mkdtempSync(join(tmpdir(), 'pic-bench-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const store = openStore({ file: join(dir, 'state.sqlite') });
    store.tx(() => {
      for (let i = 0; i < 100; i++)
        store.nodes.create(
          { name: `pi-${i}`, address: `10.0.${i >> 8}.${i & 255}`, model: 'Raspberry Pi 4 Model B', labels: { rack: String(i % 4) } },
          'ready',
        );
    });
    token = store.tokens.create('bench', 'viewer', 'bench').token;
    handler = createApp({ store, log: silentLogger() }).callback();
  } else if (kind === 'bare') {
    const app = new Koa();
    app.use((ctx) => {
      ctx.body = { hello: 'world' };
    });
    handler = app.callback();
  } else {
    // Bare Koa sending a constant body: the bytes of the node list, read from the file named.
    const body = readFileSync(kind);
    const app = new Koa();
    app.use((ctx) => {
      ctx.type = 'application/json';
      ctx.body = body;
    });
    handler = app.callback();
  }
  const server = createServer(handler);
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port, token }) + '\n');
  });
  // The parent asks for this process's CPU time around each load run: CPU per request does not
  // depend on what else the machine is running, unlike req/s.
  createInterface({ input: process.stdin }).on('line', () => {
    const u = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpuUs: u.user + u.system }) + '\n');
  });
}

interface Child {
  proc: ChildProcess;
  port: number;
  token: string;
  /** The child's user+system CPU time so far, in microseconds. */
  cpuUs(): Promise<number>;
}

function startChild(kind: string): Promise<Child> {
  const flags = kind === 'control-plane' ? SERVE_FLAGS : [];
  const proc = spawn(process.execPath, [...flags, SELF, '--child', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  const cpuUs = async () => {
    const answer = next();
    proc.stdin!.write('cpu\n');
    return (JSON.parse(await answer) as { cpuUs: number }).cpuUs;
  };
  return new Promise((resolve, reject) => {
    proc.once('exit', (c) => reject(new Error(`${kind} exited ${c}`)));
    void next().then((l) => resolve({ proc, cpuUs, ...(JSON.parse(l) as { port: number; token: string }) }));
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  bytes: number;
  /** Server CPU (user+system) per request. */ cpuUsPerReq: number;
}

async function load(server: Child, path: string, token?: string): Promise<LoadResult> {
  const url = `http://127.0.0.1:${server.port}${path}`;
  const opts = { url, connections: CONNECTIONS, duration: DURATION, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) };
  await autocannon({ ...opts, duration: 1 }); // warm-up (JIT, caches)
  const cpu0 = await server.cpuUs();
  const r = await autocannon(opts);
  const cpu = (await server.cpuUs()) - cpu0;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
    bytes: r.throughput.average / Math.max(1, r.requests.average),
    cpuUsPerReq: cpu / Math.max(1, r.requests.total),
  };
}

/** Milliseconds from spawning `pi-controller serve` to the first 200 from /readyz. */
async function startupMs(dataDir: string, port: number): Promise<number> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--port', String(port)], {
    stdio: 'ignore',
    env: { ...process.env, PI_CONTROLLER_BACKUP_INTERVAL_MINUTES: '0' },
  });
  try {
    for (let i = 0; i < 1500; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('serve did not become ready in 7.5 s');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function main(): Promise<void> {
  const cp = await startChild('control-plane');
  const bare = await startChild('bare');
  try {
    const idleBefore = rssMb(cp.proc.pid!);
    const b = await load(bare, '/');
    const n = await load(cp, '/api/v1/nodes', cp.token);
    const w = await load(cp, '/api/v1/whoami', cp.token);
    // A second baseline: bare Koa sending the same bytes as the node list (the cost of moving them).
    const listFile = join(mkdtempSync(join(tmpdir(), 'pic-bench-list-')), 'nodes.json');
    writeFileSync(
      listFile,
      Buffer.from(
        await (await fetch(`http://127.0.0.1:${cp.port}/api/v1/nodes`, { headers: { authorization: `Bearer ${cp.token}` } })).arrayBuffer(),
      ),
    );
    const same = await startChild(listFile);
    let s: LoadResult;
    try {
      s = await load(same, '/');
    } finally {
      same.proc.kill();
      rmSync(dirname(listFile), { recursive: true, force: true });
    }
    await new Promise((r) => setTimeout(r, 2000));
    const idleAfter = rssMb(cp.proc.pid!);
    const row = (name: string, r: LoadResult) =>
      `${name.padEnd(42)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  ${(r.bytes / 1024).toFixed(1).padStart(6)} KiB/resp  ` +
      `server CPU ${r.cpuUsPerReq.toFixed(0).padStart(4)} us/req  errors ${r.errors}`;
    console.log(
      `HTTP on 127.0.0.1, ${CONNECTIONS} connections, ${DURATION} s each, server and load generator in separate processes; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(row('bare Koa hello-world (baseline)', b));
    console.log(row("bare Koa, constant body of the list's bytes", s));
    console.log(row('GET /api/v1/nodes (100 nodes, bearer auth)', n));
    console.log(row('GET /api/v1/whoami (bearer auth, small body)', w));
    console.log(`ratio nodes/bare Koa:  ${(n.rps / b.rps).toFixed(2)}x  (goal >= 0.7x)`);
    console.log(`ratio nodes/bare Koa with the same bytes: ${(n.rps / s.rps).toFixed(2)}x`);
    console.log(`ratio whoami/bare Koa: ${(w.rps / b.rps).toFixed(2)}x`);
    console.log(
      `server CPU per request, bare Koa/nodes: ${(b.cpuUsPerReq / n.cpuUsPerReq).toFixed(2)}x  same bytes/nodes: ${(s.cpuUsPerReq / n.cpuUsPerReq).toFixed(2)}x  bare Koa/whoami: ${(b.cpuUsPerReq / w.cpuUsPerReq).toFixed(2)}x  (the same ratios in CPU time, less sensitive to other load)`,
    );
    console.log(
      `control plane RSS with 100 nodes (node ${SERVE_FLAGS.join(' ')}, as npm start): idle after start ${idleBefore.toFixed(1)} MB, idle after load ${idleAfter.toFixed(1)} MB  (goal <= 120 MB)`,
    );
  } finally {
    cp.proc.kill();
    bare.proc.kill();
  }
  const dir = mkdtempSync(join(tmpdir(), 'pic-bench-start-'));
  try {
    const port = await freePort();
    const fresh = await startupMs(dir, port);
    const again = await startupMs(dir, port);
    console.log(
      `start-up to /readyz (pi-controller serve, new process): fresh data dir ${fresh.toFixed(0)} ms, existing data dir ${again.toFixed(0)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  // A clean exit on a signal (lets --cpu-prof write its profile).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(0));
  await child(process.argv[3]!);
} else await main();
