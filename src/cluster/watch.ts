/**
 * A list-then-watch cache of one resource type across all namespaces (an informer).
 *
 * It lists, then watches from the list's resourceVersion on a connection of its own. A watch the
 * server ends normally is resumed from the last resourceVersion seen; a 410 Gone (the version
 * is too old) or any error leads to a fresh list after a short pause, and objects that vanished
 * meanwhile are reported as deleted. Every change calls `onChange` with the object (the object
 * as last seen for a delete).
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type ClientRequest } from 'node:http';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { rawRequest } from './raw.js';

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface WatchCacheOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /apis/gpio.pi-controller.io/v1alpha1/gpiopins */
  path: string;
  onChange: (type: ChangeType, obj: T) => void;
  log?: Logger;
  /** Pause before listing again after an error (default 500 ms). */
  retryMs?: number;
  /** Server-side watch timeout (default 300 s; the watch is then resumed). */
  watchTimeoutSec?: number;
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class WatchCache<T extends KubernetesObject> {
  readonly #o: WatchCacheOptions<T>;
  readonly #items = new Map<string, T>();
  #rv = '';
  #req: ClientRequest | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Lists done (the first, and one per relist). */
  lists = 0;

  constructor(opts: WatchCacheOptions<T>) {
    this.#o = opts;
  }

  /** Lists, then keeps watching; resolves after the first list. */
  async start(): Promise<void> {
    await this.#list();
    this.#watch();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#req?.destroy();
  }

  get(namespace: string, name: string): T | undefined {
    return this.#items.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  /** Ends the current watch as a network failure would (tests: relist after a dropped watch). */
  dropWatch(): void {
    this.#req?.destroy(new Error('watch dropped'));
  }

  async #list(): Promise<void> {
    const r = await rawRequest(this.#o.kubeConfig, 'GET', this.#o.path);
    if (r.status !== 200) throw new Error(`list ${this.#o.path}: ${r.status}`);
    const body = r.body as { items: T[]; metadata?: { resourceVersion?: string } };
    this.lists++;
    const seen = new Set<string>();
    for (const it of body.items) {
      const k = keyOf(it);
      seen.add(k);
      const old = this.#items.get(k);
      this.#items.set(k, it);
      if (!old) this.#o.onChange('added', it);
      else if (old.metadata?.resourceVersion !== it.metadata?.resourceVersion) this.#o.onChange('modified', it);
    }
    for (const [k, old] of this.#items) {
      if (seen.has(k)) continue;
      this.#items.delete(k);
      this.#o.onChange('deleted', old);
    }
    this.#rv = body.metadata?.resourceVersion ?? '';
  }

  #again(relist: boolean, why: string): void {
    this.#req = undefined;
    if (this.#stopped) return;
    if (relist) this.#o.log?.warn({ path: this.#o.path, why }, 'watch ended; listing again');
    this.#timer = setTimeout(
      () => {
        const next = relist ? this.#list() : Promise.resolve();
        next.then(
          () => this.#watch(),
          (err: unknown) => this.#again(true, (err as Error).message),
        );
      },
      relist ? (this.#o.retryMs ?? 500) : 0,
    );
    this.#timer.unref();
  }

  #watch(): void {
    if (this.#stopped) return;
    const kc = this.#o.kubeConfig;
    const cluster = kc.getCurrentCluster();
    if (!cluster) return this.#again(true, 'no current cluster');
    const url = new URL(this.#o.path, cluster.server);
    url.searchParams.set('watch', '1');
    url.searchParams.set('resourceVersion', this.#rv);
    url.searchParams.set('allowWatchBookmarks', 'true');
    url.searchParams.set('timeoutSeconds', String(this.#o.watchTimeoutSec ?? 300));
    // A connection of its own (agent: false): a long watch must not hold a pooled socket.
    const opts: RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, agent: false };
    void kc.applyToHTTPSOptions(opts).then(
      () => {
        if (this.#stopped) return;
        let ended = false;
        const end = (relist: boolean, why: string) => {
          if (ended) return;
          ended = true;
          this.#again(relist, why);
        };
        const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
        const req = send(url, opts, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return end(true, `watch answered ${res.statusCode ?? 0}`);
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line.trim() && !this.#event(line)) {
                req.destroy();
                return end(true, 'resourceVersion too old (410)');
              }
            }
          });
          res.on('end', () => end(false, 'watch timeout'));
          res.on('error', (err) => end(true, err.message));
        });
        req.on('error', (err) => end(true, err.message));
        req.end();
        this.#req = req;
      },
      (err: unknown) => this.#again(true, (err as Error).message),
    );
  }

  /** Applies one watch event; false when the watch must start over with a list. */
  #event(line: string): boolean {
    let ev: { type: string; object: T & { code?: number } };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return false;
    }
    const obj = ev.object;
    if (ev.type === 'ERROR') return false;
    if (obj.metadata?.resourceVersion) this.#rv = obj.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return true;
    const k = keyOf(obj);
    if (ev.type === 'DELETED') {
      this.#items.delete(k);
      this.#o.onChange('deleted', obj);
    } else {
      const had = this.#items.has(k);
      this.#items.set(k, obj);
      this.#o.onChange(had ? 'modified' : 'added', obj);
    }
    return true;
  }
}
