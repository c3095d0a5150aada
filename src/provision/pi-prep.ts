/**
 * Pi prep: what a Raspberry Pi needs before K3s, as steps of one job (kind `node.prepare`):
 *
 * 1. `cmdline`: find `cmdline.txt` (`/boot/firmware/` first, as Bookworm mounts the boot partition
 *    there, then `/boot/`) and put `cgroup_memory=1 cgroup_enable=memory` on its one line, once
 *    (a `cgroup_disable=memory` on the line is removed, it would win). A file whose command line is
 *    split over several lines is not edited: the firmware passes only the first line to the kernel,
 *    so the job stops with CMDLINE_SPLIT and says which lines it found.
 * 2. `swap-off`: swap off now (`swapoff -a`, `dphys-swapfile uninstall`) and after the next boot
 *    (dphys-swapfile's and zram's units masked).
 * 3. `reboot`: only when the running kernel does not have the memory controller or still has swap;
 *    records the boot id, reboots, and waits for SSH with a deadline, polling (no fixed sleep) until
 *    a login shows a new boot id.
 * 4. `verify-cgroups`: reads `/proc/cgroups`. With the memory controller off it stops with
 *    CGROUPS_NOT_ENABLED and a diagnosis from `/proc/cmdline` (what the kernel really booted with):
 *    flags missing there (the firmware read another file: the wrong partition or file), the file's line
 *    split, or flags present and ignored (the Pi 5 kernel quirk, or a kernel without the controller).
 *
 * Every path, and the tools called by path, sit under `root` (default `/`). Tests point it at a lab
 * host's fake root; nothing else changes between the lab and a Pi.
 */
import { ProvisionError } from './errors.js';
import type { JobDefinition, Step, StepContext } from './jobs.js';
import { cmd, shC, shq } from './quote.js';

export const PREPARE_KIND = 'node.prepare';

export const CGROUP_FLAGS = ['cgroup_memory=1', 'cgroup_enable=memory'] as const;

export interface PrepParams {
  /** Prefix of every path (default `/`; tests only). Absolute, ending in `/`. */
  root?: string;
  /** How long a reboot may take until SSH answers again (default 5 min). */
  rebootTimeoutMs?: number;
}

/** Where the reboot step notes the boot id it rebooted from. */
const MARKER = 'var/lib/pi-controller/prep-reboot-from';

function rootOf(p: Record<string, unknown>): string {
  const root = typeof p.root === 'string' ? p.root : '/';
  if (!root.startsWith('/') || !root.endsWith('/') || root.includes('\0'))
    throw new ProvisionError('INVALID_ARGUMENT', `root must be an absolute directory path ending in /: ${JSON.stringify(root)}`);
  return root;
}

/** The lines of a cmdline.txt that carry anything (blank lines and trailing newlines do not count). */
export function cmdlineLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** The one-line command line with the cgroup flags present exactly once each and no `cgroup_disable=memory`. */
export function withCgroupFlags(line: string): string {
  const tokens = line
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '' && t !== 'cgroup_disable=memory');
  for (const f of CGROUP_FLAGS) if (!tokens.includes(f)) tokens.push(f);
  return tokens.join(' ');
}

/** True when the line has both flags and does not disable the controller. */
export function hasCgroupFlags(line: string): boolean {
  const tokens = line.trim().split(/\s+/);
  return CGROUP_FLAGS.every((f) => tokens.includes(f)) && !tokens.includes('cgroup_disable=memory');
}

/** The `enabled` column of the memory line of /proc/cgroups. */
export function memoryControllerOn(procCgroups: string): boolean {
  const line = procCgroups.split('\n').find((l) => /^memory\s/.test(l));
  return line !== undefined && line.trim().split(/\s+/)[3] === '1';
}

