/**
 * The UI's only ways out: REST under /api/v1 with the signed-in token as a bearer header, and the
 * WebSocket event stream with the token offered as a subprotocol (never in a URL). The types are
 * the server's own (type-only imports from src/api: nothing of the server is bundled).
 */
import type { Node } from '../src/api/nodes.js';
import type { AgentInfo } from '../src/api/agent.js';
import type { EventEnvelope } from '../src/api/events.js';
import type { HwKind, HwObject } from '../src/api/hardware.js';
import type { Role } from '../src/api/tokens.js';

export type { Node, AgentInfo, EventEnvelope, HwKind, HwObject, Role };

export const API = '/api/v1';
const TOKEN_KEY = 'pi-controller.token';
const ME_KEY = 'pi-controller.me';

/** A refused request: the HTTP status and the API's machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The API's `details` (what was refused and why), when it gave any. */
    readonly details?: unknown,
    /** For a refused body or query: each field and why. */
    readonly problems?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

export interface Whoami {
  id: string;
  name: string;
  role: Role;
}

export interface List<T> {
  items: T[];
  total: number;
}

/**
 * The token for this browser tab (sessionStorage: gone when the tab closes, never in a URL), and
 * who it is (a token's name and role never change, so a reload can show the pages at once while
 * the token is checked again).
 */
export const session = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  me: (): Whoami | null => {
    try {
      return JSON.parse(sessionStorage.getItem(ME_KEY) ?? 'null') as Whoami | null;
    } catch {
      return null;
    }
  },
  set: (token: string, me: Whoami): void => {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(ME_KEY, JSON.stringify(me));
  },
  clear: (): void => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ME_KEY);
  },
};

/**
 * GETs started before the first render (`Client.prime`), each handed out once to the first
 * `get` of the same path: a returning user's page asks for its data while the page is still being
 * built and painted, instead of after (the effects that load data run only after the first paint).
 */
const primed = new Map<string, { p: Promise<unknown>; at: number; value?: { v: unknown } }>();
/** A primed answer older than this is not handed out (the page was left before it asked). */
const PRIMED_MS = 5000;

/** A body as JSON; undefined when empty or not JSON. */
function parse(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** A refused response as an ApiError: the API's code, message, details and fields when its body says them. */
async function refusal(r: Response): Promise<ApiError> {
  const text = await r.text();
  const e = (
    parse(text) as
      { error?: { code?: string; message?: string; details?: unknown; problems?: { path: string; message: string }[] } } | undefined
  )?.error;
  return new ApiError(r.status, e?.code ?? `HTTP_${r.status}`, e?.message ?? (text || r.statusText), e?.details, e?.problems);
}

/** A REST client bound to one token. */
export class Client {
  constructor(readonly token: string) {}

  /**
   * Starts GETs of `paths` now; the next `get` of each takes the answer (or the error) over.
   * Resolves when every one has answered (or failed).
   */
  prime(paths: string[]): Promise<unknown> {
    return Promise.allSettled(
      paths.map((path) => {
        const entry: { p: Promise<unknown>; at: number; value?: { v: unknown } } = { p: this.req('GET', path), at: Date.now() };
        // Not a lost rejection: whoever takes the promise over sees it.
        entry.p.then(
          (v) => (entry.value = { v }),
          () => undefined,
        );
        primed.set(`${this.token} ${path}`, entry);
        return entry.p;
      }),
    );
  }

  /**
   * The answer of a primed GET that has already arrived, taken over (a later `get` asks the
   * server again); undefined when it has not arrived, failed, or was not primed. A page built
   * after its data came can show it in its first render, with no second one.
   */
  take<T>(path: string): T | undefined {
    const key = `${this.token} ${path}`;
    const early = primed.get(key);
    if (!early?.value || Date.now() - early.at >= PRIMED_MS) return undefined;
    primed.delete(key);
    return early.value.v as T;
  }

  /**
   * A GET whose answer is read as it comes (a text stream): the response once its status is 2xx,
   * else the API's refusal as an ApiError. `signal` aborts the request and its body.
   */
  async open(path: string, signal: AbortSignal): Promise<Response> {
    const r = await fetch(API + path, { headers: { authorization: `Bearer ${this.token}` }, signal });
    if (!r.ok) throw await refusal(r);
    return r;
  }

  async req<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(API + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!r.ok) throw await refusal(r);
    return parse(await r.text()) as T;
  }

  get<T>(path: string): Promise<T> {
    const key = `${this.token} ${path}`;
    const early = primed.get(key);
    primed.delete(key);
    if (early && Date.now() - early.at < PRIMED_MS) return early.p as Promise<T>;
    return this.req<T>('GET', path);
  }
}

export type StreamState = 'connecting' | 'live' | 'offline';

/**
 * Follows the event stream: reconnects with backoff and resumes after the last sequence number
 * seen, so no event is missed across a reconnect. Returns a function that stops it.
 */
export function followEvents(token: string, onEvent: (e: EventEnvelope) => void, onState: (s: StreamState) => void): () => void {
  let ws: WebSocket | undefined;
  let last: number | undefined;
  let stopped = false;
  let delay = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    onState('connecting');
    const url = new URL(`${API}/events`, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (last !== undefined) url.searchParams.set('since', String(last));
    ws = new WebSocket(url, ['pi-controller.events', `bearer.${token}`]);
    ws.onopen = () => {
      delay = 500;
      onState('live');
    };
    ws.onmessage = (m) => {
      const env = JSON.parse(String(m.data)) as EventEnvelope;
      if (last !== undefined && env.seq <= last && env.type !== 'stream.dropped') return;
      last = env.seq;
      onEvent(env);
    };
    ws.onclose = () => {
      if (stopped) return;
      onState('offline');
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    ws?.close();
  };
}

/** May this role change things (operator or admin)? */
export const canOperate = (role: Role): boolean => role === 'operator' || role === 'admin';
