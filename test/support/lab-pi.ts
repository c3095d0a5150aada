/**
 * What Pi prep needs in a lab host's fake root besides the files lab-up.sh writes: a boot id, the
 * booted command line, a swap file, and stand-ins for the tools Pi prep calls by path under its
 * root: `sbin/reboot` (starts test/lab/lab-reboot.sh, which plays the firmware and kernel on the fake
 * root's files), `sbin/swapoff` and `sbin/dphys-swapfile` (act on the fake root's proc/swaps and
 * var/swap only: the real ones would turn off the machine's own swap).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Lab, LabHost } from './lab.js';
import { repoRoot } from './paths.js';

const SWAPS_HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

export function preparePiRoot(
  lab: Lab,
  host: LabHost,
  o: { cmdline?: string; cgroupMemory?: boolean; kernelIgnoresFlags?: boolean } = {},
): void {
  const r = host.root;
  const hostDir = join(lab.dir, 'hosts', host.id);
  const sh = (rel: string, body: string) => {
    mkdirSync(join(r, rel, '..'), { recursive: true });
    writeFileSync(join(r, rel), `#!/bin/sh\n${body}\n`);
    chmodSync(join(r, rel), 0o755);
  };
  mkdirSync(join(r, 'proc/sys/kernel/random'), { recursive: true });
  writeFileSync(join(r, 'proc/sys/kernel/random/boot_id'), randomUUID() + '\n');
  if (o.cmdline !== undefined) writeFileSync(join(r, 'boot/firmware/cmdline.txt'), o.cmdline);
  const first = readFileSync(join(r, 'boot/firmware/cmdline.txt'), 'utf8').split('\n')[0]!;
  writeFileSync(join(r, 'proc/cmdline'), first + '\n');
  if (o.cgroupMemory !== undefined) {
    const cg = readFileSync(join(r, 'proc/cgroups'), 'utf8').replace(/^(memory\t\d+\t\d+\t)[01]$/m, `$1${o.cgroupMemory ? 1 : 0}`);
    writeFileSync(join(r, 'proc/cgroups'), cg);
  }
  mkdirSync(join(r, 'var'), { recursive: true });
  writeFileSync(join(r, 'var/swap'), '');
  if (o.kernelIgnoresFlags) writeFileSync(join(hostDir, 'lab-kernel-ignores-cgroup-flags'), '');
  sh('sbin/reboot', `exec setsid -f bash '${join(repoRoot(), 'test/lab/lab-reboot.sh')}' '${r}' '${hostDir}' </dev/null >/dev/null 2>&1`);
  sh('sbin/swapoff', `printf '${SWAPS_HEADER.replace(/\t/g, '\\t').replace(/\n/g, '\\n')}' > '${r}proc/swaps'`);
  sh('sbin/dphys-swapfile', `case "$1" in\n  swapoff) '${r}sbin/swapoff' ;;\n  uninstall) rm -f '${r}var/swap' ;;\nesac`);
}
