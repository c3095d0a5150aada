/**
 * The node agent: owns the pins of one node. On start it applies the desired state it kept on
 * disk (reading before writing, so a restart changes no level), then dials the control plane and
 * keeps dialling (session.ts). Desired state comes down, is validated as a whole (a bad message
 * is refused with a reason and writes nothing), kept on disk (snapshot.ts), applied by one
 * reconciler per kind (apply.ts), and reported back with health (health.ts), sampled levels
 * (inputs.ts), edges (edges.ts) and I2C readings (readings.ts). Snapshots are applied one at a
 * time, in the order they came. The certificate is renewed over the link (renewal.ts).
 *
 * This file puts those parts together and dispatches the control plane's messages.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { LogRing } from '../src/log/ring.js';
import {
  DOWN_SCHEMAS,
  PROTOCOL_VERSION,
  checkDesiredSpec,
  parseMessage,
  type AppliedItem,
  type DesiredItem,
  type DesiredMsg,
  type RenewedMsg,
  type LogsMsg,
} from '../src/api/agent.js';
import { Validator } from '../src/api/validate.js';
import type { Problem } from '../src/api/errors.js';
import type { RegisterChip, Level } from '../src/hw/index.js';
import { loadCredentials } from './enrol.js';
import { driveSafeState } from './gpio.js';
import type { PwmBackends } from './pwm.js';
import type { I2cBuses } from './i2c.js';
import { EdgeWatcher, type EdgeReport, type EdgeSource } from './edges.js';
import { Reconcilers } from './apply.js';
import { DesiredStore, type Snapshot } from './snapshot.js';
import { HealthReporter } from './health.js';
import { LevelSampler } from './inputs.js';
import { ReadingsReporter } from './readings.js';
import { Renewal } from './renewal.js';
import { Session, type Dialler } from './session.js';
import { AgentError } from './errors.js';

export interface AgentOptions {
  /** Where credentials, desired state and pin memory live (0700). */
  stateDir: string;
  chip: RegisterChip;
  log: Logger;
  /** The agent's own recent log lines, returned to the control plane when it asks (`logs`). */
  logRing?: LogRing;
  version: string;
  /** Health files root (/sys), and /proc root. */
  healthRoot?: string;
  procRoot?: string;
  /** Health report period (default 5000 ms); a change is reported at once. */
  healthIntervalMs?: number;
  /** Opens the link to the control plane (default: a mutual-TLS WebSocket, session.ts). */
  dial?: Dialler;
  /** Reconnect backoff: first delay and cap (default 250 ms, 30 s); full jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** Without a message or ping from the server for this long, the link is dropped (default 15 s, or 3 health periods if longer; the server pings every 5 s). */
  deadAfterMs?: number;
  /** Pin levels the `safe-state` message applies (outputs). Never applied unless asked. */
  safeState?: Record<string, Level>;
  /** Hardware and software PWM (each opened on first use); without it PWM objects fail with NoPwmAccess. */
  pwm?: PwmBackends;
  /** I2C buses; without them I2C objects fail with HardwareError. */
  i2c?: I2cBuses;
  /** Least time between two I2C readings reports (default 1000 ms). */
  readingsReportMs?: number;
  /** How often an I2C decoder measures (default 1000 ms). */
  decoderIntervalMs?: number;
  /**
   * Where edges of inputs with `edge` set come from (see edges.ts); without one such inputs are
   * sampled like the others. The agent ends its watch on stop; closing the source is the caller's.
   */
  edges?: EdgeSource;
  /** Least time between two edge reports, ms (default 100: at most 10 a second). */
  edgeReportMs?: number;
}

/** A message refused by the agent, as the `refused` event gives it. */
export interface Refusal {
  refType: string;
  seq: number | null;
  reason: string;
  problems: Problem[];
}

