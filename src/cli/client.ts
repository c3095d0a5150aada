/**
 * The CLI's REST client: a server URL and a token, resolved from flags, then environment
 * (PI_CONTROLLER_URL, PI_CONTROLLER_TOKEN), then the file saved by `pi-controller login`,
 * then the local defaults (http://127.0.0.1:8080 and ./data/admin-token).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { CliError, EXIT, exitForStatus } from './exit.js';

/** Where and as whom the CLI calls the REST API (the agent's mutual-TLS credentials are agent/enrol.ts's). */
export interface ApiCredentials {
  url: string;
  token: string | undefined;
  /** PEM file of the server's (self-signed) certificate, for HTTPS. */
  ca?: string | undefined;
}

export interface Env {
  env: Record<string, string | undefined>;
  cwd: string;
}

/** Where `login` saves credentials. */
export function savedFile({ env }: Env): string {
  return env.PI_CONTROLLER_CLI_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'), 'pi-controller', 'cli.json');
}

export function saveCredentials(e: Env, c: ApiCredentials): string {
  const f = savedFile(e);
  mkdirSync(dirname(f), { recursive: true, mode: 0o700 });
  writeFileSync(f, JSON.stringify({ url: c.url, token: c.token, ...(c.ca ? { ca: resolve(e.cwd, c.ca) } : {}) }, null, 2) + '\n', {
    mode: 0o600,
  });
  return f;
}

export function resolveCredentials(
  e: Env,
  flags: { url?: string; token?: string; tokenFile?: string; ca?: string; dataDir?: string },
): ApiCredentials {
  let saved: Partial<ApiCredentials> = {};
  const f = savedFile(e);
  if (existsSync(f)) {
    try {
      saved = JSON.parse(readFileSync(f, 'utf8')) as Partial<ApiCredentials>;
    } catch (err) {
      throw new CliError(`cannot read ${f}: ${(err as Error).message}`, EXIT.USAGE);
    }
  }
  const fromFile = (p: string) => {
    try {
      return readFileSync(resolve(e.cwd, p), 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read the token file ${p}: ${(err as Error).message}`, EXIT.USAGE);
    }
  };
  const localTokenFile = join(resolve(e.cwd, flags.dataDir ?? e.env.PI_CONTROLLER_DATA_DIR ?? 'data'), 'admin-token');
  const token =
    flags.token ??
    (flags.tokenFile ? fromFile(flags.tokenFile) : undefined) ??
    e.env.PI_CONTROLLER_TOKEN ??
    saved.token ??
    (existsSync(localTokenFile) ? fromFile(localTokenFile) : undefined);
  const url = (flags.url ?? e.env.PI_CONTROLLER_URL ?? saved.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const ca = flags.ca ?? e.env.PI_CONTROLLER_CA ?? saved.ca;
  return { url, token, ca: ca ? resolve(e.cwd, ca) : undefined };
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** One REST call. Non-2xx answers become a CliError with the server's code and message and the matching exit code. */
export async function call(c: ApiCredentials, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const u = new URL(c.url + path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (c.token) headers.authorization = `Bearer ${c.token}`;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  // Node keeps connections open between requests; a server closes an idle one after its keep-alive
  // timeout, and a request sent on it at that moment fails with ECONNRESET before the server read it
  // (seen with `-f` followers on a busy machine). Such a request is sent again once, on a new connection.
  const once = (): Promise<ApiResponse> =>
    new Promise<ApiResponse>((resolveP, reject) => {
      const opts = { method, headers, ...(u.protocol === 'https:' && c.ca ? { ca: readFileSync(c.ca) } : {}) };
      let answered = false;
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (r) => {
        answered = true;
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          resolveP({ status: r.statusCode ?? 0, body: parsed });
        });
        r.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timed out after 30 s')));
      req.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { staleSocket: req.reusedSocket && !answered })));
      req.end(payload);
    });
  const res = await once()
    .catch((err: NodeJS.ErrnoException & { staleSocket?: boolean }) => {
      if (err.staleSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return once();
      throw err;
    })
    .catch((err: unknown) => {
      throw new CliError(`cannot reach ${c.url}: ${(err as Error).message}`, EXIT.UNREACHABLE, { cause: err });
    });
  if (res.status >= 400) {
    const e = (res.body as { error?: { code?: string; message?: string; problems?: { path: string; message: string }[] } } | undefined)
      ?.error;
    const lines = [`${e?.code ?? res.status}: ${e?.message ?? 'request failed'}`];
    for (const p of e?.problems ?? []) lines.push(`  ${p.path}: ${p.message}`);
    if (res.status === 401 && !c.token) lines.push("  (no token: use 'pi-controller login', --token, or PI_CONTROLLER_TOKEN)");
    throw new CliError(lines.join('\n'), exitForStatus(res.status));
  }
  return res;
}

/**
 * A GET whose body is text streamed as it comes (a journal): `onText` gets each chunk; resolves when
 * the body ends, or at once when `stop` is called (the request is aborted, which ends the stream
 * on the server). An error status is thrown as by {@link call}.
 */
export async function streamText(
  c: ApiCredentials,
  path: string,
  onText: (text: string) => void,
  onStop: (stop: () => void) => void,
): Promise<void> {
  const u = new URL(c.url + path);
  const headers: Record<string, string> = { accept: 'text/plain, application/json' };
  if (c.token) headers.authorization = `Bearer ${c.token}`;
  await new Promise<void>((resolveP, reject) => {
    const opts = { method: 'GET', headers, ...(u.protocol === 'https:' && c.ca ? { ca: readFileSync(c.ca) } : {}) };
    let stopped = false;
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (r) => {
      const status = r.statusCode ?? 0;
      if (status >= 400) {
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => {
          let e: { code?: string; message?: string } | undefined;
          try {
            e = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: typeof e }).error;
          } catch {
            e = undefined;
          }
          reject(new CliError(`${e?.code ?? status}: ${e?.message ?? 'request failed'}`, exitForStatus(status)));
        });
        return;
      }
      r.setEncoding('utf8');
      r.on('data', (d: string) => onText(d));
      r.on('end', () => resolveP());
      r.on('error', (err) => (stopped ? resolveP() : reject(err)));
      r.on('aborted', () => resolveP());
    });
    onStop(() => {
      stopped = true;
      req.destroy();
      resolveP();
    });
    req.on('error', (err) => (stopped ? resolveP() : reject(new CliError(`cannot reach ${c.url}: ${err.message}`, EXIT.UNREACHABLE))));
    req.end();
  });
}
