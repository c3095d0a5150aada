/**
 * `npm run bench:agent`: the node agent's footprint and the latency of the agent link.
 *
 * - 10 real agent processes (`pi-controller agent --sim`, each over its own file-backed register
 *   page) enrol and connect to an agent endpoint on 127.0.0.1 with mutual TLS. Five run with
 *   Node's defaults, five with `--max-semi-space-size=1 --v8-pool-size=0` (what the systemd unit and DaemonSet use).
 * - RSS of each agent idle, and right after applying; baseline: an idle bare `node` process.
 * - Latency of 1000 pin changes across the 10 agents (100 rounds of one change per agent):
 *   from the control plane sending the desired snapshot to receiving the agent's applied report,
 *   which comes after the register write, so it bounds the change-to-write time from above.
 *   Baseline: the round trip of a same-sized message over a bare mutual-TLS WebSocket echo.
 * Measured on x86 against file-backed register pages (the behavioural model), not on a Pi.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { CertManager } from '../src/certs/index.js';
import { newKeyAndCsr } from '../agent/enrol.js';
import { EventBus } from '../src/events/bus.js';
import { silentLogger } from '../src/log/index.js';
import { AgentHub } from '../src/link/hub.js';
import { openStore } from '../src/store/index.js';

const AGENTS = 10;
/** Node flags of the systemd unit and DaemonSet: a 1 MB young generation, GC and compile tasks on the main thread. */
const SMALL = ['--max-semi-space-size=1', '--v8-pool-size=0'];
const ROUNDS = 100;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
const mb = (kb: number) => (kb / 1024).toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** Round trip of `size` bytes over a bare mutual-TLS WebSocket echo, `n` times (the baseline). */
async function echoBaseline(certs: CertManager, size: number, n: number): Promise<number[]> {
  const srv = await certs.issueServer(['127.0.0.1']);
  const server = createServer({ cert: srv.cert, key: srv.key, ca: certs.caCert, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // A client certificate for the echo: issued from a CSR like an agent's.
  const k = await newKeyAndCsr('echo');
  const cert = (await certs.issueAgent(k.csr, 'echo')).cert;
  const ws = new WebSocket(`wss://127.0.0.1:${(server.address() as AddressInfo).port}`, { ca: certs.caCert, cert, key: k.keyPem });
  await new Promise((r) => ws.once('open', r));
  const payload = 'x'.repeat(size);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    ws.send(payload);
    await new Promise((r) => ws.once('message', r));
    out.push(performance.now() - t0);
  }
  ws.close();
  wss.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  return out;
}

async function main(): Promise<void> {
  const load0 = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'pic-bench-agent-'));
  const children: ChildProcess[] = [];
  const store = openStore({ file: join(dir, 'state.sqlite') });
  const bus = new EventBus({ record: (type, data) => store.events.append(type, data) });
  const certs = await CertManager.open({ dir: join(dir, 'ca') });
  const hub = new AgentHub({ store, bus, certs, log: silentLogger() });
  const deadline = setTimeout(() => {
    console.error('bench:agent: over 180 s, giving up');
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  }, 180_000);
  try {
    const url = await hub.listen();
    // Baseline process: an idle bare node.
    const bare = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(bare);

    const nodes: { name: string; id: string; child: ChildProcess; small: boolean }[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const name = `bench-${i}`;
      const { token } = hub.createJoinToken(name);
      const small = i >= AGENTS / 2;
      const args = [
        ...(small ? SMALL : []),
        MAIN,
        'agent',
        '--server',
        url,
        '--join-token',
        token,
        '--state-dir',
        join(dir, name),
        '--sim',
        '--log-level',
        'warn',
      ];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      nodes.push({ name, id: store.nodes.require(name).id, child, small });
    }
    await until(() => nodes.every((n) => hub.status(n.id).connected), 60_000, 'agents connecting');
    // Enrolment loads the X.509 library; a restarted agent (the steady state on a Pi) does not.
    // Restart every agent from its state directory so idle RSS is that of a normal start.
    for (const n of nodes) {
      n.child.kill('SIGTERM');
      await new Promise((r) => n.child.once('exit', r));
      const args = [...(n.small ? SMALL : []), MAIN, 'agent', '--state-dir', join(dir, n.name), '--sim', '--log-level', 'warn'];
      n.child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(n.child);
    }
    await until(() => nodes.every((n) => hub.status(n.id).connected && hub.info(n.id).health !== null), 60_000, 'agents reconnecting');
    await sleep(3000);
    const idle = nodes.map((n) => rssKb(n.child.pid!));
    const bareKb = rssKb(bare.pid!);

    // 1000 pin changes: 100 rounds, one change per agent per round, all 10 in flight together.
    const lat: number[] = [];
    hub.onRoundTrip((ms) => lat.push(ms));
    let size = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const expected = lat.length + AGENTS;
      // The ten changes are stored in one transaction (as a batch of REST writes would be), then
      // sent: the clock starts at each send.
      store.tx(() => {
        for (const n of nodes) {
          const pin = 2 + (r % 26);
          const name = `p${pin}`;
          const spec = { pin, mode: 'output' as const, value: (Math.floor(r / 26) % 2) as 0 | 1 };
          const exists = store.hardware.list(n.id, 'gpio').some((o) => o.name === name);
          if (exists) store.hardware.replace(n.id, 'gpio', name, spec);
          else store.hardware.create(n.id, 'gpio', name, spec);
        }
      });
      for (const n of nodes) hub.pushDesired(n.id);
      await until(() => lat.length >= expected, 10_000, `round ${r}`);
      if (r === ROUNDS - 1)
        size = JSON.stringify({ v: 1, type: 'desired', seq: 1, items: store.hardware.list(nodes[0]!.id, 'gpio') }).length;
    }
    const busy = nodes.map((n) => rssKb(n.child.pid!));
    const base = await echoBaseline(certs, size, 1000);

    const def = (xs: number[]) => xs.slice(0, AGENTS / 2);
    const sm = (xs: number[]) => xs.slice(AGENTS / 2);
    const med = (xs: number[]) => pct(xs, 50);
    console.log(
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} (at the end; ${load0} at the start)`,
    );
    console.log('measured on x86-64 against file-backed register pages (behavioural model), loopback mTLS');
    console.log(`baseline idle bare node process RSS: ${mb(bareKb)} MB; small-heap flags: ${SMALL.join(' ')}`);
    console.log(
      `agent RSS idle, node defaults:            median ${mb(med(def(idle)))} MB, max ${mb(Math.max(...def(idle)))} MB (${(med(def(idle)) / bareKb).toFixed(2)}x bare node)`,
    );
    console.log(
      `agent RSS idle, small-heap flags:         median ${mb(med(sm(idle)))} MB, max ${mb(Math.max(...sm(idle)))} MB (${(med(sm(idle)) / bareKb).toFixed(2)}x bare node)`,
    );
    console.log(`agent RSS after applying, node defaults:  median ${mb(med(def(busy)))} MB, max ${mb(Math.max(...def(busy)))} MB`);
    console.log(
      `agent RSS after applying, small-heap:     median ${mb(med(sm(busy)))} MB, max ${mb(Math.max(...sm(busy)))} MB   (goal <= 60 MB)`,
    );
    console.log(
      `desired-state change -> applied report (after the register write), ${lat.length} changes across ${AGENTS} agents, 10 in flight:`,
    );
    console.log(
      `  p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms   (goal p99 <= 50 ms)`,
    );
    console.log(
      `baseline: bare mTLS WebSocket echo of ${size} bytes, one at a time: p50 ${pct(base, 50).toFixed(3)} ms, p99 ${pct(base, 99).toFixed(3)} ms`,
    );
    console.log(`ratio agent/echo: p50 ${(pct(lat, 50) / pct(base, 50)).toFixed(1)}x, p99 ${(pct(lat, 99) / pct(base, 99)).toFixed(1)}x`);
  } finally {
    clearTimeout(deadline);
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(300);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await hub.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
