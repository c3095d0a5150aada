/**
 * Token repository. A token is `pct_<id>_<secret>`: the id finds the row, the secret is
 * checked against its SHA-256 (the secret is 256 random bits, so a slow password hash adds
 * nothing). Secrets are never stored and are shown once, at creation.
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { NotFoundError } from '../api/errors.js';
import type { Role, TokenInfo } from '../api/tokens.js';
import { nowIso } from './sql.js';

interface Row {
  id: string;
  name: string;
  role: string;
  hash: Buffer;
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

const toInfo = (r: Row): TokenInfo => ({
  id: r.id,
  name: r.name,
  role: r.role as Role,
  createdAt: r.created_at,
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

const TOKEN_RE = /^pct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
// One-shot crypto.hash (Node >= 20.12) skips building a Hash object per request; older Node 20 falls back.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = oneShot ? (s: string) => oneShot('sha256', s, 'buffer') : (s: string) => createHash('sha256').update(s).digest();

/** How often `last_used_at` is written for a token in active use (a write per request would cost an fsync). */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * How long verify() trusts a token's row without reading it again. A revocation through this
 * repository (the only way the API and CLI revoke) drops the row at once; the bound is for a
 * change made to the same file by another connection, which shows within this time.
 */
const ROW_TTL_MS = 2_000;
/** At most this many rows are held; only rows of existing, unrevoked tokens get in. */
const ROW_CACHE_MAX = 1024;

/** What verify() needs from a token's row, read at `readAt`. */
interface LiveRow {
  hash: Buffer;
  info: Readonly<TokenInfo>;
  expiresMs: number;
  readAt: number;
}

export class TokenRepo {
  readonly #byId;
  readonly #insert;
  readonly #revoke;
  readonly #used;
  readonly #list;
  readonly #countActive;
  /** token id -> last time last_used_at was written (per instance, bounded by the number of tokens). */
  readonly #lastWrite = new Map<string, number>();
  /** token id -> its live row, so a request in a burst costs a hash and no query (see ROW_TTL_MS). */
  readonly #rows = new Map<string, LiveRow>();

  constructor(db: Database) {
    this.#byId = db.prepare<[string], Row>('SELECT * FROM tokens WHERE id = ?');
    this.#insert = db.prepare('INSERT INTO tokens (id, name, role, hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#revoke = db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    this.#used = db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?');
    this.#list = db.prepare<[number], Row>('SELECT * FROM tokens WHERE (? = 1 OR revoked_at IS NULL) ORDER BY created_at, id');
    this.#countActive = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM tokens WHERE revoked_at IS NULL');
  }

  /** Creates a token and returns its secret (the only time it exists outside the caller). */
  create(name: string, role: Role, createdBy: string, ttlSeconds?: number): { token: string; info: TokenInfo } {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const expires = ttlSeconds === undefined ? null : new Date(Date.now() + ttlSeconds * 1000).toISOString();
    this.#insert.run(id, name, role, sha256(secret), nowIso(), createdBy, expires);
    return { token: `pct_${id}_${secret}`, info: this.get(id)! };
  }

  get(id: string): TokenInfo | undefined {
    const r = this.#byId.get(id);
    return r && toInfo(r);
  }

  /** Returns the token's info when the presented string is a valid, live token; otherwise undefined. */
  verify(presented: string, now = Date.now()): Readonly<TokenInfo> | undefined {
    const m = TOKEN_RE.exec(presented);
    if (!m) return undefined;
    const r = this.#liveRow(m[1]!, now);
    if (!r || !timingSafeEqual(r.hash, sha256(m[2]!)) || r.expiresMs <= now) return undefined;
    const last = this.#lastWrite.get(r.info.id) ?? 0;
    if (now - last >= LAST_USED_RESOLUTION_MS) {
      this.#lastWrite.set(r.info.id, now);
      this.#used.run(new Date(now).toISOString(), r.info.id);
    }
    return r.info;
  }

  /** The token's row if it exists and is not revoked, from the cache while it is fresh. */
  #liveRow(id: string, now: number): LiveRow | undefined {
    const cached = this.#rows.get(id);
    if (cached && now - cached.readAt < ROW_TTL_MS && now >= cached.readAt) return cached;
    const r = this.#byId.get(id);
    if (!r || r.revoked_at !== null) {
      this.#rows.delete(id);
      return undefined;
    }
    if (this.#rows.size >= ROW_CACHE_MAX) this.#rows.clear();
    const live: LiveRow = {
      hash: r.hash,
      info: Object.freeze(toInfo(r)),
      expiresMs: r.expires_at === null ? Infinity : Date.parse(r.expires_at),
      readAt: now,
    };
    this.#rows.set(id, live);
    return live;
  }

  /** @throws NotFoundError when no live token has this id. */
  revoke(id: string): TokenInfo {
    if (this.#revoke.run(nowIso(), id).changes !== 1) throw new NotFoundError('token', id);
    this.#lastWrite.delete(id);
    this.#rows.delete(id);
    return this.get(id)!;
  }

  list(includeRevoked = false): TokenInfo[] {
    return this.#list.all(includeRevoked ? 1 : 0).map(toInfo);
  }

  countActive(): number {
    return this.#countActive.get()!.n;
  }
}
