/**
 * The discovery lab from the tests' side (test/lab/lab-up.sh does the work): bring it up for a test
 * and down again in its teardown, run commands inside its namespaces, and run discovery code in a
 * child process inside the controller's namespace (a Node process cannot change its own network
 * namespace). The tests' lab uses its own prefix and subnet, apart from a lab started by hand.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  hosts: LabHost[];
  /** Seconds lab-up.sh took. */
  upSeconds: number;
}

export const LAB_ENV = { LAB_PREFIX: 'pct', LAB_NET: '10.232.0', LAB_DIR: '/tmp/pi-controller-lab-test' };

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
  const env = { ...process.env, ...LAB_ENV };
  execFileSync('bash', [script('lab-down.sh')], { env, stdio: 'ignore' });
  t.teardown(() => void execFileSync('bash', [script('lab-down.sh')], { env, stdio: 'inherit' }));
  const t0 = Date.now();
  execFileSync('bash', [script('lab-up.sh'), '--hosts', String(hosts)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: scaled(120_000),
  });
  const lab = JSON.parse(readFileSync(join(LAB_ENV.LAB_DIR, 'lab.json'), 'utf8')) as Omit<Lab, 'upSeconds'>;
  return { ...lab, upSeconds: (Date.now() - t0) / 1000 };
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
