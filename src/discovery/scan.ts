/**
 * The network scan: TCP connects to port 22 across a CIDR range (at most a /16), many at once but
 * never more than `concurrency`, each bounded by `timeoutMs`; the SSH banner read from each open port;
 * MAC addresses from the neighbour table (/proc/net/arp), where the connects just put them.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { parseCidr } from './cidr.js';
import { normalizeMac } from './oui.js';

export interface ScanOptions {
  cidr: string;
  port?: number;
  /** Per connect (default 800 ms). */
  timeoutMs?: number;
  /** How long to wait for the banner once connected (default 1500 ms). */
  bannerTimeoutMs?: number;
  /** Connects in flight at once (default 128, at most 1024). */
  concurrency?: number;
  /** Source address to connect from (explicit binding). */
  localAddress?: string;
  signal?: AbortSignal;
  /** Called for each open port as it is found. */
  onHit?: (hit: ScanHit) => void;
}

export interface ScanHit {
  address: string;
  port: number;
  /** The server's identification line, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6` (verbatim, at most 255 bytes). */
  banner: string | null;
  /** From the neighbour table after the scan. */
  mac: string | null;
}

/** Connects to one address; resolves with the banner (or null when none came) or undefined when closed. */
export function probePort(
  address: string,
  port: number,
  opts: { timeoutMs: number; bannerTimeoutMs: number; localAddress?: string },
): Promise<{ banner: string | null } | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    let buf = Buffer.alloc(0);
    let connected = false;
    const done = (v: { banner: string | null } | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    let timer = setTimeout(() => done(undefined), opts.timeoutMs);
    const bannerOf = () => {
      const nl = buf.indexOf(10);
      const line = buf
        .subarray(0, nl < 0 ? Math.min(buf.length, 255) : Math.min(nl, 255))
        .toString('latin1')
        .replace(/\r$/, '');
      return line.length > 0 ? line : null;
    };
    sock.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(() => done({ banner: bannerOf() }), opts.bannerTimeoutMs);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]).subarray(0, 512);
      if (buf.includes(10) || buf.length >= 255) done({ banner: bannerOf() });
    });
    sock.on('error', () => done(connected ? { banner: bannerOf() } : undefined));
    sock.on('close', () => done(connected ? { banner: bannerOf() } : undefined));
  });
}

/** The IPv4 neighbour table of this network namespace: address to MAC (complete entries only). */
export async function readNeighbours(path = '/proc/net/arp'): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').slice(1, 100_001)) {
    // IP address  HW type  Flags  HW address  Mask  Device; flags 0x2 = complete
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || (Number.parseInt(f[2]!, 16) & 2) === 0) continue;
    const mac = normalizeMac(f[3]!);
    if (mac) out.set(f[0]!, mac);
  }
  return out;
}

/** Scans the range; resolves with the hosts whose port answered, in address order. CIDR errors throw before any connect. */
export async function scan(opts: ScanOptions): Promise<ScanHit[]> {
  const range = parseCidr(opts.cidr);
  const port = opts.port ?? 22;
  const concurrency = Math.max(1, Math.min(1024, opts.concurrency ?? 128));
  const po = {
    timeoutMs: opts.timeoutMs ?? 800,
    bannerTimeoutMs: opts.bannerTimeoutMs ?? 1500,
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  };
  const hosts = range.hosts();
  const hits: ScanHit[] = [];
  const worker = async () => {
    for (let next = hosts.next(); !next.done; next = hosts.next()) {
      if (opts.signal?.aborted) return;
      const r = await probePort(next.value, port, po);
      if (r) {
        const hit = { address: next.value, port, banner: r.banner, mac: null };
        hits.push(hit);
        opts.onHit?.(hit);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, range.size) }, worker));
  const neigh = await readNeighbours();
  for (const h of hits) h.mac = neigh.get(h.address) ?? null;
  const key = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  return hits.sort((a, b) => key(a.address) - key(b.address));
}
