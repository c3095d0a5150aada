/**
 * The capability probe: one fixed, read-only command run over SSH, whose output is parsed here and
 * never executed. The SSH transport is OpenSSH's client (`ssh`, `ssh-keyscan`): the host key is read
 * first and compared with the pinned fingerprint (pinned on first contact), and the login then trusts
 * only that key (StrictHostKeyChecking=yes against a one-key known_hosts file), so a changed key is
 * refused before anything runs.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryError } from './errors.js';

export interface Capabilities {
  model: string | null;
  compatible: string[];
  /** e.g. `BCM2711`, from the device tree, else from the revision code. */
  soc: string | null;
  /** The revision code from /proc/cpuinfo, hex, e.g. `d03115`. */
  revision: string | null;
  /** Memory the revision code says the board has (MB). */
  boardMemoryMb: number | null;
  /** MemTotal (MB). */
  memoryMb: number | null;
  cpus: number;
  arch: string | null;
  os: string | null;
  kernel: string | null;
  bootMedia: 'sd' | 'usb' | 'nvme' | 'unknown';
  /** Said when etcd would run on an SD card. */
  warnings: string[];
  /** The memory cgroup controller is enabled (/proc/cgroups). */
  cgroupMemory: boolean;
  swapMb: number;
  gpiochips: string[];
  i2cBuses: number[];
  k3s: boolean;
}

const FILES = [
  'proc/device-tree/model',
  'proc/device-tree/compatible',
  'proc/cpuinfo',
  'proc/meminfo',
  'proc/swaps',
  'proc/cgroups',
  'boot/firmware/cmdline.txt',
  'boot/cmdline.txt',
  'etc/os-release',
  'proc/sys/kernel/osrelease',
  'proc/sys/kernel/arch',
] as const;

const MAX_OUTPUT = 256 * 1024;

/**
 * The one command the probe runs. `root` prefixes every path read (default `/`; the lab points it at
 * a host's fake root); it must be an absolute path of plain characters, so it cannot change the command.
 */
export function probeCommand(root = '/'): string {
  if (!/^\/([A-Za-z0-9._-]+\/)*$/.test(root))
    throw new DiscoveryError(
      'PROBE_ROOT_INVALID',
      `probe root must be an absolute directory path ending in /, of [A-Za-z0-9._-] only: ${JSON.stringify(root)}`,
    );
  const reads = FILES.map((f) => `echo '@@@ ${f}'; tr '\\000' '\\n' < '${root}${f}' 2>/dev/null | head -c 65536`).join('; ');
  return (
    `${reads}; echo '@@@ dev'; ls '${root}dev' 2>/dev/null | grep -E '^(gpiochip[0-9]+|i2c-[0-9]+)$'; ` +
    `echo '@@@ uname'; uname -m; echo '@@@ k3s'; [ -x '${root}usr/local/bin/k3s' ] && echo present; echo '@@@ end'`
  );
}

const SOC_BY_PROCESSOR = ['BCM2835', 'BCM2836', 'BCM2837', 'BCM2711', 'BCM2712'];
const MEM_MB = [256, 512, 1024, 2048, 4096, 8192, 16384];

/** Parses the probe command's output (text only: nothing in it is run or interpreted beyond fields). */
export function parseProbe(output: string): Capabilities {
  const sections = new Map<string, string>();
  let cur: string | undefined;
  for (const line of output.slice(0, MAX_OUTPUT).split('\n')) {
    const m = /^@@@ (.+)$/.exec(line);
    if (m) {
      cur = m[1]!;
      sections.set(cur, '');
    } else if (cur !== undefined) sections.set(cur, sections.get(cur)! + line + '\n');
  }
  const sec = (k: string) => (sections.get(k) ?? '').trim();
  const model = sec('proc/device-tree/model').split('\n')[0] || null;
  const compatible = sec('proc/device-tree/compatible').split('\n').filter(Boolean);
  const cpuinfo = sec('proc/cpuinfo');
  const revision = /^Revision\s*:\s*([0-9a-fA-F]+)/m.exec(cpuinfo)?.[1]?.toLowerCase() ?? null;
  const rev = revision ? parseInt(revision, 16) : 0;
  const newStyle = (rev & (1 << 23)) !== 0;
  const socFromDt = compatible.map((c) => /^brcm,(bcm\d+)$/.exec(c)?.[1]).find(Boolean);
  const soc = socFromDt ? socFromDt.toUpperCase() : newStyle ? (SOC_BY_PROCESSOR[(rev >> 12) & 0xf] ?? null) : null;
  const kb = (k: string, text: string) => {
    const m = new RegExp(`^${k}:\\s*(\\d+) kB`, 'm').exec(text);
    return m ? Math.round(Number(m[1]) / 1024) : null;
  };
  const meminfo = sec('proc/meminfo');
  const swaps = sec('proc/swaps')
    .split('\n')
    .slice(1)
    .map((l) => Number(l.trim().split(/\s+/)[2] ?? 0))
    .filter((n) => Number.isFinite(n));
  const cgroupLine = sec('proc/cgroups')
    .split('\n')
    .find((l) => /^memory\s/.test(l));
  const cmdline = sec('boot/firmware/cmdline.txt') || sec('boot/cmdline.txt');
  const rootDev = /(?:^|\s)root=(\S+)/.exec(cmdline)?.[1] ?? '';
  const bootMedia: Capabilities['bootMedia'] = /mmcblk/.test(rootDev)
    ? 'sd'
    : /nvme/.test(rootDev)
      ? 'nvme'
      : /\/dev\/sd[a-z]/.test(rootDev)
        ? 'usb'
        : 'unknown';
  const dev = sec('dev').split('\n').filter(Boolean);
  const osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(sec('etc/os-release'))?.[1] ?? null;
  return {
    model,
    compatible,
    soc,
    revision,
    boardMemoryMb: newStyle ? (MEM_MB[(rev >> 20) & 7] ?? null) : null,
    memoryMb: kb('MemTotal', meminfo),
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    arch: sec('proc/sys/kernel/arch') || sec('uname') || null,
    os: osName,
    kernel: sec('proc/sys/kernel/osrelease') || null,
    bootMedia,
    warnings:
      bootMedia === 'sd'
        ? ['boots from an SD card: etcd on SD wears the card and stalls on slow writes; use a USB or NVMe disk for servers']
        : [],
    cgroupMemory: cgroupLine !== undefined && cgroupLine.trim().split(/\s+/)[3] === '1',
    swapMb: Math.round(swaps.reduce((a, b) => a + b, 0) / 1024),
    gpiochips: dev.filter((d) => d.startsWith('gpiochip')).sort(),
    i2cBuses: dev
      .filter((d) => d.startsWith('i2c-'))
      .map((d) => Number(d.slice(4)))
      .sort((a, b) => a - b),
    k3s: sec('k3s') === 'present',
  };
}

