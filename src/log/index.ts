/**
 * Logging: one pino logger per process, one child per component (`component` field), with
 * per-component levels. JSON by default; human-readable when writing to a TTY (or when asked).
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';

/** pino-pretty is loaded only when output is pretty: a daemon writing JSON (the agent under systemd) never pays for it. */
const loadPretty = (): typeof PinoPretty => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export type { Logger };
import type { LogRing } from './ring.js';
export { LogRing, type RingLine } from './ring.js';
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LogOptions {
  level?: LevelWithSilent;
  format?: LogFormat;
  /** Per-component levels, e.g. `{ http: 'warn', store: 'debug' }`. */
  components?: Record<string, LevelWithSilent>;
  /** Where to write (default: stdout). */
  destination?: DestinationStream;
  /** Also keep the last lines (JSON, before any pretty printing) in this ring. */
  ring?: LogRing;
  /** Whether the destination is a terminal (default: process.stdout.isTTY). */
  isTTY?: boolean;
}

/** A root logger plus a factory for component loggers that honour per-component levels. */
export interface Logging {
  root: Logger;
  child(component: string): Logger;
}

export function createLogging(opts: LogOptions = {}): Logging {
  const format = opts.format ?? 'auto';
  const usePretty = format === 'pretty' || (format === 'auto' && (opts.isTTY ?? process.stdout.isTTY === true));
  const dest: DestinationStream = usePretty
    ? loadPretty()({
        colorize: opts.isTTY ?? process.stdout.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        destination: opts.destination ?? 1,
        sync: true,
      })
    : (opts.destination ?? pino.destination({ dest: 1, sync: true }));
  const out = opts.ring ? opts.ring.tee(dest) : dest;
  const levels = opts.components ?? {};
  // The root level must admit the most verbose component level.
  const order: LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const base = opts.level ?? 'info';
  const lowest = [base, ...Object.values(levels)].sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
  const root = pino({ level: lowest, base: { pid: process.pid } }, out);
  return {
    root,
    child(component: string) {
      const c = root.child({ component });
      c.level = levels[component] ?? base;
      return c;
    },
  };
}

/** A logger that discards everything (tests, library use without logging). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
