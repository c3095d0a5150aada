/**
 * A client of the OCI distribution API, enough to learn which platforms an image runs on before
 * the catalog deploys it: GET the manifest with an Accept for OCI indexes, Docker manifest lists
 * and single manifests; a single manifest's platform comes from its config blob. Anonymous bearer
 * tokens as Docker Hub, GHCR and Quay issue them: a 401 with `WWW-Authenticate: Bearer realm=...,
 * service=..., scope=...` is answered by fetching a token from the realm and asking again. Every
 * request has a timeout; every failure is a {@link RegistryError} with a stable `code`.
 */
import { createHash } from 'node:crypto';
import { ControllerError } from '../api/errors.js';

/** Manifest media types, in the order of the Accept header. */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export type RegistryErrorCode =
  | 'IMAGE_REF_INVALID'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_AUTH_FAILED'
  | 'IMAGE_NOT_FOUND'
  | 'MANIFEST_UNSUPPORTED'
  | 'MANIFEST_INVALID'
  | 'REGISTRY_ERROR';

const STATUS: Record<RegistryErrorCode, number> = {
  IMAGE_REF_INVALID: 422,
  IMAGE_NOT_FOUND: 404,
  REGISTRY_TIMEOUT: 504,
  REGISTRY_UNREACHABLE: 502,
  REGISTRY_AUTH_FAILED: 502,
  MANIFEST_UNSUPPORTED: 502,
  MANIFEST_INVALID: 502,
  REGISTRY_ERROR: 502,
};

/** A registry could not tell an image's platforms; `details.image` names the reference. */
export class RegistryError extends ControllerError {
  declare readonly code: RegistryErrorCode;
  constructor(code: RegistryErrorCode, message: string, options: { cause?: unknown; image?: string; httpStatus?: number } = {}) {
    super(code, STATUS[code], message, {
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      details: { ...(options.image ? { image: options.image } : {}), ...(options.httpStatus ? { httpStatus: options.httpStatus } : {}) },
      expose: true,
    });
  }
}

/** A parsed image reference. */
export interface ImageRef {
  /** Host (and port) of the registry; `docker.io` images are at `registry-1.docker.io`. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** An image platform as OCI indexes and image configs name it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ResolvedImage {
  ref: ImageRef;
  /** The digest of the manifest or index the reference names. */
  digest: string;
  mediaType: string;
  /** The platforms the image runs on (attestation entries, `unknown/unknown`, are left out). */
  platforms: Platform[];
}

const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses `[registry/]repository[:tag][@digest]` with Docker's defaults: no registry is Docker
 * Hub, a one-part Hub name is under `library/`, no tag and no digest is `latest`.
 */
export function parseImageRef(ref: string): ImageRef {
  const bad = (why: string): never => {
    throw new RegistryError('IMAGE_REF_INVALID', `invalid image reference "${ref}": ${why}`, { image: ref });
  };
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad('the digest must be sha256:<64 hex digits>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad('invalid tag');
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = 'docker.io';
  let repository = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO.test(repository)) bad('invalid repository name');
  if (registry === 'docker.io') registry = 'registry-1.docker.io';
  return { registry, repository, ...(tag || !digest ? { tag: tag ?? 'latest' } : {}), ...(digest ? { digest } : {}) };
}