/** `SHA256:...` of an OpenSSH public key blob (base64), as `ssh-keygen -l` prints it. */
export function fingerprint(keyBase64: string): string {
  return 'SHA256:' + createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('base64').replace(/=+$/, '');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ProbeOptions {
  address: string;
  port?: number;
  user: string;
  /** Private key file for the login. */
  identityFile: string;
  /** The fingerprint pinned earlier; absent on first contact (then the key read now is pinned). */
  pinnedFingerprint?: string | null;
  /** Path prefix of the files read (default `/`). */
  root?: string;
  timeoutMs?: number;
}

export interface ProbeResult {
  hostKeyFingerprint: string;
  capabilities: Capabilities;
}

/**
 * Probes one host. Throws HOST_KEY_MISMATCH (nothing is run on the host) when its key differs from
 * the pinned one, PROBE_FAILED when it cannot be reached or logged in to.
 */
export async function probeHost(o: ProbeOptions): Promise<ProbeResult> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const port = String(o.port ?? 22);
  const command = probeCommand(o.root ?? '/');
  const scan = await run(
    'ssh-keyscan',
    ['-T', String(Math.ceil(timeoutMs / 1000)), '-p', port, '-t', 'ed25519', o.address],
    timeoutMs + 1000,
  );
  const line = scan.stdout.split('\n').find((l) => /^\S+ ssh-ed25519 [A-Za-z0-9+/=]+$/.test(l.trim()));
  if (!line) throw new DiscoveryError('PROBE_FAILED', `no ed25519 host key from ${o.address}:${port}: ${scan.stderr.trim().slice(0, 200)}`);
  const [, type, key] = line.trim().split(' ') as [string, string, string];
  const fp = fingerprint(key);
  if (o.pinnedFingerprint && o.pinnedFingerprint !== fp)
    throw new DiscoveryError(
      'HOST_KEY_MISMATCH',
      `the host key of ${o.address} changed: pinned ${o.pinnedFingerprint}, offered ${fp}; not probed`,
      {
        details: { address: o.address, pinned: o.pinnedFingerprint, offered: fp },
      },
    );
  const dir = await mkdtemp(join(tmpdir(), 'pic-probe-'));
  try {
    const known = join(dir, 'known_hosts');
    await writeFile(known, `${port === '22' ? o.address : `[${o.address}]:${port}`} ${type} ${key}\n`, { mode: 0o600 });
    const r = await run(
      'ssh',
      [
        '-i',
        o.identityFile,
        '-p',
        port,
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${known}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'HostKeyAlgorithms=ssh-ed25519',
        '-o',
        `ConnectTimeout=${Math.ceil(timeoutMs / 1000)}`,
        '-l',
        o.user,
        o.address,
        '--',
        command,
      ],
      timeoutMs,
    );
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/.test(r.stderr))
      throw new DiscoveryError('HOST_KEY_MISMATCH', `the host key of ${o.address} changed during the probe; not probed`, {
        details: { address: o.address },
      });
    if (!r.stdout.includes('@@@ end'))
      throw new DiscoveryError('PROBE_FAILED', `probe of ${o.address} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`);
    return { hostKeyFingerprint: fp, capabilities: parseProbe(r.stdout) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
