/**
 * Test rig for the agent link: the real control plane app (createApp, temporary SQLite) with the
 * agent hub on a real mutual-TLS listener on 127.0.0.1, certificates from our own cert manager,
 * and agents over the behavioural GPIO model whose register page is a file (so a restarted agent
 * finds the registers as a real Pi would), with the agent's simulated PWM (register-page files)
 * and I2C (virtual buses with behavioural sensor models). The silicon is the only thing simulated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { CertManager } from '../../src/certs/index.js';
import type { AppliedItem } from '../../src/api/agent.js';
import { recordingBus, type EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { AgentHub } from '../../src/link/hub.js';
import { gpioWindowBytes, openChip, type RegisterChip, type SocName, type TimingEngine } from '../../src/hw/index.js';
import type { HardwarePwm } from '../../src/hw/pwm.js';
import type { VirtualI2cDevice } from '../../src/hw/devices/register-bus.js';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import { simBackends } from '../../agent/backends.js';
import { enrol } from '../../agent/enrol.js';
import { startServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';

type T = { teardown(fn: () => void | Promise<void>): void };

export interface Rig {
  srv: TestServer;
  hub: AgentHub;
  certs: CertManager;
  certDir: string;
  bus: EventBus;
}

/** Starts the control plane with an agent hub. `certDir` reuses a CA (control plane restart). */
export async function startRig(
  t: T,
  opts: { certDir?: string; port?: number; heartbeatMs?: number; certsNow?: () => number; webRoot?: string } = {},
): Promise<Rig> {
  const certDir = opts.certDir ?? tempDir(t, 'pic-ca-');
  const certs = await CertManager.open({ dir: certDir, ...(opts.certsNow ? { now: opts.certsNow } : {}) });
  let hub: AgentHub | undefined;
  const srv = await startServer(t, (store) => {
    // The control plane's bus (events recorded in the store), given to the hub and the app, as in `serve`.
    const bus = recordingBus(store, silentLogger());
    hub = new AgentHub({
      store,
      bus,
      certs,
      log: silentLogger(),
      ...(opts.port ? { port: opts.port } : {}),
      heartbeatMs: opts.heartbeatMs ?? 1000,
    });
    return { bus, agents: hub, ...(opts.webRoot ? { webRoot: opts.webRoot } : {}) };
  });
  await hub!.listen();
  t.teardown(() => hub!.close());
  return { srv, hub: hub!, certs, certDir, bus: srv.app.bus };
}

export interface TestAgent {
  agent: Agent;
  chip: RegisterChip;
  stateDir: string;
  page: string;
  /** The agent's hardware PWM once it opened it (register trace on). */
  pwm(): HardwarePwm | undefined;
  /** The agent's software PWM timing engine once it opened it. */
  engine(): TimingEngine | undefined;
  /** The simulated I2C devices by `bus:address` (default: BME280 at 1:118, ADS1115 at 1:72). */
  sensors: Map<string, VirtualI2cDevice>;
}

/** A simulated chip over a page file (created zeroed when absent), with the register trace on. */
export function simChip(page: string, create: boolean, soc: SocName = 'bcm2711'): RegisterChip {
  if (create) writeFileSync(page, Buffer.alloc(gpioWindowBytes(soc)));
  return openChip({ soc, simulate: true, gpiomem: page, trace: true });
}

/** Enrols `node` with a join token into `stateDir` (default: a fresh temporary directory). */
export async function enrolNode(
  t: T,
  rig: Rig,
  node: string,
  stateDir = tempDir(t, 'pic-agent-'),
): Promise<{ stateDir: string; nodeId: string }> {
  const { token } = rig.hub.createJoinToken(node);
  await enrol({ server: rig.hub.url, token, stateDir });
  return { stateDir, nodeId: rig.srv.store.nodes.require(node).id };
}

/**
 * Enrols a new agent for `node` and starts it (unless `start: false`); resolves once the agent
 * has reported on the first desired snapshot the control plane sends after hello.
 */
export async function newAgent(
  t: T,
  rig: Rig,
  node: string,
  opts: { start?: boolean; stateDir?: string; agent?: Partial<AgentOptions>; soc?: SocName } = {},
): Promise<TestAgent> {
  const { stateDir } = await enrolNode(t, rig, node, opts.stateDir);
  const a = startAgent(t, stateDir, true, false, opts.agent, opts.soc);
  if (opts.start ?? true) {
    const first = nextApplied(a.agent);
    a.agent.start();
    await first;
  }
  return a;
}

/** Starts an agent from an enrolled state directory (a restart when `fresh` is false). */
export function startAgent(
  t: T,
  stateDir: string,
  fresh: boolean,
  start = true,
  extra: Partial<AgentOptions> = {},
  soc: SocName = 'bcm2711',
): TestAgent {
  const page = join(stateDir, 'gpiomem.sim');
  const chip = simChip(page, fresh, soc);
  const sim = simBackends(stateDir, chip.soc, page, undefined, { trace: true });
  let hw: HardwarePwm | undefined;
  let engine: TimingEngine | undefined;
  const pwm = { ...sim.pwm, openHardware: () => (hw = sim.pwm.openHardware!()), openEngine: () => (engine = sim.pwm.openEngine!()) };
  const agent = new Agent({
    stateDir,
    chip,
    log: silentLogger(),
    version: 'test',
    healthIntervalMs: 500,
    backoff: { baseMs: 50, maxMs: 400 },
    pwm,
    i2c: sim.i2c,
    ...extra,
  });
  t.teardown(async () => {
    await agent.stop();
    chip.close();
  });
  if (start) agent.start();
  return { agent, chip, stateDir, page, pwm: () => hw, engine: () => engine, sensors: sim.i2c.devices };
}

/**
 * A real agent process: `pi-controller agent ...args` with `--log-level warn`, its stderr kept
 * (for failure messages), killed at teardown if still running.
 */
export function spawnAgent(t: T, args: string[]): { child: ChildProcess; stderr: () => string } {
  let err = '';
  const child = spawn(process.execPath, [join(repoRoot(), 'dist/src/cli/main.js'), 'agent', ...args, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  t.teardown(() => void child.kill('SIGKILL'));
  return { child, stderr: () => err };
}

/** Resolves with the next `applied` report of an agent (bounded: rejects after `ms`). */
export async function nextApplied(agent: Agent, ms = 5000): Promise<AppliedItem[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    const [items] = (await once(agent, 'applied', { signal: ac.signal })) as [AppliedItem[]];
    return items;
  } finally {
    clearTimeout(timer);
  }
}

/** Sends the node's stored desired state to its agent; resolves with the agent's next report. */
export function pushDesired(rig: Rig, agent: Agent, nodeId: string): Promise<AppliedItem[]> {
  const applied = nextApplied(agent);
  rig.hub.pushDesired(nodeId);
  return applied;
}

/** Waits until `cond()` holds, polling every 10 ms, for at most `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  if (!(await waitFor(cond, ms, 10))) throw new Error('condition not met in time');
}
