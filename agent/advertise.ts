/**
 * The agent's mDNS advertisement: `_pi-controller._tcp` with TXT `node`, `model`, `soc`, `version`
 * and `arch`, so discovery can tell which machines on the LAN run an agent. The agent listens on
 * no port (it dials the control plane), so the SRV record carries port 0: the record says where
 * the agent runs, not where to connect. A failure to advertise is logged and the agent runs on.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MdnsAdvertiser } from '../src/mdns/advertiser.js';

export const AGENT_SERVICE_TYPE = '_pi-controller._tcp';

export interface AdvertiseOptions {
  node: string;
  soc: string;
  simulated: boolean;
  version: string;
  /** Root the device-tree model is read under (`proc/device-tree/model`), then '/'; default '/'. */
  root?: string;
  /** Interface addresses (default: every non-internal IPv4 address). */
  addresses?: string[];
  log: Logger;
}

/**
 * The board's model as the device tree names it, from the first of `roots` that has
 * `proc/device-tree/model`, or a plain stand-in. The DaemonSet mounts the host's /sys under its
 * `--health-root` (/host) but the device tree at /proc/device-tree, so the agent looks under its
 * health root and then under `/`.
 */
export function boardModel(roots: string[], soc: string, simulated: boolean): string {
  for (const root of roots) {
    try {
      const m = readFileSync(join(root, 'proc/device-tree/model'), 'utf8').replace(/\0+$/, '').trim();
      if (m !== '') return m.slice(0, 200);
    } catch {
      // No device tree here (a PC, a container without /proc/device-tree).
    }
  }
  return simulated ? `simulated ${soc}` : 'unknown';
}

/** Starts advertising; resolves with the advertiser, or undefined (logged) when it cannot. */
export async function startAdvertising(o: AdvertiseOptions): Promise<MdnsAdvertiser | undefined> {
  try {
    const adv = new MdnsAdvertiser({
      type: AGENT_SERVICE_TYPE,
      instance: o.node,
      host: hostname(),
      port: 0,
      txt: {
        node: o.node,
        model: boardModel([...new Set([o.root ?? '/', '/'])], o.soc, o.simulated),
        soc: o.soc,
        version: o.version,
        arch: process.arch,
        ...(o.simulated ? { sim: '1' } : {}),
      },
      ...(o.addresses ? { addresses: o.addresses } : {}),
      log: o.log,
    });
    await adv.start();
    o.log.info({ instance: adv.instanceName }, 'advertising the agent over mDNS');
    return adv;
  } catch (err) {
    o.log.warn({ err: (err as Error).message }, 'not advertising the agent over mDNS');
    return undefined;
  }
}
