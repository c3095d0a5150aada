/**
 * The pi-controller agent on a provisioned node as a systemd unit, enrolled with a one-time join
 * token (the other way to run it is the DaemonSet of agent/deploy/, from the same image).
 *
 * What lands on the host comes from the agent image of `npm run image` (an OCI image layout on
 * the control plane's machine): the three layers of the host's own platform (from `uname -m`:
 * amd64, arm64, arm/v7) are uploaded with their digests checked and unpacked into
 * /opt/pi-controller/agent/rootfs. The unit runs the image's entry point in that root
 * (`RootDirectory=`, with /proc, /sys and /dev mounted by `MountAPIVFS=`), so the node needs no
 * Node.js, no npm and no network access beyond the control plane: the image brings its own C
 * library, Node and prebuild. The state directory /var/lib/pi-controller-agent (the key, the
 * certificate, the desired state) is bound into the root from the host.
 *
 * The daemon mints a join token for the node's name (its host name, as K3s names the Node); it is
 * written root-only into the state directory, the agent spends it on its first start, and the
 * step removes the file once the agent is online. The step is done when the unit file exists and
 * the agent of that name is connected.
 *
 * {@link removeAgentUnit} stops and disables the unit and removes every file above;
 * {@link agentLeftovers} names what is left (files, and processes whose root is the unit's root).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProvisionError } from './errors.js';
import type { StepContext } from './jobs.js';
import { hostTool, sleep, type Host, type Paths } from './k3s.js';
import { cmd, raw } from './quote.js';

export const AGENT_UNIT = 'pi-controller-agent';

/** Where the agent runs from: an image layout, and whether it simulates the Pi (an x86 node). */
export interface AgentUnitOptions {
  /** The directory of an OCI image layout made by `npm run image` (on the control plane's machine). */
  image: string;
  /** `--sim`: the behavioural register model instead of the GPIO device (a node that is not a Pi). */
  sim?: boolean;
}

/** What the step needs of the daemon's agent endpoint. */
export interface AgentEnrolment {
  /** A one-time join token for `node`, and the agent endpoint's URL. */
  mint(node: string): { token: string; server: string };
  /** True while an agent of that node name is connected. */
  connected(node: string): boolean;
  /** Revokes every certificate issued to that node name (and closes its link); the serials revoked. */
  revoke(node: string): string[];
}

/** The unit's files on a host under `P`. */
export function agentPaths(P: Paths) {
  const dir = `${P.root}opt/pi-controller/agent`;
  const state = `${P.root}var/lib/pi-controller-agent`;
  return {
    dir,
    rootfs: `${dir}/rootfs`,
    layers: `${dir}/layers`,
    state,
    token: `${state}/join-token`,
    unit: `${P.systemd}/${AGENT_UNIT}.service`,
    wants: `${P.systemd}/multi-user.target.wants/${AGENT_UNIT}.service`,
  };
}

/** The state directory as the agent sees it inside its root. */
const STATE_IN_ROOT = '/var/lib/pi-controller-agent';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
}

/** The OCI platform of a host from its `uname -m`, or a coded error for one the image has no build for. */
export function platformOf(machine: string): { architecture: string; variant?: string } {
  const m = machine.trim();
  if (m === 'x86_64' || m === 'amd64') return { architecture: 'amd64' };
  if (m === 'aarch64' || m === 'arm64') return { architecture: 'arm64' };
  if (m === 'armv7l' || m === 'armv8l') return { architecture: 'arm', variant: 'v7' };
  throw new ProvisionError(
    'INVALID_ARGUMENT',
    `the agent image has no build for a ${m || 'unknown'} machine (amd64, arm64 and arm/v7 only)`,
    {
      details: { machine: m },
    },
  );
}

const blobOf = <T>(dir: string, digest: string): T => {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ProvisionError('INVALID_ARGUMENT', `${dir}: bad digest ${digest}`);
  return JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as T;
};

const slug = (p?: { architecture: string; variant?: string }) => (p ? `${p.architecture}${p.variant ? `/${p.variant}` : ''}` : '?');

/** The platform manifests of the image layout at `dir` (INVALID_ARGUMENT when it is none). */
export function imagePlatforms(dir: string): Descriptor[] {
  try {
    let index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    // index.json names one image index over the platforms (scripts/image/build.mjs), or the platforms themselves.
    const nested = index.manifests.find((m) => m.mediaType === 'application/vnd.oci.image.index.v1+json');
    if (nested) index = blobOf<{ manifests: Descriptor[] }>(dir, nested.digest);
    const found = index.manifests.filter((m) => m.platform?.os === 'linux');
    if (found.length === 0) throw new Error('no linux image in it');
    return found;
  } catch (err) {
    if (err instanceof ProvisionError) throw err;
    throw new ProvisionError('INVALID_ARGUMENT', `${dir} is not an agent image layout (npm run image): ${(err as Error).message}`, {
      details: { image: dir },
    });
  }
}

