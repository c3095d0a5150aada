/**
 * The web UI's static files (built by `npm run build:web` into dist/web). Only the files the
 * build wrote are served, each at one exact path: `/` (and `/index.html`) and `/assets/<name>`,
 * read once when the app is created. No token is needed for them (they hold no data: the UI
 * asks /api/v1 for everything, with the token the user signs in with); every other path,
 * every /api route among them, goes on to authentication as before.
 *
 * Hashed assets (`main-3FJX2K.js`) never change under their name: cached for a year, immutable.
 * index.html is revalidated on every load, so a new build is picked up at once. The HTML page
 * carries a strict Content-Security-Policy: scripts, styles and connections from this origin only,
 * no inline script or style, no framing, no plugins, no form posts elsewhere.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Middleware } from 'koa';
import { errorBody } from './errors.js';

/** The policy of the UI pages: everything from this origin, nothing inline, nothing framed. */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // 'self' covers the same-origin WebSocket of the event stream (ws: and wss:) in CSP level 3.
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
}

/** A hashed asset name as the build writes it: `name-HASH.ext`, the hash 8 or more of esbuild's base32 letters. */
const HASHED = /-[A-Z0-9]{8,}\.[a-z]+$/;

/** Reads the built UI under `root` into exact path → file; empty when the UI is not built. */
export function loadWebFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const index = join(root, 'index.html');
  if (!existsSync(index)) return files;
  const file = (path: string, cache: string): StaticFile => {
    const body = readFileSync(path);
    return {
      body,
      type: TYPES[extname(path)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      cache,
    };
  };
  const html = file(index, 'no-cache');
  files.set('/', html);
  files.set('/index.html', html);
  const assets = join(root, 'assets');
  if (existsSync(assets))
    for (const name of readdirSync(assets)) {
      // Source maps and unhashed names are revalidated; hashed names are immutable.
      const cache = HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache';
      files.set(`/assets/${name}`, file(join(assets, name), cache));
    }
  return files;
}

/**
 * Serves the UI's files by exact path (GET and HEAD); any other request passes on. Without a
 * build, `/` answers 404 `WEB_UI_NOT_BUILT` saying how to build it.
 */
export function webMiddleware(root: string): Middleware {
  const files = loadWebFiles(root);
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const f = files.get(ctx.path);
    if (!f) {
      if (files.size === 0 && (ctx.path === '/' || ctx.path === '/index.html')) {
        ctx.status = 404;
        ctx.body = errorBody('WEB_UI_NOT_BUILT', `the web UI is not built (no ${join(root, 'index.html')}): run 'npm run build:web'`);
        return;
      }
      return next();
    }
    ctx.set('Cache-Control', f.cache);
    ctx.set('ETag', f.etag);
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (f.type.startsWith('text/html')) {
      ctx.set('Content-Security-Policy', UI_CSP);
      ctx.set('Referrer-Policy', 'no-referrer');
      ctx.set('X-Frame-Options', 'DENY');
    }
    ctx.type = f.type;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = f.body;
  };
}
