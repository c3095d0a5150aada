/** What every page gets from the shell: the client, who is signed in, and the event stream. */
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { Client, EventEnvelope, Whoami } from './api.js';

export interface Shared {
  client: Client;
  me: Whoami;
  /** The latest events (newest first, at most 50) since this tab signed in. */
  recent: EventEnvelope[];
  /** Calls `fn` for every event from now on; returns the unsubscribe function. */
  subscribe(fn: (e: EventEnvelope) => void): () => void;
  /** Reports a failed request (a 401 signs out). */
  failed(err: unknown): void;
}

export const Ctx = createContext<Shared>(null as unknown as Shared);
export const useShared = (): Shared => useContext(Ctx);

/**
 * Loads with `load()` now (unless `initial()` has the data already), and again (at most every 250 ms) after each event `relevant` picks:
 * pages stay current from the event stream without a reload.
 */
export function useLive<T>(
  load: () => Promise<T>,
  relevant: (e: EventEnvelope) => boolean,
  initial?: () => T | undefined,
): { data: T | undefined; error: string | null; reload: () => void } {
  const { subscribe, failed } = useShared();
  // Data that is already here (a primed answer): shown in the first render, not loaded again.
  const [data, setData] = useState<T | undefined>(() => initial?.());
  const [error, setError] = useState<string | null>(null);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const relRef = useRef(relevant);
  relRef.current = relevant;
  const runRef = useRef<() => void>(() => undefined);
  useEffect(() => {
    let alive = true;
    const run = () =>
      loadRef.current().then(
        (d) => {
          if (!alive) return;
          setData(d);
          setError(null);
        },
        (err: unknown) => {
          if (!alive) return;
          failed(err);
          setError(err instanceof Error ? err.message : String(err));
        },
      );
    runRef.current = () => void run();
    if (data === undefined) void run();
    const off = subscribe((e) => {
      if (!relRef.current(e) || pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = undefined;
        void run();
      }, 250);
    });
    return () => {
      alive = false;
      off();
      clearTimeout(pending.current);
    };
  }, []);
  return { data, error, reload: () => runRef.current() };
}

/**
 * Marks (User Timing, once per page load) the first time a page showed what it is for; Preact runs
 * effects after the browser painted, so the mark is the paint. `npm run bench:ui` reads them.
 */
export function useShownMark(name: string, shown: boolean): void {
  useEffect(() => {
    if (shown && performance.getEntriesByName(name).length === 0) performance.mark(name);
  }, [shown]);
}

/** "3 s ago", "5 min ago". */
export function ago(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** One line describing an event, for the recent-events list. */
export function describe(e: EventEnvelope): string {
  const d = e.data as unknown as Record<string, unknown>;
  switch (e.type) {
    case 'gpio.changed':
      return `${String(d.node)}: GPIO${String(d.pin)} is ${d.value ? 'high' : 'low'}${d.edges ? ` (${String(d.edges)} edges)` : ''}`;
    case 'hw.applied':
      return `${String(d.node)}: ${String(d.kind)}/${String(d.name)} ${String(d.phase)} (${String(d.reason)})`;
    case 'hw.changed':
      return `${String(d.kind)}/${String(d.name)} ${d.deleted ? 'deleted' : `changed (generation ${String(d.generation)})`}`;
    case 'agent.connected':
      return `${String(d.node)}: agent connected${d.simulated ? ' (simulated)' : ''}`;
    case 'agent.disconnected':
      return `${String(d.node)}: agent disconnected`;
    case 'i2c.reading':
      return `${String(d.node)}: new readings from ${String(d.name)}`;
    case 'node.created':
    case 'node.updated':
    case 'node.deleted':
      return `node ${String(d.name)} ${e.type.slice(5)}`;
    case 'discovery.found':
    case 'discovery.updated':
      return `discovery: ${String(d.hostname ?? d.address ?? d.id)} ${e.type.slice(10)}`;
    default:
      return e.type;
  }
}

export type { Whoami };

/** A refused or failed request as one line: the API's code and message, and for a refused body the fields and why (at most three). */
export function errorText(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && err instanceof Error) {
    const problems = (err as { problems?: { path?: string; message?: string }[] }).problems;
    const why =
      Array.isArray(problems) && problems.length
        ? ` (${problems
            .slice(0, 3)
            .map((p) => `${p.path ?? ''} ${p.message ?? ''}`.trim())
            .join('; ')})`
        : '';
    return `${String(err.code)}: ${err.message}${why}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one change at a time for a form or button: `busy` while it runs, then `said` (what
 * happened, for a status line) or `error` (why not, for an alert). A 401 signs out.
 */
export function useAction(): {
  busy: boolean;
  said: string | null;
  error: string | null;
  run: (fn: () => Promise<string>) => Promise<boolean>;
} {
  const { failed } = useShared();
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (fn: () => Promise<string>) => {
    setBusy(true);
    setSaid(null);
    setError(null);
    try {
      setSaid(await fn());
      return true;
    } catch (err) {
      failed(err);
      setError(errorText(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, said, error, run };
}

/** A byte count for people: "812 B", "4.2 KiB", "1.3 MiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A timestamp as local date and time, or a dash. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}
