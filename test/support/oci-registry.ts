/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 on a
 * free port with its storage in a temporary directory, optionally with token auth, and a tiny
 * token server in the test process that issues ES256-signed tokens as Docker Hub's does (anonymous
 * pull; push for the test's own pushes). Pushes go through the distribution API by hand: blobs
 * (monolithic upload), then manifests, then indexes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp.js';
import { scaled } from './wait.js';

type T = { teardown(fn: () => void | Promise<void>): void };

export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** Why no registry can run here, or null. */
export function registryMissing(): string | null {
  return existsSync(REGISTRY_BIN) ? null : "docker-registry is not installed (scripts/setup/60-image.sh installs Debian's docker-registry)";
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export interface TokenServer {
  url: string;
  service: string;
  issuer: string;
  /** Requests seen, with their query. */
  requests: URLSearchParams[];
  /** Whether anonymous clients get a token (else 401). */
  allow: boolean;
  /** A token with pull and push on `repository`. */
  pushToken(repository: string): string;
  certFile: string;
}

/** A token server (key and self-signed certificate made with openssl) in this process. */
export async function startTokenServer(t: T): Promise<TokenServer> {
  const dir = tempDir(t, 'pic-token-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=pic-token']);
  const key = createPrivateKey(readFileSync(keyFile));
  const der = Buffer.from(
    readFileSync(certFile, 'utf8')
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  ).toString('base64');
  const service = 'pic-registry';
  const issuer = 'pic-token-issuer';
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  // A JWS as distribution verifies it: ES256 (r||s), the certificate in x5c chaining to the
  // registry's rootcertbundle (here the certificate itself).
  const jwt = (access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'ES256', typ: 'JWT', x5c: [der] });
    const body = b64({ iss: issuer, sub: '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access });
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return `${head}.${body}.${sig}`;
  };
  const ts: TokenServer = {
    url: '',
    service,
    issuer,
    requests: [],
    allow: true,
    certFile,
    pushToken: (repository) => jwt([{ type: 'repository', name: repository, actions: ['pull', 'push'] }]),
  };
  const server: Server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    ts.requests.push(q);
    if (!ts.allow || q.get('service') !== service) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"no"}');
      return;
    }
    // Anonymous: pull only, on the repositories the scopes name.
    const access = q
      .getAll('scope')
      .map((s) => s.split(':'))
      .filter((p) => p[0] === 'repository' && p[1])
      .map((p) => ({ type: 'repository', name: p[1]!, actions: ['pull'] }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: jwt(access), expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  ts.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return ts;
}

export interface Registry {
  /** host:port */
  host: string;
  base: string;
  /** Authorization header value for pushes (token auth only). */
  auth?: string;
}

/** Starts docker-registry; with `token`, it accepts only tokens from that server. */
export async function startRegistry(t: T, token?: TokenServer): Promise<Registry> {
  const dir = tempDir(t, 'pic-registry-');
  const port = await freePort();
  const auth = token
    ? `auth:\n  token:\n    realm: ${token.url}\n    service: ${token.service}\n    issuer: ${token.issuer}\n    rootcertbundle: ${token.certFile}\n`
    : '';
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  t.teardown(() => void child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + scaled(30_000);
  for (;;) {
    const ok = await fetch(`${base}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (Date.now() > end || child.exitCode !== null) throw new Error(`docker-registry did not start: ${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, base };
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function ok(r: Response, what: string): Promise<Response> {
  if (!r.ok) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

/** Uploads a blob (POST then one PUT with the digest); returns its digest. */
export async function pushBlob(reg: Registry, repo: string, data: Buffer, auth?: string): Promise<string> {
  const digest = sha(data);
  const h: Record<string, string> = auth ? { authorization: auth } : {};
  const head = await fetch(`${reg.base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: h });
  if (head.status === 200) return digest;
  const start = await ok(await fetch(`${reg.base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: h }), `upload ${repo}`);
  const loc = new URL(start.headers.get('location')!, reg.base);
  loc.searchParams.set('digest', digest);
  await ok(
    await fetch(loc, { method: 'PUT', headers: { ...h, 'content-type': 'application/octet-stream' }, body: data }),
    `blob ${digest}`,
  );
  return digest;
}

/** Puts a manifest or index under `reference` (a tag or its digest); returns its digest. */
export async function pushManifest(
  reg: Registry,
  repo: string,
  reference: string,
  body: Buffer,
  mediaType: string,
  auth?: string,
): Promise<string> {
  await ok(
    await fetch(`${reg.base}/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'content-type': mediaType, ...(auth ? { authorization: auth } : {}) },
      body,
    }),
    `manifest ${repo}:${reference}`,
  );
  return sha(body);
}

export interface TestPlatform {
  architecture: string;
  os: string;
  variant?: string;
}

/**
 * Pushes a small image per platform (a config naming the platform and one tiny layer) and, with
 * more than one, an index over them (`list`: OCI index or Docker manifest list); returns the
 * digest the tag names.
 */
export async function pushTestImage(
  reg: Registry,
  repo: string,
  tag: string,
  platforms: TestPlatform[],
  opts: { docker?: boolean; auth?: string } = {},
): Promise<string> {
  const docker = opts.docker === true;
  const types = docker
    ? {
        manifest: 'application/vnd.docker.distribution.manifest.v2+json',
        config: 'application/vnd.docker.container.image.v1+json',
        layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        index: 'application/vnd.docker.distribution.manifest.list.v2+json',
      }
    : {
        manifest: 'application/vnd.oci.image.manifest.v1+json',
        config: 'application/vnd.oci.image.config.v1+json',
        layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
        index: 'application/vnd.oci.image.index.v1+json',
      };
  const entries = [];
  for (const p of platforms) {
    const layer = Buffer.from(`layer of ${repo} ${p.architecture}${p.variant ?? ''}`);
    const config = Buffer.from(JSON.stringify({ ...p, rootfs: { type: 'layers', diff_ids: [sha(layer)] }, config: {} }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: types.manifest,
        config: { mediaType: types.config, digest: await pushBlob(reg, repo, config, opts.auth), size: config.length },
        layers: [{ mediaType: types.layer, digest: await pushBlob(reg, repo, layer, opts.auth), size: layer.length }],
      }),
    );
    const digest = sha(manifest);
    await pushManifest(reg, repo, platforms.length === 1 ? tag : digest, manifest, types.manifest, opts.auth);
    entries.push({ mediaType: types.manifest, digest, size: manifest.length, platform: p });
  }
  if (platforms.length === 1) return entries[0]!.digest;
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: types.index, manifests: entries }));
  return pushManifest(reg, repo, tag, index, types.index, opts.auth);
}
