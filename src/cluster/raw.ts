/**
 * One JSON request to the API server with the kubeconfig's credentials, byte for byte. Used
 * where client-node's typed models would rewrite the body: its serializer only knows
 * `_enum`/`_default`/`xKubernetesPreserveUnknownFields`, so a CRD written as plain JSON would
 * lose its enums, defaults and preserve-unknown-fields markers on the way out.
 */
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeApi } from '../core/ports.js';

export interface RawResponse {
  status: number;
  body: unknown;
}

/** Error of a raw request that the API server answered with a failure status. */
export class ApiStatusError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(method: string, path: string, code: number, body: unknown) {
    const msg = (body as { message?: unknown } | null)?.message;
    super(`${method} ${path}: ${code}${typeof msg === 'string' ? ` ${msg}` : ''}`);
    this.code = code;
    this.body = body;
  }
}

/**
 * Keep-alive connection pools by kubeconfig and TLS material. client-node's applyToHTTPSOptions
 * makes a new agent for every request, so each request would open a new connection and do a
 * full TLS handshake (both sides pay for it: on a 2-core machine that was most of the API
 * server's cost per status write). Requests through a proxy keep client-node's agent.
 */
const pools = new WeakMap<KubeConfig, { id: string; agent: HttpsAgent | HttpAgent }>();

function pooledAgent(kc: KubeConfig, opts: RequestOptions, plain: boolean): HttpsAgent | HttpAgent {
  const tls = {
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    pfx: opts.pfx,
    passphrase: opts.passphrase,
    rejectUnauthorized: opts.rejectUnauthorized,
    servername: opts.servername,
  };
  const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text).join(',') : String(v));
  const id = `${plain ? 'http' : 'https'}|${Object.values(tls).map(text).join('|')}`;
  const cur = pools.get(kc);
  if (cur?.id === id) return cur.agent;
  cur?.agent.destroy();
  const defined = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
  const agent = plain ? new HttpAgent({ keepAlive: true }) : new HttpsAgent({ keepAlive: true, ...defined });
  pools.set(kc, { id, agent });
  return agent;
}

/** Sends one request; resolves with any status (2xx or not); rejects only on transport errors. */
export async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  timeoutMs = 30_000,
): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const data = body === undefined ? undefined : JSON.stringify(body);
  const opts: RequestOptions = {
    method,
    headers: { accept: 'application/json', ...(data ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {}) },
  };
  await kc.applyToHTTPSOptions(opts);
  if (!cluster.proxyUrl) opts.agent = pooledAgent(kc, opts, url.protocol === 'http:');
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          // Not JSON (e.g. /readyz): the text itself.
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Like {@link rawRequest} but rejects with {@link ApiStatusError} on a status of 300 or more. */
export async function rawOk(kc: KubeConfig, method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
  const r = await rawRequest(kc, method, path, body, contentType);
  if (r.status >= 300) throw new ApiStatusError(method, path, r.status, r.body);
  return r.body;
}

/** A kubeconfig's cluster as the port other services use ({@link KubeApi}): raw JSON requests, 15 s each. */
export function kubeApi(kc: KubeConfig): KubeApi {
  return {
    server: kc.getCurrentCluster()?.server ?? '',
    request: (method, path, body, contentType) => rawRequest(kc, method, path, body, contentType, 15_000),
  };
}