/** Active swap devices listed in /proc/swaps (its first line is a header). */
export function activeSwaps(procSwaps: string): string[] {
  return procSwaps
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

async function read(ctx: StepContext, path: string): Promise<string | undefined> {
  const r = await ctx.exec(cmd('cat', '--', path), { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout : undefined;
}

/** The cmdline.txt the firmware reads: `/boot/firmware/cmdline.txt`, else `/boot/cmdline.txt`. */
async function findCmdline(ctx: StepContext, root: string): Promise<{ path: string; text: string }> {
  for (const p of [`${root}boot/firmware/cmdline.txt`, `${root}boot/cmdline.txt`]) {
    const text = await read(ctx, p);
    if (text !== undefined) return { path: p, text };
  }
  throw new ProvisionError('CMDLINE_NOT_FOUND', `${ctx.login.host}: no cmdline.txt in ${root}boot/firmware/ or ${root}boot/`);
}

function splitDiagnosis(host: string, path: string, lines: string[]): ProvisionError {
  return new ProvisionError(
    'CMDLINE_SPLIT',
    `${host}: ${path} holds ${lines.length} lines, but the firmware passes only the first one to the kernel; ` +
      `join them into one line by hand (nothing was edited): ${lines.map((l) => JSON.stringify(l)).join(' / ')}`,
    { details: { path, lines } },
  );
}

const bootId = async (ctx: StepContext, root: string) => (await read(ctx, `${root}proc/sys/kernel/random/boot_id`))?.trim() ?? '';

export function prepSteps(params: Record<string, unknown>): Step[] {
  const root = rootOf(params);
  const rebootTimeoutMs = typeof params.rebootTimeoutMs === 'number' ? params.rebootTimeoutMs : 300_000;
  const masks = [`${root}etc/systemd/system/dphys-swapfile.service`, `${root}etc/systemd/system/systemd-zram-setup@zram0.service`];
  const kernelReady = async (ctx: StepContext) => {
    const cg = await read(ctx, `${root}proc/cgroups`);
    const swaps = await read(ctx, `${root}proc/swaps`);
    return cg !== undefined && memoryControllerOn(cg) && swaps !== undefined && activeSwaps(swaps).length === 0;
  };
  return [
    {
      name: 'cmdline',
      check: async (ctx) => {
        const { path, text } = await findCmdline(ctx, root);
        const lines = cmdlineLines(text);
        if (lines.length > 1) throw splitDiagnosis(ctx.login.host, path, lines);
        return lines.length === 1 && hasCgroupFlags(lines[0]!);
      },
      run: async (ctx) => {
        const { path, text } = await findCmdline(ctx, root);
        const lines = cmdlineLines(text);
        if (lines.length !== 1) throw splitDiagnosis(ctx.login.host, path, lines);
        const next = withCgroupFlags(lines[0]!);
        ctx.log(`${path}: ${next}`);
        // The first edit keeps the original beside it. Written in place (the boot partition is FAT:
        // no modes, no owners to carry over), then read back.
        await ctx.run(cmd('cp', '-n', '--', path, `${path}.pi-controller.orig`), { sudo: true });
        await ctx.run(shC(`printf '%s\\n' ${shq(next)} > ${shq(path)}`), { sudo: true });
        const back = await read(ctx, path);
        if (back !== next + '\n')
          throw new ProvisionError('STEP_FAILED', `${ctx.login.host}: ${path} reads back differently after the edit`);
      },
    },
    {
      name: 'swap-off',
      check: async (ctx) => {
        const swaps = await read(ctx, `${root}proc/swaps`);
        if (swaps === undefined || activeSwaps(swaps).length > 0) return false;
        for (const m of masks) if ((await ctx.exec(cmd('test', '-L', m))).code !== 0) return false;
        return true;
      },
      run: async (ctx) => {
        const script = [
          cmd('mkdir', '-p', '--', `${root}etc/systemd/system`),
          ...masks.map((m) => cmd('ln', '-sfn', '/dev/null', m)),
          `if [ -x ${shq(`${root}sbin/dphys-swapfile`)} ]; then ${cmd(`${root}sbin/dphys-swapfile`, 'swapoff')}; ${cmd(`${root}sbin/dphys-swapfile`, 'uninstall')}; fi`,
          cmd(`${root}sbin/swapoff`, '-a'),
        ].join(' && ');
        await ctx.run(shC(script), { sudo: true, timeoutMs: 120_000 });
      },
    },
    {
      name: 'reboot',
      // Done when the running kernel is ready, or when this job has rebooted the host already
      // (a new boot id since the marker): whether that helped is the next step's question.
      check: async (ctx) => {
        if (await kernelReady(ctx)) return true;
        const from = (await read(ctx, `${root}${MARKER}`))?.trim();
        return from !== undefined && from !== '' && from !== (await bootId(ctx, root));
      },
      run: async (ctx) => {
        const before = await bootId(ctx, root);
        if (before === '') throw new ProvisionError('STEP_FAILED', `${ctx.login.host}: cannot read the boot id`);
        await ctx.run(
          shC(`${cmd('mkdir', '-p', '--', `${root}var/lib/pi-controller`)} && printf '%s\\n' ${shq(before)} > ${shq(`${root}${MARKER}`)}`),
          {
            sudo: true,
          },
        );
        ctx.log(`rebooting (boot id ${before}); waiting up to ${Math.round(rebootTimeoutMs / 1000)} s for SSH`);
        // Detached, so the command returns before the connection goes down with the host.
        await ctx
          .exec(shC(`${cmd(`${root}sbin/reboot`)} </dev/null >/dev/null 2>&1 &`), { sudo: true, timeoutMs: 30_000 })
          .catch((err: unknown) => ctx.log(`reboot command: ${(err as Error).message}`));
        ctx.ssh.close();
        const until = Date.now() + rebootTimeoutMs;
        for (;;) {
          const left = until - Date.now();
          if (left <= 0) throw new ProvisionError('REBOOT_TIMEOUT', `${ctx.login.host}: no new boot within ${rebootTimeoutMs} ms`);
          await ctx.reconnect(left);
          const now = await bootId(ctx, root).catch(() => '');
          if (now !== '' && now !== before) {
            ctx.log(`back up (boot id ${now})`);
            return;
          }
          // Still the old boot (SSH answered before going down): wait for it to go.
          ctx.ssh.close();
          await new Promise((r) => setTimeout(r, 500));
        }
      },
    },
    {
      name: 'verify-cgroups',
      check: async (ctx) => {
        const cg = await read(ctx, `${root}proc/cgroups`);
        return cg !== undefined && memoryControllerOn(cg);
      },
      run: async (ctx) => {
        throw await diagnose(ctx, root);
      },
    },
  ];
}

/** Why the memory controller is off after the reboot. */
async function diagnose(ctx: StepContext, root: string): Promise<ProvisionError> {
  const host = ctx.login.host;
  const booted = ((await read(ctx, `${root}proc/cmdline`)) ?? '').trim();
  const model = ((await read(ctx, `${root}proc/device-tree/model`)) ?? '').replace(/\0/g, '').trim();
  const files: string[] = [];
  for (const p of [`${root}boot/firmware/cmdline.txt`, `${root}boot/cmdline.txt`]) {
    const text = await read(ctx, p);
    if (text !== undefined)
      files.push(`${p}: ${cmdlineLines(text).length} line(s)${hasCgroupFlags(cmdlineLines(text)[0] ?? '') ? ', flags present' : ''}`);
  }
  const details = { bootedCmdline: booted, model, files };
  const say = (why: string) =>
    new ProvisionError('CGROUPS_NOT_ENABLED', `${host}: the memory cgroup controller is off after the reboot: ${why}`, { details });
  const fw = files.find((f) => f.includes('boot/firmware/cmdline.txt'));
  if (!hasCgroupFlags(booted)) {
    if (files.some((f) => / [2-9]\d* line\(s\)/.test(f)))
      return say(
        `the kernel booted without the flags and cmdline.txt is split over several lines (only the first is used). ${files.join('; ')}`,
      );
    return say(
      `the kernel booted without the flags (/proc/cmdline: ${JSON.stringify(booted)}), so the firmware read another cmdline.txt than the one edited ` +
        `(wrong file or wrong boot partition${fw ? '' : '; on Bookworm it is /boot/firmware/cmdline.txt'}). ${files.join('; ')}`,
    );
  }
  if (/Raspberry Pi 5/.test(model))
    return say(
      `the kernel booted with the flags but left the controller off: the Pi 5 kernel quirk (${model}). ` +
        'Update the kernel and firmware (apt full-upgrade, rpi-eeprom-update) and check /proc/cmdline for a later cgroup_disable=memory.',
    );
  return say(
    `the kernel booted with the flags but left the controller off (${model || 'unknown model'}): a kernel without the memory controller?`,
  );
}

/** The `node.prepare` job kind. */
export function prepareKind(): JobDefinition {
  return { kind: PREPARE_KIND, steps: prepSteps };
}
