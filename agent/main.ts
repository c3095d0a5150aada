/**
 * `pi-controller agent`: enrol when needed, open the GPIO registers (or the behavioural model
 * with `sim`), and run the agent in the foreground until SIGINT/SIGTERM. Stopping leaves every
 * pin as it is. PWM and I2C go through backends.ts: the Pi's devices, or with `sim` register-page
 * files for PWM and virtual I2C buses carrying behavioural sensor models (`simI2cFile`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LogRing } from '../src/log/ring.js';
import { gpioWindowBytes, openChip, TimingEngine, type RegisterChip, type Level, type SocName } from '../src/hw/index.js';
import type { MdnsAdvertiser } from '../src/mdns/advertiser.js';
import { startAdvertising } from './advertise.js';
import { Agent } from './agent.js';
import { readSimI2c, realBackends, simBackends } from './backends.js';
import { engineEdgeSource, hasKernelGpio, kernelEdgeSource, type EdgeSource } from './edges.js';
import { enrol, loadCredentials } from './enrol.js';
import { AgentError } from './errors.js';
import { writeSimSysFixture } from './health.js';

export interface RunAgentOptions {
  stateDir: string;
  server?: string;
  joinToken?: string;
  sim: boolean;
  soc?: SocName | 'auto';
  /** /sys root for health (default '/', or a fixture tree in the state directory with `sim`). */
  healthRoot?: string;
  healthIntervalMs?: number;
  /** JSON file `{ "17": 0, ... }`: levels applied only on request (REST safe-state or `applySafeState`). */
  safeStateFile?: string;
  applySafeState?: boolean;
  /** With `sim`: JSON file of the simulated I2C devices (see backends.ts); default a BME280 and an ADS1115 on bus 1. */
  simI2cFile?: string;
  /** Expected node name (e.g. the DaemonSet's spec.nodeName); a mismatch with the certificate is an error. */
  nodeName?: string;
  /** Advertise `_pi-controller._tcp` over mDNS (default: on a Pi, not with `sim`). */
  advertise?: boolean;
  log: Logger;
  /** Where the agent's own log lines are kept for the control plane (`pi-controller logs <node>`). */
  logRing?: LogRing;
  version: string;
}

/** Starts the agent; resolves with it running (call `stop()` and `chip.close()` to end, and `advertiser.stop()` when there is one). */
export async function runAgent(o: RunAgentOptions): Promise<{ agent: Agent; chip: RegisterChip; advertiser?: MdnsAdvertiser }> {
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  let creds = loadCredentials(o.stateDir);
  const mustEnrol = !creds || (o.joinToken && o.server && creds.server !== new URL(o.server).origin);
  if (mustEnrol && (!o.server || !o.joinToken))
    throw new AgentError('NOT_ENROLLED', `not enrolled (no credentials in ${o.stateDir}): pass --server and --join-token`);
  // The hardware is opened first: a board that is not a Pi (EBOARD_UNKNOWN; off a Pi, --sim is
  // needed) or a GPIO device that cannot be opened fails before the one-time join token is spent.
  let chip: RegisterChip;
  let edges: EdgeSource | undefined;
  let healthRoot = o.healthRoot;
  let backends: ReturnType<typeof realBackends>;
  if (o.sim) {
    // The model's register page is a file in the state directory: a restarted agent finds the
    // registers as the previous run left them, as it would on a Pi.
    const page = join(o.stateDir, 'gpiomem.sim');
    const soc = o.soc && o.soc !== 'auto' ? o.soc : 'bcm2711';
    if (!existsSync(page)) writeFileSync(page, Buffer.alloc(gpioWindowBytes(soc)));
    chip = openChip({ soc, simulate: true, gpiomem: page });
    backends = simBackends(o.stateDir, chip.soc, page, o.simI2cFile ? readSimI2c(o.simI2cFile) : undefined);
    // Edges of the model's inputs: the timing thread polls the level register in the same page.
    edges = edgeSourceOr(o.log, () => engineEdgeSource(new TimingEngine({ soc: chip.soc, gpioPath: page })));
    if (!healthRoot) {
      healthRoot = join(o.stateDir, 'sim-root');
      writeSimSysFixture(healthRoot);
    }
  } else {
    chip = openChip({ soc: o.soc ?? 'auto' });
    backends = realBackends(chip.soc);
    // The kernel's edge events where the character device exists, else the polled level register.
    edges = edgeSourceOr(o.log, () => (hasKernelGpio() ? kernelEdgeSource() : engineEdgeSource(new TimingEngine({ soc: chip.soc }))));
  }
  try {
    if (mustEnrol) {
      creds = await enrol({ server: o.server!, token: o.joinToken!, stateDir: o.stateDir });
      o.log.info({ node: creds.node, server: creds.server }, 'enrolled; key and certificate stored 0600');
    }
    if (o.nodeName && o.nodeName !== creds!.node) {
      throw new AgentError('NODE_MISMATCH', `this node is ${o.nodeName} but the certificate in ${o.stateDir} is for ${creds!.node}`);
    }
  } catch (err) {
    edges?.close();
    chip.close();
    throw err;
  }
  const safeState = o.safeStateFile ? readSafeState(o.safeStateFile, chip.pinCount) : undefined;
  const agent = new Agent({
    stateDir: o.stateDir,
    chip,
    log: o.log,
    ...(o.logRing ? { logRing: o.logRing } : {}),
    version: o.version,
    procRoot: '/',
    ...(healthRoot ? { healthRoot } : {}),
    ...(o.healthIntervalMs ? { healthIntervalMs: o.healthIntervalMs } : {}),
    ...(safeState ? { safeState } : {}),
    pwm: backends.pwm,
    i2c: backends.i2c,
    ...(edges ? { edges } : {}),
  });
  agent.start();
  if (o.applySafeState) agent.applySafeState();
  o.log.info({ node: creds!.node, soc: chip.soc, simulated: chip.simulated }, 'agent running');
  const advertiser =
    (o.advertise ?? !o.sim)
      ? await startAdvertising({
          node: creds!.node,
          soc: chip.soc,
          simulated: chip.simulated,
          version: o.version,
          ...(o.healthRoot ? { root: o.healthRoot } : {}),
          log: o.log,
        })
      : undefined;
  return { agent, chip, ...(advertiser ? { advertiser } : {}) };
}

/** An edge source, or none (inputs are then sampled) when it cannot be opened here. */
function edgeSourceOr(log: Logger, make: () => EdgeSource): EdgeSource | undefined {
  try {
    return make();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'no edge source: inputs with edge detection are sampled once a second');
    return undefined;
  }
}

/** Reads and checks a safe-state file: `{ "<pin>": 0 | 1 }`, GPIO2 and up, within the SoC. */
export function readSafeState(file: string, pinCount: number): Record<string, Level> {
  const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const bad: string[] = [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad.push('the file must hold an object');
  else {
    for (const [k, level] of Object.entries(v)) {
      const pin = Number(k);
      if (!/^\d+$/.test(k) || pin < 2 || pin >= pinCount) bad.push(`${k}: not a pin in GPIO2-${pinCount - 1}`);
      if (level !== 0 && level !== 1) bad.push(`${k}: level must be 0 or 1`);
    }
  }
  if (bad.length) throw new AgentError('SAFE_STATE_INVALID', `invalid safe state in ${file}: ${bad.join('; ')}`);
  return v as Record<string, Level>;
}