/** What an Agent emits (for tests and the CLI), with each event's arguments. */
export interface AgentEvents {
  /** The link is up (hello sent). */
  connected: [];
  /** The link closed, with the WebSocket close code; the agent dials again unless stopped. */
  disconnected: [code: number];
  /** The control plane answered the upgrade with this HTTP status instead of a link. */
  rejected: [status: number | undefined];
  /** A desired snapshot was applied; the report sent for it. */
  applied: [items: AppliedItem[]];
  /** A message was refused (and a `refused` message sent). */
  refused: [refusal: Refusal];
  /** A renewed certificate was stored. */
  renewed: [];
  /** An edge report was sent. */
  edges: [report: EdgeReport];
  /** A readings report was sent; its I2C items. */
  readings: [items: AppliedItem[]];
}

/** See the module comment. */
export class Agent extends EventEmitter<AgentEvents> {
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #validator = new Validator();
  readonly #reconcilers: Reconcilers;
  readonly #store: DesiredStore;
  readonly #session: Session;
  readonly #health: HealthReporter;
  readonly #sampler: LevelSampler;
  readonly #readings: ReadingsReporter;
  readonly #edges: EdgeWatcher | undefined;
  #renewal: Renewal | undefined;
  /** Snapshots are applied one after another. */
  #chain: Promise<void> = Promise.resolve();
  #desired: Snapshot;
  /** Objects of the snapshot kept on disk whose spec fails the schema: refused when it is applied at start. */
  #keptInvalid: Map<string, AppliedItem>;
  #tickTimer: NodeJS.Timeout | undefined;

