/**
 * The node agent: owns the pins of one node. On start it applies the desired state it kept on
 * disk (reading before writing, so a restart changes no level), then dials the control plane
 * over a mutual-TLS WebSocket and keeps dialling with exponential backoff and jitter. Desired
 * state comes down, is validated as a whole (a bad message is refused with a reason and writes
 * nothing), applied, persisted, and reported back with health and events.
 *
 * A snapshot is applied by one reconciler per kind, in this order: the claims of every kind are
 * checked first (gpio.ts), then PWM outputs are brought to the snapshot (pwm.ts; what it releases
 * may be a pin a GPIO item now takes), then GPIO pins, then I2C pollers (i2c.ts; the first read
 * of a new device is awaited, so a device that does not answer is reported at once). Snapshots
 * are applied one at a time, in the order they came. I2C readings go up as `applied` reports of
 * the same snapshot with fresh `actual.readings`, at most one every `readingsReportMs` (event
 * 'readings' for tests).
 */
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  AGENT_PATH,
  DOWN_SCHEMAS,
  PROTOCOL_VERSION,
  checkDesiredSpec,
  parseMessage,
  type AppliedItem,
  type DesiredItem,
  type DesiredMsg,
  type DesiredOf,
  type Health,
  type RenewedMsg,
  type WireDesiredItem,
} from '../src/api/agent.js';
import type { HwKind } from '../src/api/hardware.js';
import { Validator } from '../src/api/validate.js';
import type { Problem } from '../src/api/errors.js';
import type { GpioChip, Level } from '../src/hw/index.js';
import { FILES, loadCredentials, newKeyAndCsr, writeSecret, type Credentials } from './enrol.js';
import { GpioReconciler, type ApplyResult, type PinMemory } from './gpio.js';
import { PwmReconciler, type PwmBackends } from './pwm.js';
import { I2cReconciler, type I2cBuses } from './i2c.js';
import { EdgeWatcher, type EdgeSource } from './edges.js';
import { SnapshotFile } from './snapshot-file.js';
import { healthChanged, readHealth } from './health.js';

interface Snapshot {
  seq: number;
  items: DesiredItem[];
}

export interface AgentOptions {
  /** Where credentials, desired state and pin memory live (0700). */
  stateDir: string;
  chip: GpioChip;
  log: Logger;
  version: string;
  /** Health files root (/sys), and /proc root. */
  healthRoot?: string;
  procRoot?: string;
  /** Health report period (default 5000 ms); a change is reported at once. */
  healthIntervalMs?: number;
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

/** Events for tests and the CLI: 'connected', 'disconnected', 'applied' (items), 'refused' (reason, problems), 'renewed', 'edges' (a report sent). */
export class Agent extends EventEmitter {
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #validator = new Validator();
  readonly #gpio: GpioReconciler;
  readonly #pwm: PwmReconciler;
  readonly #i2c: I2cReconciler;
  /** Snapshots are applied one after another. */
  #chain: Promise<void> = Promise.resolve();
  /** The last applied report, re-sent with fresh readings. */
  #report: { seq: number; items: AppliedItem[] } | undefined;
  #readingsTimer: NodeJS.Timeout | undefined;
  #readingsSentAt = 0;
  #desired: Snapshot = { seq: 0, items: [] };
  /** Objects of the snapshot kept on disk whose spec no longer passes its schema: refused when it is applied. */
  #keptInvalid = new Map<string, AppliedItem>();
  /** Where the desired snapshot is kept (written in place: see snapshot-file.ts). */
  readonly #desiredFile: SnapshotFile;
  #creds: Credentials | undefined;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #deadTimer: NodeJS.Timeout | undefined;
  #lastHealth: Health | undefined;
  #lastHealthSent = 0;
  #pendingKey: string | undefined;
  #stopped = false;
  #lastLevels = new Map<number, Level>();
  readonly #edges: EdgeWatcher | undefined;

