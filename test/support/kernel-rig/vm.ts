/**
 * The kernel rig's VM runner: boots the kernel that scripts/setup/30-kernel-rig.sh prepared in
 * qemu (TCG) with the host's / shared read-only and an output folder shared read-write, runs one
 * command inside, and returns the command's exit status and the serial console.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { loadFactor } from '../wait.js';

export interface Rig {
  dir: string;
  vmlinuz: string;
  initramfs: string;
  kernelVersion: string;
  modules: string[];
}

/** The prepared rig, or a reason why there is none. */
export function findRig(): Rig | { missing: string } {
  const r = spawnSync('bash', ['-c', 'source scripts/lib.sh && cache_dir'], { cwd: repoRoot(), encoding: 'utf8' });
  const cache = r.stdout.trim();
  const pointer = join(cache, 'kernel-rig.current');
  if (r.status !== 0 || !existsSync(pointer)) return { missing: `no kernel rig in ${cache}: run scripts/setup/30-kernel-rig.sh (as root)` };
  const dir = readFileSync(pointer, 'utf8').trim();
  if (!existsSync(join(dir, 'ready'))) return { missing: `kernel rig in ${dir} is incomplete` };
  const which = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']);
  if (which.status !== 0) return { missing: 'qemu-system-x86_64 is not installed' };
  return {
    dir,
    vmlinuz: join(dir, 'vmlinuz'),
    initramfs: join(dir, 'initramfs.cpio.gz'),
    kernelVersion: readFileSync(join(dir, 'kernel-version'), 'utf8').trim(),
    modules: readFileSync(join(dir, 'modules'), 'utf8').trim().split(/\s+/),
  };
}

export interface GuestRun {
  /** The guest command's exit status; null when the guest never reported one. */
  status: number | null;
  console: string;
  ms: number;
}

/**
 * Boots the rig and runs `cmd` (an absolute path inside the host's tree) with `outDir` as its
 * current folder. Bounded by `timeoutMs`: on expiry qemu is killed and status is null.
 */
export function runGuest(rig: Rig, cmd: string, outDir: string, timeoutMs = 150_000): Promise<GuestRun> {
  const args = [
    // TCG: /dev/kvm on these machines does not boot a stock kernel.
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-m',
    '1024',
    '-smp',
    '2',
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    rig.vmlinuz,
    '-initrd',
    rig.initramfs,
    '-append',
    `console=ttyS0 quiet loglevel=4 panic=-1 pc.out=${outDir} pc.cmd=${cmd} pc.repo=${repoRoot()} pc.scale=${loadFactor().toFixed(2)}`,
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${outDir},mount_tag=out,security_model=none`,
    '-device',
    'isa-debug-exit,iobase=0xf4,iosize=0x04',
  ];
  const start = Date.now();
  return new Promise((resolve, reject) => {
    // stdin must not be a terminal or a pipe qemu waits on: it can hang on the serial console.
    // Its own process group: signals aimed at the test runner's group do not reach the VM.
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    qemu.stdout.on('data', (d: Buffer) => (out += d.toString()));
    qemu.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => qemu.kill('SIGKILL'), timeoutMs);
    // If this process ends first (tap timeout, ^C), do not leave the VM running.
    const reap = (): void => void qemu.kill('SIGKILL');
    process.once('exit', reap);
    qemu.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    qemu.on('close', (code) => {
      clearTimeout(timer);
      process.removeListener('exit', reap);
      // isa-debug-exit makes qemu exit with 2*v+1, and the init writes v = status+16.
      const ok = code !== null && code >= 33 && code % 2 === 1;
      resolve({ status: ok ? (code - 33) / 2 : null, console: out, ms: Date.now() - start });
    });
  });
}