/** The layers (digest and size) and entry point of `platform`'s image in the layout at `dir`. */
export function imageFor(
  dir: string,
  platform: { architecture: string; variant?: string },
): { layers: Descriptor[]; entrypoint: string[] } {
  const all = imagePlatforms(dir);
  const d = all.find((m) => m.platform!.architecture === platform.architecture && (m.platform!.variant ?? '') === (platform.variant ?? ''));
  if (!d) {
    const have = all.map((m) => slug(m.platform));
    throw new ProvisionError(
      'INVALID_ARGUMENT',
      `the agent image in ${dir} has no linux/${slug(platform)} build (it has ${have.join(', ')})`,
      {
        details: { platform: slug(platform), have },
      },
    );
  }
  const manifest = blobOf<{ config: Descriptor; layers: Descriptor[] }>(dir, d.digest);
  const config = blobOf<{ config?: { Entrypoint?: string[] } }>(dir, manifest.config.digest);
  const entrypoint = config.config?.Entrypoint ?? [];
  if (entrypoint.length === 0)
    throw new ProvisionError('INVALID_ARGUMENT', `the agent image's linux/${slug(platform)} config has no entry point`);
  return { layers: manifest.layers, entrypoint };
}

/**
 * A value written into the unit file: systemd reads `%` specifiers, `$` variables, quotes,
 * backslashes and white space in it, so a value with any of them is refused rather than escaped.
 */
export function unitWord(what: string, v: string): string {
  if (!/^[A-Za-z0-9/_.:@+=,[\]-]+$/.test(v))
    throw new ProvisionError('INVALID_ARGUMENT', `${what} cannot go into a systemd unit: ${JSON.stringify(v)}`, { details: { [what]: v } });
  return v;
}

