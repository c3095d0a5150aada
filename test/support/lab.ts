/**
 * The discovery lab from the tests' side (test/lab/lab-up.sh does the work): bring it up for a test
 * and down again in its teardown, run commands inside its namespaces, and run discovery code in a
 * child process inside the controller's namespace (a Node process cannot change its own network
 * namespace). Each lab a test brings up takes a free slot (its own prefix, subnet and directory), apart
 * from other tests' labs and from a lab started by hand.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

export interface LabHost {
  id: string;
  hostname: string;
  ns: string;
  mac: string;
  address: string;
  pose: 'zero2w' | '3bplus' | '4b' | '400' | '5';
  model: string;
  /** The host's fake root (with a trailing slash) holding the files a probe reads. */
  root: string;
  hostKeyFingerprint: string;
}

export interface Lab {
  prefix: string;
  dir: string;
  subnet: string;
  hub: string;
  controller: { ns: string; address: string };
  leaseFile: string;
  clientKey: string;
  /** The password of user `pwsudo`, whose sudo asks for it (full of shell metacharacters on purpose). */
  sudoPassword: string;
  hosts: LabHost[];
  /** The environment that names this lab to the lab scripts. */
  env: LabEnv;
  /** Seconds lab-up.sh took. */
  upSeconds: number;
}

/** The environment that names one lab to the lab scripts (test/lab/lab-env.sh). */
export interface LabEnv {
  LAB_PREFIX: string;
  LAB_NET: string;
  LAB_DIR: string;
}

const SLOTS_DIR = '/run/pi-controller-lab-slots';
const SLOTS = 40;

/**
 * Takes a free lab slot: its own namespace prefix, /24 and state directory, so labs of test files
 * that run side by side (or of two checkouts) never meet. A slot is a directory made atomically
 * with the owner's pid inside; a slot whose owner is gone is taken over. Returns the slot's
 * environment and a function that frees it.
 */
export function takeLabSlot(): { env: LabEnv; release: () => void } {
  mkdirSync(SLOTS_DIR, { recursive: true });
  for (let n = 1; n <= SLOTS; n++) {
    const dir = join(SLOTS_DIR, String(n));
    try {
      mkdirSync(dir);
    } catch {
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        // Made but not yet written, or being freed: someone else's.
        continue;
      }
      if (alive(owner)) continue;
      rmSync(dir, { recursive: true, force: true });
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
    }
    writeFileSync(join(dir, 'pid'), String(process.pid));
    const env = { LAB_PREFIX: `pt${n}`, LAB_NET: `10.232.${n}`, LAB_DIR: `/tmp/pi-controller-lab-test-${n}` };
    return { env, release: () => rmSync(dir, { recursive: true, force: true }) };
  }
  throw new Error(`all ${SLOTS} lab slots in ${SLOTS_DIR} are taken by live processes`);
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const script = (name: string) => join(repoRoot(), 'test', 'lab', name);

/** Why the lab cannot run here (not root, or programs missing), or undefined when it can. */
export function labSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces)';
  const r = spawnSync('bash', ['-c', `source ${script('lab-env.sh')} && lab_require`], { encoding: 'utf8' });
  if (r.status !== 0) return r.stderr.trim() || 'lab programs missing: run scripts/setup/50-lab.sh';
  return undefined;
}

/** Brings the lab up with `hosts` hosts and registers its teardown. */
export function labUp(t: { teardown(fn: () => void): void }, hosts: number): Lab {
  const slot = takeLabSlot();
  const env = { ...process.env, ...slot.env };
  // A lab left in this slot by a process that died is taken down first.
  execFileSync('bash', [script('lab-down.sh')], { env, stdio: 'ignore' });
  t.teardown(() => {
    try {
      execFileSync('bash', [script('lab-down.sh')], { env, stdio: 'inherit' });
    } finally {
      slot.release();
    }
  });
  const t0 = Date.now();
  // The lab's daemons outlive lab-up.sh and keep its stderr: a file, not this test's own stderr, so a
  // test process that dies before its teardown leaves the runner a closed pipe, not one held for ever.
  const errFile = join(slot.env.LAB_DIR, '..', `${basename(slot.env.LAB_DIR)}-up.stderr`);
  const errFd = openSync(errFile, 'w');
  try {
    execFileSync('bash', [script('lab-up.sh'), '--hosts', String(hosts)], {
      env,
      stdio: ['ignore', 'ignore', errFd],
      timeout: scaled(120_000),
    });
  } catch (err) {
    process.stderr.write(readFileSync(errFile, 'utf8'));
    throw err;
  } finally {
    closeSync(errFd);
  }
  const lab = JSON.parse(readFileSync(join(slot.env.LAB_DIR, 'lab.json'), 'utf8')) as Omit<Lab, 'upSeconds' | 'env'>;
  return { ...lab, env: slot.env, upSeconds: (Date.now() - t0) / 1000 };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv inside a namespace (`ip netns exec`), bounded by `timeoutMs` (stretched by the load). */
export function inNamespace(ns: string, argv: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), scaled(timeoutMs));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The compiled child script that runs one discovery operation and prints its JSON result. */
export const LAB_CHILD = join(repoRoot(), 'dist', 'test', 'support', 'lab-child.js');

export type ChildResult<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string; record?: unknown } };

/** Runs `op` of lab-child.js inside the controller's namespace (or `ns`, with `wrap` before node, e.g. `unshare -n`). */
export async function runChild<T>(
  lab: Lab,
  op: string,
  args: unknown,
  opts: { ns?: string; wrap?: string[]; timeoutMs?: number } = {},
): Promise<ChildResult<T>> {
  const r = await inNamespace(
    opts.ns ?? lab.controller.ns,
    [...(opts.wrap ?? []), process.execPath, LAB_CHILD, op, JSON.stringify(args)],
    opts.timeoutMs ?? 60_000,
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`lab child ${op} exited with ${r.code}: ${r.stderr}`);
  return JSON.parse(last) as ChildResult<T>;
}

/** Resolves with the first JSON log line of `child`'s stdout whose `msg` is `msg`. */
export function logLine(child: ChildProcess, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec['msg'] === msg) {
        clearTimeout(timer);
        resolve(rec);
      }
    });
  });
}

/**
 * Runs `pi-controller serve` in the lab's controller namespace on `dataDir` (JSON logs, no backup
 * timer, plus `env`); resolves once it listens, with its REST URL and, when its agent endpoint
 * listens too, that URL; `output()` is its log so far (the last MB). Stopped in the test's teardown.
 */
export async function serveInLab(
  t: { teardown(fn: () => void): void },
  lab: Lab,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; url: string; agentUrl: string | undefined; env: NodeJS.ProcessEnv; output: () => string }> {
  const all = { ...process.env, PI_CONTROLLER_LOG_FORMAT: 'json', PI_CONTROLLER_BACKUP_INTERVAL_MINUTES: '0', ...env };
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const child = spawn('ip', ['netns', 'exec', lab.controller.ns, process.execPath, main, 'serve', '--data-dir', dataDir, '--port', '0'], {
    env: all,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGTERM'));
  let agentUrl: string | undefined;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-1_000_000)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve did not start')), scaled(30_000));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const rec = JSON.parse(line) as { msg?: string; url?: string };
      if (rec.msg === 'agent endpoint listening (mutual TLS)') agentUrl = rec.url;
      if (rec.msg === 'control plane listening' && rec.url) {
        clearTimeout(timer);
        resolve(rec.url);
      }
    });
  });
  return { child, url, agentUrl, env: all, output: () => out };
}