  constructor(opts: AgentOptions) {
    super();
    this.#o = opts;
    this.#log = opts.log;
    const healthIntervalMs = opts.healthIntervalMs ?? 5000;
    this.#session = new Session({
      credentials: () => this.#renewal!.credentials,
      log: opts.log,
      ...(opts.dial ? { dial: opts.dial } : {}),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      deadAfterMs: opts.deadAfterMs ?? Math.max(15_000, 3 * healthIntervalMs),
    });
    this.#session.on('open', () => this.#onOpen());
    this.#session.on('message', (text) => this.#onMessage(text));
    this.#session.on('rejected', (status) => this.emit('rejected', status));
    this.#session.on('close', (code) => this.emit('disconnected', code));
    if (opts.edges) {
      this.#edges = new EdgeWatcher({
        source: opts.edges,
        ...(opts.edgeReportMs ? { minIntervalMs: opts.edgeReportMs } : {}),
        send: (r) => {
          if (!this.connected) return false;
          this.#session.send({ v: PROTOCOL_VERSION, type: 'edges', ...r });
          this.emit('edges', r);
          return true;
        },
      });
    }
    this.#readings = new ReadingsReporter({
      ...(opts.readingsReportMs ? { minIntervalMs: opts.readingsReportMs } : {}),
      connected: () => this.connected,
      fresh: () => this.#reconcilers.readings(),
      send: (seq, items) => {
        this.#session.send({ v: PROTOCOL_VERSION, type: 'applied', seq, items });
        this.emit(
          'readings',
          items.filter((it) => it.kind === 'i2c'),
        );
      },
    });
    this.#reconcilers = new Reconcilers({
      chip: opts.chip,
      stateDir: opts.stateDir,
      ...(opts.pwm ? { pwm: opts.pwm } : {}),
      ...(opts.i2c ? { i2c: opts.i2c } : {}),
      ...(opts.decoderIntervalMs ? { decoderIntervalMs: opts.decoderIntervalMs } : {}),
      onReadings: () => this.#readings.soon(),
    });
    this.#health = new HealthReporter({
      agentVersion: opts.version,
      simulated: opts.chip.simulated,
      intervalMs: healthIntervalMs,
      ...(opts.healthRoot ? { root: opts.healthRoot } : {}),
      ...(opts.procRoot ? { procRoot: opts.procRoot } : {}),
      send: (health) => this.#session.send({ v: PROTOCOL_VERSION, type: 'health', health }),
    });
    this.#sampler = new LevelSampler({
      covered: (pin) => this.#edges?.covers(pin) === true,
      send: (msg) => this.#session.send(msg),
    });
    this.#store = new DesiredStore(opts.stateDir, this.#validator);
    const kept = this.#store.load();
    this.#desired = kept.snapshot;
    this.#keptInvalid = kept.invalid;
  }

  /** Whether the link is up. */
  get connected(): boolean {
    return this.#session.connected;
  }

  /** The node name from the certificate (after enrolment). */
  get node(): string | undefined {
    return this.#renewal?.credentials.node;
  }

  /** The desired snapshot the agent holds (from the control plane or from disk). */
  get desired(): readonly DesiredItem[] {
    return this.#desired.items;
  }

  /** The edge watcher's counters (edges seen, reports sent, events the source lost); null without an edge source. */
  get edgeStats(): Readonly<{ edges: number; reports: number; lost: number }> | null {
    return this.#edges ? { ...this.#edges.stats } : null;
  }

  /**
   * Applies the kept desired state, then starts dialling.
   * @throws AgentError NOT_ENROLLED when the state directory holds no credentials
   */
  start(): void {
    const credentials = loadCredentials(this.#o.stateDir);
    if (!credentials) throw new AgentError('NOT_ENROLLED', `no credentials in ${this.#o.stateDir}: enrol first with --join-token`);
    this.#renewal = new Renewal({ stateDir: this.#o.stateDir, credentials });
    this.#readings.start();
    // GPIO and PWM are applied before this returns; I2C pollers start once their first read is in.
    this.#chain = this.#reconcilers.apply(this.#desired.items, this.#keptInvalid).then(
      (r) => this.#log.info({ items: r.items.length, changed: r.changed.length }, 'applied the desired state kept on disk'),
      (err: unknown) => this.#log.error({ err }, 'could not apply the desired state kept on disk'),
    );
    this.#sampler.reset(this.#reconcilers.levels(this.#desired.items));
    this.#edges?.update(this.#desired.items);
    this.#session.start();
    // Sampled every second (cheap file reads) so a change is reported at once; sent every period.
    this.#tickTimer = setInterval(() => this.#tick(), Math.min(1000, this.#o.healthIntervalMs ?? 5000));
    this.#tickTimer.unref();
  }

  /**
   * Closes the link and stops dialling; the pins stay as they are, hardware PWM keeps running.
   * Software PWM (its thread ends with the agent) stops at its idle level; I2C polling stops.
   */
  async stop(): Promise<void> {
    this.#readings.stop();
    clearInterval(this.#tickTimer);
    this.#edges?.stop();
    await this.#session.stop();
    await this.#chain;
    this.#reconcilers.close();
    this.#store.close();
  }

  /** Applies the configured safe state (only when asked: message `safe-state` or the CLI). */
  applySafeState(): void {
    const levels = this.#o.safeState ?? {};
    driveSafeState(this.#o.chip, levels);
    this.#log.warn({ pins: Object.keys(levels).length }, 'applied the safe state');
  }

  #onOpen(): void {
    const chip = this.#o.chip;
    this.#session.send({
      v: PROTOCOL_VERSION,
      type: 'hello',
      node: this.#renewal!.credentials.node,
      agentVersion: this.#o.version,
      soc: chip.soc,
      simulated: chip.simulated,
      pinCount: chip.pinCount,
      // Only what detection read on a real board: the behavioural model has none to report.
      ...(chip.board?.model ? { model: chip.board.model } : {}),
    });
    this.#health.sample(true);
    this.#edges?.flush(); // counts kept while the link was down
    this.#maybeRenew();
    this.emit('connected');
  }

  #refuse(refType: string, seq: number | null, reason: string, message: string, problems: Problem[]): void {
    this.#log.warn({ refType, reason, problems: problems.length }, 'refused a message');
    this.emit('refused', { refType, seq, reason, problems });
    this.#session.send({
      v: PROTOCOL_VERSION,
      type: 'refused',
      refType,
      seq,
      reason,
      message: message.slice(0, 4096),
      problems: problems.slice(0, 100),
    });
  }

  #onMessage(raw: string): void {
    const p = parseMessage<DesiredMsg | RenewedMsg | LogsMsg | { type: 'safe-state' }>(this.#validator, DOWN_SCHEMAS, raw);
    if (!p.ok) return this.#refuse(p.type, p.seq, p.reason, p.message, p.problems);
    const msg = p.msg;
    if (msg.type === 'desired') return this.#onDesired(msg);
    if (msg.type === 'renewed') return this.#onRenewed(msg);
    if (msg.type === 'safe-state') return this.applySafeState();
    if (msg.type === 'logs') return this.#onLogs(msg);
  }

  /** Sends the asked-for lines of the log ring (none without one), within the link's message size. */
  #onLogs(msg: LogsMsg): void {
    const r = this.#o.logRing?.since(msg.after, msg.limit) ?? { lines: [], first: 0, last: 0 };
    let bytes = 0;
    const lines = r.lines.filter((l) => (bytes += l.line.length + 32) < 512 * 1024);
    this.#session.send({ v: PROTOCOL_VERSION, type: 'log-lines', id: msg.id, lines, first: r.first, last: r.last });
  }

  #onDesired(msg: DesiredMsg): void {
    // The whole snapshot is checked before anything is applied: one bad spec refuses the message.
    const problems: Problem[] = [];
    const items: DesiredItem[] = [];
    msg.items.forEach((it, i) => {
      if (checkDesiredSpec(this.#validator, it, problems, `/items/${i}/spec`)) items.push(it);
    });
    if (problems.length)
      return this.#refuse('desired', msg.seq, 'InvalidSpec', 'desired state has invalid specs; nothing was applied', problems);
    // Kept on disk before it is applied: an agent that dies between the two re-applies this
    // snapshot on restart rather than an older one that would move the pins back.
    this.#desired = { seq: msg.seq, items };
    this.#keptInvalid = new Map();
    this.#store.save(this.#desired);
    this.#chain = this.#chain
      .then(async () => {
        const r = await this.#reconcilers.apply(items);
        this.#edges?.update(items);
        this.#readings.applied(msg.seq, r.items);
        // The applied report goes first: it is what the control plane waits for.
        this.#session.send({ v: PROTOCOL_VERSION, type: 'applied', seq: msg.seq, items: r.items });
        for (const c of r.changed) {
          this.#sampler.known(c.pin, c.value);
          this.#session.send({ v: PROTOCOL_VERSION, type: 'event', event: 'gpio.changed', pin: c.pin, value: c.value, name: c.name });
        }
        this.emit('applied', r.items);
      })
      .catch((err: unknown) => this.#log.error({ err }, 'could not apply a desired snapshot'));
  }

  /** Every sample: health when due or changed, input levels that changed, renewal when due. */
  #tick(): void {
    this.#health.sample(false);
    this.#sampler.sample(this.#desired.items, this.#reconcilers.levels(this.#desired.items));
    this.#maybeRenew();
  }

  /** Asks for a new certificate when a third of the current one's lifetime is left (the link stays up). */
  #maybeRenew(): void {
    if (!this.connected) return;
    this.#renewal?.maybeRenew((csr) => this.#session.send({ v: PROTOCOL_VERSION, type: 'renew', csr }));
  }

  #onRenewed(msg: RenewedMsg): void {
    if (!this.#renewal?.accept(msg.cert)) return this.#refuse('renewed', null, 'NoRenewalPending', 'no renewal was asked for', []);
    this.#log.info('certificate renewed; the next connection uses it');
    this.emit('renewed');
  }
}
