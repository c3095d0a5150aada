/**
 * Enrolment: the agent makes its key on the node (it never leaves), fetches the control plane's
 * CA, pins it against the SHA-256 carried in the join token, and sends a CSR with the token over
 * HTTPS verified by that CA. The certificate, key and CA are stored 0600 in the state directory.
 */
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { EnrolResponse } from '../src/api/agent.js';

import type * as X509 from '@peculiar/x509';

// Loaded on first use (enrolment only); the type import above is erased at compile time.
type X509Lib = typeof X509;
type KeyPair = Parameters<X509Lib['Pkcs10CertificateRequestGenerator']['create']>[0]['keys'];

/**
 * The X.509 library is loaded only to make a CSR (enrolment, renewal): it costs about 20 MB of
 * RSS, so an agent that has not enrolled or renewed
 * since it started never loads it.
 */
async function x509lib(): Promise<X509Lib> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<X509Lib['cryptoProvider']['set']>[0]);
  return x509;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Files of an enrolled agent. */
export const FILES = { key: 'agent-key.pem', cert: 'agent-cert.pem', ca: 'ca.pem', server: 'server.json' } as const;

/** An enrolment refused or impossible; `code` is stable (the server's code when it answered). */
export class EnrolError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnrolError';
    this.code = code;
  }
}

/** What an enrolled agent holds: its node name, the agent endpoint it enrolled with, its key and certificate, and the CA (PEM). */
export interface AgentCredentials {
  node: string;
  server: string;
  key: string;
  cert: string;
  ca: string;
}

/** Writes a file atomically with mode 0600. */
export function writeSecret(file: string, data: string): void {
  writeFileSync(`${file}.tmp`, data, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Loads stored credentials, or undefined when the agent has not enrolled. */
export function loadCredentials(stateDir: string): AgentCredentials | undefined {
  const f = (n: string) => join(stateDir, n);
  if (![FILES.key, FILES.cert, FILES.ca, FILES.server].every((n) => existsSync(f(n)))) return undefined;
  const s = JSON.parse(readFileSync(f(FILES.server), 'utf8')) as { node: string; server: string };
  return {
    node: s.node,
    server: s.server,
    key: readFileSync(f(FILES.key), 'utf8'),
    cert: readFileSync(f(FILES.cert), 'utf8'),
    ca: readFileSync(f(FILES.ca), 'utf8'),
  };
}

/** A new P-256 key (PKCS#8 PEM) and a CSR for it. */
export async function newKeyAndCsr(name = hostname()): Promise<{ keyPem: string; csr: string }> {
  const x509 = await x509lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name.replace(/[,=+<>#;"\\]/g, '-')}`,
    keys,
    signingAlgorithm: ALG,
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { keyPem, csr: csr.toString('pem') };
}

function call(url: URL, opts: { method: string; ca?: string; body?: string }): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method,
        // Before the CA is pinned, the server's certificate cannot be verified yet; what comes back
        // is checked against the hash in the join token before anything else is trusted.
        ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
        headers: opts.body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {},
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new EnrolError('TIMEOUT', `${url.href} did not answer in 15 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Enrols with `server` (the agent endpoint, https://host:port) using a join token
 * `id.secret.caSha256`. Stores the credentials and returns them.
 * @throws EnrolError CA_MISMATCH (the server's CA is not the one the token names), TOKEN_*
 *   (the server refused the token), BAD_TOKEN (malformed)
 */
export async function enrol(opts: { server: string; token: string; stateDir: string }): Promise<AgentCredentials> {
  const parts = opts.token.split('.');
  const pin = parts[2];
  if (parts.length !== 3 || !pin || !/^[0-9a-f]{64}$/.test(pin))
    throw new EnrolError('BAD_TOKEN', 'a join token has the form id.secret.ca-sha256');
  const base = new URL(opts.server);
  const caRes = await call(new URL('/ca', base), { method: 'GET' });
  if (caRes.status !== 200) throw new EnrolError('CA_UNAVAILABLE', `GET /ca answered ${caRes.status}`);
  const ca = caRes.text;
  const got = createHash('sha256').update(new X509Certificate(ca).raw).digest('hex');
  if (got !== pin) throw new EnrolError('CA_MISMATCH', `the server's CA has SHA-256 ${got}, the join token pins ${pin}`);
  const { keyPem, csr } = await newKeyAndCsr();
  // From here on the connection is verified against the pinned CA.
  const res = await call(new URL('/enrol', base), { method: 'POST', ca, body: JSON.stringify({ token: opts.token, csr }) });
  if (res.status !== 200) {
    let code = 'ENROL_REFUSED';
    let message = res.text;
    try {
      const e = (JSON.parse(res.text) as { error: { code: string; message: string } }).error;
      code = e.code;
      message = e.message;
    } catch {
      /* not JSON: keep the text */
    }
    throw new EnrolError(code, `enrolment refused (${res.status}): ${message}`);
  }
  const r = JSON.parse(res.text) as EnrolResponse;
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(opts.stateDir, n);
  writeSecret(f(FILES.key), keyPem);
  writeSecret(f(FILES.cert), r.cert);
  writeSecret(f(FILES.ca), ca);
  writeSecret(f(FILES.server), JSON.stringify({ node: r.node, server: base.origin }));
  return { node: r.node, server: base.origin, key: keyPem, cert: r.cert, ca };
}