/** `Bearer realm="...",service="...",scope="..."` as a map (lower-case keys), or null if not Bearer. */
export function parseBearerChallenge(header: string): Record<string, string> | null {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return null;
  const out: Record<string, string> = {};
  for (const p of m[1]!.matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) out[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return out;
}

export interface RegistryClientOptions {
  /** Per request, in ms (default 10000). */
  timeoutMs?: number;
  /** Registries spoken to over plain HTTP (default: localhost and 127.0.0.1, any port). */
  plainHttp?: (registry: string) => boolean;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
}

const MAX_MANIFEST_BYTES = 4 << 20;

/** Resolves image references to their platforms. Tokens are kept per realm, service and scope until they expire. */
export class RegistryClient {
  readonly #timeoutMs: number;
  readonly #plainHttp: (registry: string) => boolean;
  readonly #fetch: typeof fetch;
  readonly #tokens = new Map<string, { token: string; until: number }>();

  constructor(opts: RegistryClientOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#plainHttp = opts.plainHttp ?? ((r) => /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(r));
    this.#fetch = opts.fetch ?? fetch;
  }

  /** The platforms of `image` (a reference such as `postgres:16`, `ghcr.io/o/r@sha256:...`). */
  async resolve(image: string): Promise<ResolvedImage> {
    const ref = parseImageRef(image);
    const { body, mediaType, digest } = await this.#manifest(ref, image, ref.digest ?? ref.tag ?? 'latest');
    const doc = parseJson(body, image) as {
      mediaType?: string;
      schemaVersion?: number;
      manifests?: { platform?: Platform }[];
      config?: { digest?: string };
    };
    const type = mediaType || doc.mediaType || '';
    if (type === MEDIA_TYPES.ociIndex || type === MEDIA_TYPES.dockerList || (!type && Array.isArray(doc.manifests))) {
      if (!Array.isArray(doc.manifests)) throw new RegistryError('MANIFEST_INVALID', `${image}: the index has no manifests`, { image });
      const platforms = doc.manifests
        .map((m) => m.platform)
        .filter((p): p is Platform => !!p && typeof p.architecture === 'string' && typeof p.os === 'string' && p.architecture !== 'unknown')
        .map((p) => ({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }));
      return { ref, digest, mediaType: type, platforms };
    }
    if (type === MEDIA_TYPES.ociManifest || type === MEDIA_TYPES.dockerManifest) {
      const cfgDigest = doc.config?.digest;
      if (!cfgDigest || !DIGEST.test(cfgDigest))
        throw new RegistryError('MANIFEST_INVALID', `${image}: the manifest has no config digest`, { image });
      const cfg = parseJson(await this.#blob(ref, image, cfgDigest), image) as Partial<Platform>;
      if (typeof cfg.architecture !== 'string' || typeof cfg.os !== 'string')
        throw new RegistryError('MANIFEST_INVALID', `${image}: the image config names no os and architecture`, { image });
      return {
        ref,
        digest,
        mediaType: type,
        platforms: [{ os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) }],
      };
    }
    throw new RegistryError(
      'MANIFEST_UNSUPPORTED',
      `${image}: unsupported manifest type "${type || `schemaVersion ${doc.schemaVersion}`}"`,
      { image },
    );
  }

  async #manifest(ref: ImageRef, image: string, reference: string): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const accept = Object.values(MEDIA_TYPES).join(', ');
    const res = await this.#get(ref, image, `manifests/${reference}`, accept);
    const body = await limitedBody(res, image);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (ref.digest && digest !== ref.digest)
      throw new RegistryError('MANIFEST_INVALID', `${image}: the registry sent a manifest with digest ${digest}`, { image });
    return { body, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), digest };
  }

  async #blob(ref: ImageRef, image: string, digest: string): Promise<Buffer> {
    const body = await limitedBody(await this.#get(ref, image, `blobs/${digest}`, '*/*'), image);
    if (`sha256:${createHash('sha256').update(body).digest('hex')}` !== digest)
      throw new RegistryError('MANIFEST_INVALID', `${image}: the config blob does not match its digest ${digest}`, { image });
    return body;
  }

  /** GET /v2/<repository>/<path>, with one retry after a Bearer challenge. */
  async #get(ref: ImageRef, image: string, path: string, accept: string): Promise<Response> {
    const url = `${this.#plainHttp(ref.registry) ? 'http' : 'https'}://${ref.registry}/v2/${ref.repository}/${path}`;
    const scopeKey = `repository:${ref.repository}:pull`;
    const cached = this.#tokens.get(`${ref.registry} ${scopeKey}`);
    let token = cached && cached.until > Date.now() ? cached.token : undefined;
    for (let attempt = 0; ; attempt++) {
      const res = await this.#request(url, image, { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) });
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel();
        const challenge = parseBearerChallenge(res.headers.get('www-authenticate') ?? '');
        if (!challenge?.realm)
          throw new RegistryError('REGISTRY_AUTH_FAILED', `${image}: ${ref.registry} wants credentials, not an anonymous token`, {
            image,
            httpStatus: 401,
          });
        token = await this.#token(challenge, scopeKey, ref.registry, image);
        continue;
      }
      if (res.ok) return res;
      await res.body?.cancel();
      if (res.status === 401 || res.status === 403)
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${image}: ${ref.registry} refused the anonymous token (HTTP ${res.status})`, {
          image,
          httpStatus: res.status,
        });
      if (res.status === 404)
        throw new RegistryError('IMAGE_NOT_FOUND', `${image}: not found on ${ref.registry}`, { image, httpStatus: 404 });
      throw new RegistryError('REGISTRY_ERROR', `${image}: ${ref.registry} answered HTTP ${res.status} for ${path}`, {
        image,
        httpStatus: res.status,
      });
    }
  }

  /** An anonymous token from the challenge's realm. */
  async #token(challenge: Record<string, string>, scopeKey: string, registry: string, image: string): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm!);
    } catch (err) {
      throw new RegistryError('REGISTRY_AUTH_FAILED', `${image}: invalid token realm "${challenge.realm}"`, { image, cause: err });
    }
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    realm.searchParams.set('scope', challenge.scope || scopeKey);
    const res = await this.#request(realm.href, image, { accept: 'application/json' });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('REGISTRY_AUTH_FAILED', `${image}: the token service ${realm.host} answered HTTP ${res.status}`, {
        image,
        httpStatus: res.status,
      });
    }
    const body = parseJson(await limitedBody(res, image), image) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('REGISTRY_AUTH_FAILED', `${image}: the token service sent no token`, { image });
    // Docker's token spec: 60 s when the service does not say.
    const ttl = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    this.#tokens.set(`${registry} ${scopeKey}`, { token, until: Date.now() + ttl - 5000 });
    return token;
  }

  async #request(url: string, image: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await this.#fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError')
        throw new RegistryError('REGISTRY_TIMEOUT', `${image}: no answer from ${new URL(url).host} in ${this.#timeoutMs} ms`, {
          image,
          cause: err,
        });
      throw new RegistryError('REGISTRY_UNREACHABLE', `${image}: ${new URL(url).host} is unreachable: ${causeText(e)}`, {
        image,
        cause: err,
      });
    }
  }
}

function causeText(e: Error): string {
  const c = e.cause as { code?: string; message?: string } | undefined;
  return c?.code ?? c?.message ?? e.message;
}

async function limitedBody(res: Response, image: string): Promise<Buffer> {
  const len = Number(res.headers.get('content-length') ?? 0);
  if (len > MAX_MANIFEST_BYTES) {
    await res.body?.cancel();
    throw new RegistryError('MANIFEST_INVALID', `${image}: a manifest of ${len} bytes is more than ${MAX_MANIFEST_BYTES}`, { image });
  }
  try {
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST_BYTES) throw new RegistryError('MANIFEST_INVALID', `${image}: the manifest is too large`, { image });
    return body;
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      throw new RegistryError('REGISTRY_TIMEOUT', `${image}: the registry stopped sending`, { image, cause: err });
    throw new RegistryError('REGISTRY_UNREACHABLE', `${image}: ${causeText(e)}`, { image, cause: err });
  }
}

function parseJson(body: Buffer, image: string): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new RegistryError('MANIFEST_INVALID', `${image}: the registry sent something that is not JSON`, { image, cause: err });
  }
}