  constructor(opts: AgentOptions) {
    super();
    this.#o = opts;
    this.#log = opts.log;
    this.#desiredFile = new SnapshotFile(opts.stateDir, 'desired.json');
    if (opts.edges) {
      this.#edges = new EdgeWatcher({
        source: opts.edges,
        ...(opts.edgeReportMs ? { minIntervalMs: opts.edgeReportMs } : {}),
        send: (r) => {
          if (!this.connected) return false;
          this.#send({ v: PROTOCOL_VERSION, type: 'edges', ...r });
          this.emit('edges', r);
          return true;
        },
      });
    }
    const memFile = join(opts.stateDir, 'pins.json');
    const memory: PinMemory = existsSync(memFile) ? (JSON.parse(readFileSync(memFile, 'utf8')) as PinMemory) : { pulls: {} };
    this.#gpio = new GpioReconciler({ chip: opts.chip, memory });
    this.#pwm = new PwmReconciler({
      chip: opts.chip,
      ...(opts.pwm ? { backends: opts.pwm } : {}),
      pull: (pin, pull) => this.#gpio.setPull(pin, pull),
    });
    this.#i2c = new I2cReconciler({
      ...(opts.i2c ? { buses: opts.i2c } : {}),
      onChange: () => this.#readingsSoon(),
      ...(opts.decoderIntervalMs ? { decoderIntervalMs: opts.decoderIntervalMs } : {}),
    });
    const kept = this.#desiredFile.load();
    if (kept !== undefined) this.#loadKept(JSON.parse(kept) as { seq: number; items: WireDesiredItem[] });
  }

  /**
   * Takes the snapshot kept on disk. It was checked when it came, but a spec kept by an earlier
   * release may not pass this one's schema: such an object is refused with InvalidSpec when the
   * snapshot is applied (its pin stays as it was), the others are applied.
   */
  #loadKept(kept: { seq: number; items: WireDesiredItem[] }): void {
    const items: DesiredItem[] = [];
    for (const it of kept.items) {
      const problems: Problem[] = [];
      if (checkDesiredSpec(this.#validator, it, problems, '/spec')) items.push(it);
      else
        this.#keptInvalid.set(`${it.kind}/${it.name}`, {
          kind: it.kind,
          name: it.name,
          generation: it.generation,
          phase: 'Failed',
          reason: 'InvalidSpec',
          actual: { message: problems.map((p) => `${p.path}: ${p.message}`).join('; ') },
        });
    }
    this.#desired = { seq: kept.seq, items };
  }

  /** Whether the link is up. */
  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** The node name from the certificate (after enrolment). */
  get node(): string | undefined {
    return this.#creds?.node;
  }

  /** The desired snapshot the agent holds (from the control plane or from disk). */
  get desired(): readonly DesiredItem[] {
    return this.#desired.items;
  }

  /** The edge watcher's counters (edges seen, reports sent, events the source lost); null without an edge source. */
  get edgeStats(): Readonly<{ edges: number; reports: number; lost: number }> | null {
    return this.#edges ? { ...this.#edges.stats } : null;
  }

  /** Applies the kept desired state, then starts dialling. */
  start(): void {
    this.#stopped = false;
    this.#creds = loadCredentials(this.#o.stateDir);
    if (!this.#creds)
      throw Object.assign(new Error(`no credentials in ${this.#o.stateDir}: enrol first with --join-token`), { code: 'NOT_ENROLLED' });
    // GPIO and PWM are applied before this returns; I2C pollers start once their first read is in.
    this.#chain = this.#applyAll(this.#desired.items, this.#keptInvalid).then(
      (r) => {
        this.#saveMemory();
        this.#log.info({ items: r.items.length, changed: r.changed.length }, 'applied the desired state kept on disk');
      },
      (err: unknown) => this.#log.error({ err }, 'could not apply the desired state kept on disk'),
    );
    this.#lastLevels = this.#gpio.levels(this.#desired.items);
    this.#edges?.update(this.#desired.items);
    this.#dial();
    // Sampled every second (cheap file reads) so a change is reported at once; sent every period.
    this.#healthTimer = setInterval(() => this.#tick(), Math.min(1000, this.#o.healthIntervalMs ?? 5000));
    this.#healthTimer.unref();
  }

  /**
   * Closes the link and stops dialling; the pins stay as they are, hardware PWM keeps running.
   * Software PWM (its thread ends with the agent) stops at its idle level; I2C polling stops.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#readingsTimer);
    this.#readingsTimer = undefined;
    clearTimeout(this.#timer);
    clearInterval(this.#healthTimer);
    clearTimeout(this.#deadTimer);
    this.#edges?.stop();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((done) => {
        ws.once('close', () => done());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          done();
        }, 1000).unref();
      });
    }
    await this.#chain;
    this.#pwm.close();
    this.#i2c.close();
    this.#desiredFile.close();
  }

  /** Applies the configured safe state (only when asked: message `safe-state` or the CLI). */
  applySafeState(): void {
    const chip = this.#o.chip;
    for (const [p, level] of Object.entries(this.#o.safeState ?? {})) {
      const pin = Number(p);
      if (chip.getMode(pin) !== 'output') {
        chip.write(pin, level);
        chip.mode(pin, 'output');
      } else if (chip.read(pin) !== level) chip.write(pin, level);
    }
    this.#log.warn({ pins: Object.keys(this.#o.safeState ?? {}).length }, 'applied the safe state');
  }

  #dial(): void {
    if (this.#stopped || !this.#creds) return;
    const c = this.#creds;
    const url = c.server.replace(/^http/, 'ws') + AGENT_PATH;
    const ws = new WebSocket(url, { ca: c.ca, cert: c.cert, key: c.key, handshakeTimeout: 10_000, maxPayload: 1 << 20 });
    this.#ws = ws;
    ws.on('open', () => {
      this.#attempt = 0;
      this.#alive();
      this.#send({
        v: PROTOCOL_VERSION,
        type: 'hello',
        node: c.node,
        agentVersion: this.#o.version,
        soc: this.#o.chip.soc,
        simulated: this.#o.chip.simulated,
        pinCount: this.#o.chip.pinCount,
      });
      this.#reportHealth(true);
      this.#edges?.flush(); // counts kept while the link was down
      this.#maybeRenew();
      this.#log.info({ url }, 'connected to the control plane');
      this.emit('connected');
    });
    ws.on('ping', () => this.#alive());
    ws.on('message', (data: Buffer) => {
      this.#alive();
      this.#onMessage(data.toString('utf8'));
    });
    ws.on('unexpected-response', (_req, res) => {
      this.#log.warn({ status: res.statusCode }, 'the control plane refused the link');
      this.emit('rejected', res.statusCode);
      ws.terminate();
    });
    ws.on('error', (err) => this.#log.debug({ err: err.message }, 'link error'));
    ws.on('close', (code) => {
      clearTimeout(this.#deadTimer);
      if (this.#ws === ws) this.#ws = undefined;
      this.emit('disconnected', code);
      if (this.#stopped) return;
      // Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)].
      const b = this.#o.backoff ?? { baseMs: 250, maxMs: 30_000 };
      const delay = Math.random() * Math.min(b.maxMs, b.baseMs * 2 ** Math.min(this.#attempt++, 20));
      this.#timer = setTimeout(() => this.#dial(), delay);
    });
  }

  #alive(): void {
    clearTimeout(this.#deadTimer);
    const ws = this.#ws;
    this.#deadTimer = setTimeout(() => ws?.terminate(), this.#o.deadAfterMs ?? Math.max(15_000, 3 * (this.#o.healthIntervalMs ?? 5000)));
    this.#deadTimer.unref();
  }

  #send(msg: object): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #refuse(refType: string, seq: number | null, reason: string, message: string, problems: Problem[]): void {
    this.#log.warn({ refType, reason, problems: problems.length }, 'refused a message');
    this.emit('refused', { refType, seq, reason, problems });
    this.#send({
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
    const p = parseMessage<DesiredMsg | RenewedMsg | { type: 'safe-state' }>(this.#validator, DOWN_SCHEMAS, raw);
    if (!p.ok) return this.#refuse(p.type, p.seq, p.reason, p.message, p.problems);
    const msg = p.msg;
    if (msg.type === 'desired') return this.#onDesired(msg);
    if (msg.type === 'renewed') return this.#onRenewed(msg);
    if (msg.type === 'safe-state') return this.applySafeState();
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
    this.#keptInvalid.clear();
    this.#desiredFile.save(JSON.stringify(this.#desired));
    this.#chain = this.#chain
      .then(async () => {
        const r = await this.#applyAll(items);
        this.#saveMemory();
        this.#edges?.update(items);
        this.#report = { seq: msg.seq, items: r.items };
        // The applied report goes first: it is what the control plane waits for.
        this.#send({ v: PROTOCOL_VERSION, type: 'applied', seq: msg.seq, items: r.items });
        for (const c of r.changed) {
          this.#lastLevels.set(c.pin, c.value);
          this.#send({ v: PROTOCOL_VERSION, type: 'event', event: 'gpio.changed', pin: c.pin, value: c.value, name: c.name });
        }
        this.emit('applied', r.items);
      })
      .catch((err: unknown) => this.#log.error({ err }, 'could not apply a desired snapshot'));
  }

  /**
   * Applies a snapshot through every kind's reconciler (see the module comment for the order).
   * `invalid`: objects of the snapshot refused already (specs kept on disk that fail the schema).
   */
  async #applyAll(items: DesiredItem[], invalid: ReadonlyMap<string, AppliedItem> = new Map()): Promise<ApplyResult> {
    const refused = new Map([...invalid, ...this.#gpio.check(items)]);
    const accepted = <K extends HwKind>(kind: K) =>
      items.filter((it): it is DesiredOf<K> => it.kind === kind && !refused.has(`${kind}/${it.name}`));
    for (const [k, v] of this.#pwm.check(accepted('pwm'))) refused.set(k, v);
    for (const [k, v] of this.#i2c.check(accepted('i2c'))) refused.set(k, v);
    const pwm = this.#pwm.apply(accepted('pwm'));
    const gpio = this.#gpio.apply(items, refused);
    const i2c = await this.#i2c.apply(accepted('i2c'));
    const byKey = new Map([...refused.values(), ...pwm, ...gpio.items, ...i2c].map((it) => [`${it.kind}/${it.name}`, it]));
    return { items: [...items.map((it) => byKey.get(`${it.kind}/${it.name}`)!), ...invalid.values()], changed: gpio.changed };
  }

  /** A readings report soon: at once, or when `readingsReportMs` has passed since the last one. */
  #readingsSoon(): void {
    if (this.#readingsTimer || this.#stopped) return;
    const wait = Math.max(0, this.#readingsSentAt + (this.#o.readingsReportMs ?? 1000) - Date.now());
    this.#readingsTimer = setTimeout(() => {
      this.#readingsTimer = undefined;
      this.#sendReadings();
    }, wait);
    this.#readingsTimer.unref();
  }

  /** The last applied report again, with each polled device's current state and readings. */
  #sendReadings(): void {
    const rep = this.#report;
    if (!rep || !this.connected) return;
    const fresh = new Map(this.#i2c.reports().map((it) => [it.name, it]));
    const items = rep.items.map((it) => (it.kind === 'i2c' ? (fresh.get(it.name) ?? it) : it));
    this.#report = { seq: rep.seq, items };
    this.#readingsSentAt = Date.now();
    this.#send({ v: PROTOCOL_VERSION, type: 'applied', seq: rep.seq, items });
    this.emit(
      'readings',
      items.filter((it) => it.kind === 'i2c'),
    );
  }

  /** Writes the pin memory when it changed since the last write. */
  #saveMemory(): void {
    const text = JSON.stringify(this.#gpio.memory);
    if (text === this.#savedMemory) return;
    writeSecret(join(this.#o.stateDir, 'pins.json'), text);
    this.#savedMemory = text;
  }
  #savedMemory = '';

  /** Every sample: report health when due or changed, and any input level that changed since the last look. */
  #tick(): void {
    this.#reportHealth(false);
    for (const [pin, level] of this.#gpio.levels(this.#desired.items)) {
      if (this.#edges?.covers(pin)) continue; // its edges are counted and reported by the watcher
      const was = this.#lastLevels.get(pin);
      if (was === level) continue;
      this.#lastLevels.set(pin, level);
      const item = this.#desired.items.find((i): i is DesiredOf<'gpio'> => i.kind === 'gpio' && i.spec.pin === pin);
      const edge = item?.spec.mode === 'input' ? item.spec.edge : undefined;
      // An input that asks for edges but has no watcher (no edge source here): the sampled change
      // is its edge when it goes the way the spec asks. Anything else is a level change, not an edge.
      if (item && was !== undefined && (edge === 'both' || edge === (level ? 'rising' : 'falling'))) {
        const lastEdgeAt = new Date().toISOString();
        this.#send({ v: PROTOCOL_VERSION, type: 'edges', items: [{ pin, name: item.name, count: 1, level, lastEdgeAt }], lost: 0 });
      } else {
        this.#send({ v: PROTOCOL_VERSION, type: 'event', event: 'gpio.changed', pin, value: level, name: item?.name ?? null });
      }
    }
    this.#maybeRenew();
  }

  #reportHealth(force: boolean): void {
    const h = readHealth({
      agentVersion: this.#o.version,
      simulated: this.#o.chip.simulated,
      ...(this.#o.healthRoot ? { root: this.#o.healthRoot } : {}),
      ...(this.#o.procRoot ? { procRoot: this.#o.procRoot } : {}),
    });
    const changed = healthChanged(this.#lastHealth, h);
    this.#lastHealth = h;
    const now = Date.now();
    if (force || changed || now - this.#lastHealthSent >= (this.#o.healthIntervalMs ?? 5000)) {
      this.#lastHealthSent = now;
      this.#send({ v: PROTOCOL_VERSION, type: 'health', health: h });
    }
  }

  /** The current certificate's validity, ms. */
  #certWindow: { pem: string; from: number; to: number } | undefined;

  /** Asks for a new certificate when a third of the current one's lifetime is left (the link stays up). */
  #maybeRenew(): void {
    const c = this.#creds;
    if (!c || this.#pendingKey || !this.connected) return;
    // Parsed once per certificate, not on every tick.
    if (this.#certWindow?.pem !== c.cert) {
      const cert = new X509Certificate(c.cert);
      this.#certWindow = { pem: c.cert, from: Date.parse(cert.validFrom), to: Date.parse(cert.validTo) };
    }
    const { from, to } = this.#certWindow;
    if (to - Date.now() > (to - from) / 3) return;
    void newKeyAndCsr(c.node).then(({ keyPem, csr }) => {
      this.#pendingKey = keyPem;
      this.#send({ v: PROTOCOL_VERSION, type: 'renew', csr });
    });
  }

  #onRenewed(msg: RenewedMsg): void {
    const key = this.#pendingKey;
    if (!key || !this.#creds) return this.#refuse('renewed', null, 'NoRenewalPending', 'no renewal was asked for', []);
    this.#pendingKey = undefined;
    writeSecret(join(this.#o.stateDir, FILES.key), key);
    writeSecret(join(this.#o.stateDir, FILES.cert), msg.cert);
    this.#creds = { ...this.#creds, key, cert: msg.cert };
    this.#log.info('certificate renewed; the next connection uses it');
    this.emit('renewed');
  }
}