/** The unit file for the agent in `rootfs`, dialling `server` as `node`. */
export function agentUnitText(o: {
  rootfs: string;
  state: string;
  entrypoint: string[];
  server: string;
  node: string;
  sim?: boolean;
}): string {
  const exec = [
    ...o.entrypoint.map((w) => unitWord('entry point', w)),
    '--server',
    unitWord('server', o.server),
    '--node-name',
    unitWord('node', o.node),
    '--state-dir',
    STATE_IN_ROOT,
    '--join-token-file',
    `${STATE_IN_ROOT}/join-token`,
    ...(o.sim ? ['--sim'] : []),
  ];
  return [
    '# The pi-controller node agent, installed by cluster provisioning from the agent image',
    '# (its own C library and Node in RootDirectory); removed by cluster remove-node and reset.',
    '[Unit]',
    'Description=pi-controller node agent (GPIO/PWM/I2C, mutual TLS to the control plane)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `RootDirectory=${unitWord('rootfs', o.rootfs)}`,
    // /proc, /sys (device tree, thermal, firmware) and /dev (gpiomem, i2c) of the host inside the root.
    'MountAPIVFS=yes',
    `BindPaths=${unitWord('state', o.state)}:${STATE_IN_ROOT}`,
    'BindReadOnlyPaths=-/etc/resolv.conf -/etc/hosts',
    `ExecStart=${exec.join(' ')}`,
    // Stopping leaves every pin as it is.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=5',
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** True when `h` has the unit file and the agent of node `node` (its host name) is connected. */
export async function agentUnitDone(h: Host, P: Paths, enrolment: AgentEnrolment | undefined, node: string): Promise<boolean> {
  if (!(enrolment?.connected(node) ?? false)) return false;
  return (await h.exec(cmd('test', '-f', agentPaths(P).unit), { sudo: true })).code === 0;
}

/** Installs and enrols the agent on `h` (see the file's header); a no-op where it is installed and online. */
export async function installAgentUnit(
  h: Host,
  P: Paths,
  o: AgentUnitOptions,
  enrolment: AgentEnrolment,
  ctx: Pick<StepContext, 'log' | 'signal'>,
  onlineTimeoutMs = 120_000,
): Promise<void> {
  const A = agentPaths(P);
  const node = (await h.run(cmd('hostname'))).stdout.trim();
  if (await agentUnitDone(h, P, enrolment, node)) {
    ctx.log(`${h.login.host}: the agent of ${node} is installed and online`);
    return;
  }
  const platform = platformOf((await h.run(cmd('uname', '-m'))).stdout);
  const image = imageFor(o.image, platform);
  await h.run(cmd('mkdir', '-p', A.layers), { sudo: true });
  const files: string[] = [];
  for (const l of image.layers) {
    const hex = l.digest.replace(/^sha256:/, '');
    const dest = `${A.layers}/${hex}.tar.gz`;
    const sha = await h.ssh.upload(join(o.image, 'blobs', 'sha256', hex), dest, { mode: 0o600, sudo: true, timeoutMs: 600_000 });
    if (sha !== hex) throw new ProvisionError('UPLOAD_CHECKSUM_MISMATCH', `${h.login.host}: layer ${l.digest} arrived as sha256:${sha}`);
    files.push(dest);
  }
  // Unpacked beside the old root, then swapped in: a failed unpack leaves the old one.
  const unpack =
    'set -e; r=$1; shift; rm -rf "$r.new"; mkdir -p "$r.new"; for l in "$@"; do tar -xzf "$l" -C "$r.new" --no-same-owner; done; ' +
    'mkdir -p "$r.new/proc" "$r.new/sys" "$r.new/dev" "$r.new/var/lib/pi-controller-agent"; rm -rf "$r"; mv "$r.new" "$r"; rm -rf "$(dirname "$1")"';
  await h.run(cmd('sh', '-c', unpack, 'sh', A.rootfs, ...files), { sudo: true, timeoutMs: 300_000 });
  ctx.log(`${h.login.host}: agent image linux/${slug(platform)} unpacked in ${A.rootfs}`);

  const { token, server } = enrolment.mint(node);
  await h.run(cmd('mkdir', '-p', A.state, raw('&&'), 'chmod', '700', A.state), { sudo: true });
  // Root-only, through SFTP and a checked move: the token is in no command line or log.
  await h.ssh.upload(Buffer.from(`${token}\n`), A.token, { mode: 0o600, sudo: true });
  const unit = agentUnitText({
    rootfs: A.rootfs,
    state: A.state,
    entrypoint: image.entrypoint,
    server,
    node,
    ...(o.sim ? { sim: true } : {}),
  });
  await h.ssh.upload(Buffer.from(unit), A.unit, { mode: 0o644, sudo: true });
  const systemctl = hostTool(P, 'systemctl');
  await h.run(cmd(systemctl, 'daemon-reload'), { sudo: true, timeoutMs: 60_000 });
  // A restart, not a start: a unit that ran before picks up the new root and token.
  await h.run(cmd(systemctl, 'enable', AGENT_UNIT, raw('&&'), systemctl, 'restart', AGENT_UNIT), { sudo: true, timeoutMs: 60_000 });
  const until = Date.now() + onlineTimeoutMs;
  while (!enrolment.connected(node)) {
    if (Date.now() > until || ctx.signal.aborted)
      throw new ProvisionError(
        'AGENT_NOT_ONLINE',
        `${h.login.host}: the agent of ${node} did not come online within ${onlineTimeoutMs} ms (journalctl -u ${AGENT_UNIT} on the host says why)`,
        { details: { host: h.login.host, node } },
      );
    await sleep(1_000, ctx.signal);
  }
  await h.run(cmd('rm', '-f', A.token), { sudo: true });
  ctx.log(`${h.login.host}: the agent of ${node} enrolled and is online; its join token is spent and removed`);
}

/** The node name in a unit file's `--node-name` (written by {@link agentUnitText}), or undefined. */
export function unitNodeName(unitText: string): string | undefined {
  const exec = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
  const words = exec?.slice('ExecStart='.length).split(' ') ?? [];
  const i = words.indexOf('--node-name');
  return i >= 0 ? words[i + 1] : undefined;
}

/**
 * Stops and disables the unit where it is installed, and removes its files; a no-op on a host without it.
 * First, with `enrolment`, the certificates of the unit's node name are revoked, so the agent's key left on
 * a removed node (or a copy of it) no longer opens the agent endpoint; a later install enrols afresh.
 */
export async function removeAgentUnit(
  h: Host,
  P: Paths,
  ctx: Pick<StepContext, 'log'>,
  enrolment?: Pick<AgentEnrolment, 'revoke'>,
): Promise<void> {
  const A = agentPaths(P);
  if ((await h.exec(cmd('test', '-e', A.unit, raw('-o'), '-e', A.dir, raw('-o'), '-e', A.state), { sudo: true })).code !== 0) return;
  const systemctl = hostTool(P, 'systemctl');
  const unit = await h.exec(cmd('cat', A.unit), { sudo: true });
  if (unit.code === 0) {
    const node = unitNodeName(unit.stdout);
    if (enrolment && node !== undefined) {
      const serials = enrolment.revoke(node);
      ctx.log(`${h.login.host}: revoked ${serials.length} agent certificate(s) of ${node}`);
    }
    await h.run(cmd(systemctl, 'disable', '--now', AGENT_UNIT), { sudo: true, timeoutMs: 60_000 });
  }
  await h.run(cmd('rm', '-rf', A.unit, A.wants, A.dir, A.state), { sudo: true, timeoutMs: 60_000 });
  ctx.log(`${h.login.host}: the pi-controller agent unit stopped and removed`);
}

/** The unit's files left on `h`, and the processes whose root directory is the unit's root. */
export async function agentLeftovers(h: Host, P: Paths): Promise<string[]> {
  const A = agentPaths(P);
  const script =
    'r=$1; shift; for p in "$@"; do { [ -e "$p" ] || [ -L "$p" ]; } && echo "$p"; done; ' +
    'for d in /proc/[0-9]*; do [ "$(readlink "$d/root" 2> /dev/null)" = "$r" ] && echo "process ${d#/proc/} $(tr "\\0" " " < "$d/cmdline")"; done; true';
  const r = await h.run(cmd('sh', '-c', script, 'sh', A.rootfs, A.unit, A.wants, A.dir, A.state), { sudo: true, timeoutMs: 60_000 });
  return r.stdout.split('\n').filter((l) => l !== '');
}
