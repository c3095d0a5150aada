/**
 * The lab's stand-in K3s (test/lab/k3s/, see its README: a test stand-in around the real etcd,
 * kube-apiserver, kube-controller-manager, containerd and kubelet, because K3s itself cannot be
 * downloaded here) as an air-gap bundle for `cluster.create`: the installer, the `k3s` script with
 * the rigs' paths filled in, and the pause and busybox images of scripts/setup/45-kubelet.sh.
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Test } from 'tap';
import type { AirGap } from '../../src/provision/k3s.js';
import type { Lab, LabHost } from './lab.js';
import { repoRoot } from './paths.js';

export const STAND_IN_VERSION = 'v1.20.2+k3s1';
const CACHE = process.env.PI_CONTROLLER_CACHE ?? '/var/cache/pi-controller';

function current(name: string): string | undefined {
  try {
    return readFileSync(join(CACHE, `${name}.current`), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Why the stand-in cannot run here (a rig not built), or undefined. */
export function k3sLabSkipReason(): string | undefined {
  const k8s = current('k8s');
  const node = current('kubelet');
  if (!k8s || !existsSync(join(k8s, 'kube-apiserver'))) return 'the Kubernetes rig is not built (scripts/setup/40-k8s.sh)';
  if (!node || !existsSync(join(node, 'kubelet'))) return 'the node rig is not built (scripts/setup/45-kubelet.sh)';
  for (const p of ['/usr/bin/etcd', '/usr/bin/etcdctl', '/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/bin/kubectl'])
    if (!existsSync(p)) return `${p} is missing (scripts/setup/45-kubelet.sh installs it)`;
  return undefined;
}

/**
 * Writes the air-gap bundle into `dir`, its `k3s` reporting `version` (`k3s --version`; the kubelet
 * stays v1.20.2). `controllers`: kube-controller-manager controllers to run beyond the stand-in's
 * base set (e.g. `['daemonset']`; K3s runs them all, the stand-in only what its tests need).
 */
export function standInBundle(dir: string, version = STAND_IN_VERSION, controllers: string[] = []): AirGap {
  const node = current('kubelet')!;
  const src = readFileSync(join(repoRoot(), 'test/lab/k3s/k3s'), 'utf8')
    .replace('@K8S_BIN@', current('k8s')!)
    .replace('@NODE_RIG@', node)
    .replace('@VERSION@', version)
    .replace('@EXTRA_CONTROLLERS@', controllers.join(','));
  const binary = join(dir, 'k3s');
  writeFileSync(binary, src);
  chmodSync(binary, 0o755);
  return {
    installScript: join(repoRoot(), 'test/lab/k3s/install.sh'),
    binary,
    images: [join(node, 'images/pause.tar'), join(node, 'images/busybox.tar')],
  };
}

/** Runs argv as root inside a lab host (its network, UTS and mount namespaces), as its sshd sessions do. */
export function onHost(lab: Lab, host: LabHost, argv: string[]): string {
  const holder = readFileSync(join(lab.dir, 'hosts', host.id, 'holder.pid'), 'utf8').trim();
  return execFileSync('nsenter', ['-t', holder, '-n', '-u', '-m', ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A safety net for a test: whatever it did, the stand-in's processes and cgroups go at teardown (its own killall script on each host). */
export function killStandInAtTeardown(t: Test, lab: Lab): void {
  t.teardown(() => {
    for (const h of lab.hosts) {
      const killall = `${h.root}usr/local/bin/k3s-killall.sh`;
      if (existsSync(killall)) onHost(lab, h, [killall]);
    }
  });
}

/** Pids of processes whose command line or working files sit under a host's fake root (the stand-in's processes). */
export function k3sPids(host: LabHost): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const data = `${host.root}var/lib/rancher/k3s`;
  return out
    .split('\n')
    .filter((l) => l.includes(data) || l.includes(`${host.root}usr/local/bin/k3s`))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((p) => p !== process.pid);
}

/** RSS in kB of the stand-in's daemons on a host, by name, from their pid files. */
export function k3sMemory(host: LabHost): Record<string, number> {
  const dir = `${host.root}var/lib/rancher/k3s/lab/pids`;
  const out: Record<string, number> = {};
  let names: string[] = [];
  try {
    names = execFileSync('ls', [dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return out;
  }
  for (const f of names) {
    try {
      const pid = readFileSync(join(dir, f), 'utf8').trim();
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      out[f.replace(/\.pid$/, '')] = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // Gone.
    }
  }
  return out;
}

/**
 * The argv of `pi-controller cluster create <name> ... -f` for lab hosts with the stand-in's air-gap
 * bundle (its images plus `extraImages`), the lab's client key and a 1 s follow interval.
 */
export function clusterCreateArgv(
  lab: Lab,
  bundle: AirGap,
  o: { name?: string; servers: string[]; agents?: string[]; extraImages?: string[] },
): string[] {
  return [
    'cluster',
    'create',
    o.name ?? 'lab',
    '--servers',
    o.servers.join(','),
    ...(o.agents?.length ? ['--agents', o.agents.join(',')] : []),
    '--k3s-version',
    STAND_IN_VERSION,
    '--identity-file',
    lab.clientKey,
    '--airgap-install-script',
    bundle.installScript,
    '--airgap-binary',
    bundle.binary,
    '--airgap-images',
    [...bundle.images, ...(o.extraImages ?? [])].join(','),
    '-f',
    '--interval',
    '1000',
  ];
}
