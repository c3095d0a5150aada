/**
 * The life of a provisioned K3s cluster after `cluster.create`: adding a node, removing one and
 * resetting the whole cluster, each a job of idempotent steps (see jobs.ts).
 *
 * Membership: which hosts are the cluster's servers and agents, with their SSH logins, is what its
 * succeeded lifecycle jobs left, replayed in order (`cluster.create` sets it, with how K3s was
 * installed; `cluster.add-node` adds a host, `cluster.remove-node` takes one out, `cluster.reset`
 * empties it); no second copy to fall out of step.
 *
 * `cluster.add-node` (job login: the host added): `join` installs K3s as `cluster.create` did, with
 * the stored join token (opened from its sealed copy into the installer's root-only environment
 * file), as an agent (K3S_URL) or a server (`--server`), done when its Node is registered; `ready`
 * waits for the Node to be Ready; `pi-controller agent`, when the cluster (or the request) has an
 * agent unit, installs and enrols our agent there (agent-unit.ts).
 *
 * `cluster.remove-node` (job login: the host removed; Kubernetes calls through a remaining server):
 * 1. `cordon`: the Node's spec.unschedulable set (a JSON merge patch).
 * 2. `drain`: every pod bound to the Node, except DaemonSet-owned and mirror (static) pods, evicted
 *    through the Eviction API (so PodDisruptionBudgets hold), until none is left or `drainTimeoutMs`
 *    passes (DRAIN_TIMEOUT, naming the pods).
 * 3. `leave etcd` (a server only): the Node annotated `etcd.k3s.cattle.io/remove=true`, which K3s's
 *    etcd member controller answers by removing the server's etcd member and annotating the Node
 *    `etcd.k3s.cattle.io/removed-node-name`; waited for (ETCD_LEAVE_TIMEOUT after `etcdLeaveTimeoutMs`).
 *    Before any of this, when the stored kubeconfig names the server removed, it is pointed at the
 *    server that stays (`repoint kubeconfig`): the Kubernetes calls, the control plane's reconciler
 *    and later joins (through the first server left) then never depend on the host going away.
 * 4. `delete node`: the Node object deleted.
 * 5. `uninstall`: our agent's unit stopped and its files removed where it has one (agent-unit.ts),
 *    then k3s-agent-uninstall.sh (or k3s-uninstall.sh) run on the host.
 * 6. `verify clean`: no K3s binary, scripts, data dir, /etc/rancher/k3s, unit or env files, kubectl
 *    links to k3s, no process whose command line names the binary or the data dir, and none of the
 *    agent unit's files or processes (HOST_NOT_CLEAN lists what is left).
 * Kubernetes calls run as `k3s kubectl` on the server with the cluster's stored kubeconfig, written
 * for the step to a root-only temporary file there and removed after it.
 *
 * `cluster.reset` (job login: the first server): uninstall on the agents (in parallel), then on the
 * servers (one after another), verify every host clean, then forget the stored kubeconfig and join
 * token and put the cluster back to `pending`.
 */
import type { ClusterAddNode, ClusterState } from '../api/clusters.js';
import type { Job } from '../api/jobs.js';
import type { LifecyclePort, SecretBox } from '../core/ports.js';
import type { Store } from '../store/index.js';
import { agentLeftovers, agentPaths, agentUnitDone, installAgentUnit, removeAgentUnit } from './agent-unit.js';
import { ProvisionError } from './errors.js';
import type { HostLogin, JobDefinition, JobRunner, RemoteHost, Step, StepContext } from './jobs.js';
import {
  apiUrl,
  CLUSTER_CREATE_KIND,
  inParallel,
  installK3s,
  agentUnitOf,
  pathsOf,
  readyNodes,
  requireEnrolment,
  rewriteKubeconfig,
  sleep,
  type ClusterCreateParams,
  type HostProbe,
  type InstallOptions,
  type K3sDeps,
  type Paths,
} from './k3s.js';
import { cmd, raw } from './quote.js';

export const CLUSTER_REMOVE_NODE_KIND = 'cluster.remove-node';
export const CLUSTER_RESET_KIND = 'cluster.reset';
export const CLUSTER_ADD_NODE_KIND = 'cluster.add-node';
/** The rolling upgrade (k3s-upgrade.ts). */
export const CLUSTER_UPGRADE_KIND = 'cluster.upgrade';
/** The etcd snapshot restore (k3s-restore.ts); it leaves the hosts as they were. */
export const CLUSTER_RESTORE_KIND = 'cluster.restore';
/** Every job kind that changes which hosts a cluster has, how K3s is installed on them, or what their etcd holds (one at a time per cluster). */
export const LIFECYCLE_KINDS = [
  CLUSTER_CREATE_KIND,
  CLUSTER_ADD_NODE_KIND,
  CLUSTER_REMOVE_NODE_KIND,
  CLUSTER_RESET_KIND,
  CLUSTER_UPGRADE_KIND,
  CLUSTER_RESTORE_KIND,
] as const;

export interface Members {
  servers: HostLogin[];
  agents: HostLogin[];
  /** How `cluster.create` installed K3s (version, air-gap files), for the hosts added later. */
  install: InstallOptions;
}

export interface AddNodeParams extends InstallOptions {
  clusterId: string;
  /** The host added (also the job's login). */
  host: HostLogin;
  role: 'server' | 'agent';
  /** The first server: the one joined, and where the Kubernetes calls run. */
  first: HostLogin;
  /** How long the new Node may take to become Ready (default 10 min). */
  readyTimeoutMs?: number;
}

export interface RemoveNodeParams {
  clusterId: string;
  /** The host removed (also the job's login). */
  host: HostLogin;
  role: 'server' | 'agent';
  /** A server that stays, for the Kubernetes calls. */
  via: HostLogin;
  roots?: Record<string, string>;
  /** How long evicted pods may take to go (default 5 min). */
  drainTimeoutMs?: number;
  /** How long K3s may take to remove a server's etcd member (default 2 min). */
  etcdLeaveTimeoutMs?: number;
}

/** K3s's etcd member controller removes the member of a Node annotated so... */
export const ETCD_REMOVE_ANNOTATION = 'etcd.k3s.cattle.io/remove';
/** ...and then records the member it removed in this annotation. */
export const ETCD_REMOVED_ANNOTATION = 'etcd.k3s.cattle.io/removed-node-name';

export interface ResetParams {
  clusterId: string;
  servers: HostLogin[];
  agents: HostLogin[];
  roots?: Record<string, string>;
  /** Hosts uninstalled at once (default 4). */
  nodeConcurrency?: number;
}

export interface UpgradeParams {
  clusterId: string;
  /** The version every node gets (INSTALL_K3S_VERSION). */
  version: string;
  /** The cluster's servers then agents, in the order they are upgraded; servers[0] is the first server. */
  servers: HostLogin[];
  agents: HostLogin[];
  /** How K3s is installed (the cluster's, or new air-gap files given with the upgrade). */
  airgap?: InstallOptions['airgap'];
  /** The cluster's profile (its flags again on every reinstall). */
  profile?: InstallOptions['profile'];
  installTimeoutMs?: number;
  roots?: Record<string, string>;
  /** How long evicted pods may take to go, per node (default 5 min). */
  drainTimeoutMs?: number;
  /** How long a node may take to be Ready at the new version (default 10 min). */
  readyTimeoutMs?: number;
  /** Install even where a node runs a newer version (else the job stops with DOWNGRADE_REFUSED). */
  allowDowngrade?: boolean;
  /** The cluster's state before the upgrade (it is `upgrading` while the job runs, then this again). */
  previousState?: ClusterState;
}

export interface LifecycleDeps {
  store: Store;
  secrets: SecretBox;
  /** Reads a host's facts at install, for its node labels (see installK3s). */
  probe?: HostProbe;
  /** The daemon's agent endpoint, for agents installed as units. */
  enrolment?: K3sDeps['enrolment'];
}

const byCreation = (a: Job, b: Job) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0);

/** The cluster's servers and agents as its succeeded lifecycle jobs left them. */
export function clusterMembers(store: Store, clusterId: string): Members {
  const jobs = LIFECYCLE_KINDS.flatMap((kind) => store.jobs.list({ kind, state: 'succeeded', limit: 10_000 }).items)
    .filter((j) => j.params.clusterId === clusterId)
    .sort(byCreation);
  const empty = (): Members => ({ servers: [], agents: [], install: {} });
  let m = empty();
  for (const j of jobs) {
    if (j.kind === CLUSTER_CREATE_KIND) {
      const p = j.params as unknown as ClusterCreateParams;
      const install: InstallOptions = {
        ...(p.version !== undefined ? { version: p.version } : {}),
        ...(p.airgap !== undefined ? { airgap: p.airgap } : {}),
        ...(p.installTimeoutMs !== undefined ? { installTimeoutMs: p.installTimeoutMs } : {}),
        ...(p.profile !== undefined ? { profile: p.profile } : {}),
        ...(p.agentUnit !== undefined ? { agentUnit: p.agentUnit } : {}),
      };
      m = { servers: [...p.servers], agents: [...p.agents], install };
    } else if (j.kind === CLUSTER_ADD_NODE_KIND) {
      const p = j.params as unknown as AddNodeParams;
      const others = (hs: HostLogin[]) => hs.filter((h) => h.host !== p.host.host);
      m =
        p.role === 'server'
          ? { ...m, servers: [...others(m.servers), p.host], agents: others(m.agents) }
          : { ...m, servers: others(m.servers), agents: [...others(m.agents), p.host] };
    } else if (j.kind === CLUSTER_REMOVE_NODE_KIND) {
      const gone = (j.params as unknown as RemoveNodeParams).host.host;
      m = { ...m, servers: m.servers.filter((h) => h.host !== gone), agents: m.agents.filter((h) => h.host !== gone) };
    } else if (j.kind === CLUSTER_UPGRADE_KIND) {
      const p = j.params as unknown as UpgradeParams;
      m = { ...m, install: { ...m.install, version: p.version, ...(p.airgap !== undefined ? { airgap: p.airgap } : {}) } };
    } else if (j.kind === CLUSTER_RESET_KIND) m = empty();
  }
  return m;
}

/** The addresses (or names) the cluster's servers and agents were provisioned at. */
export function memberHosts(store: Store, clusterId: string): string[] {
  const m = clusterMembers(store, clusterId);
  return [...m.servers, ...m.agents].map((h) => h.host);
}

/** Jobs of the cluster's lifecycle that are queued or running. */
export function busyJobs(store: Store, clusterId: string): Job[] {
  return LIFECYCLE_KINDS.flatMap((kind) =>
    (['queued', 'running'] as const).flatMap((state) => store.jobs.list({ kind, state, limit: 10_000 }).items),
  ).filter((j) => j.params.clusterId === clusterId);
}

/** Refuses (CLUSTER_BUSY) when a lifecycle job of the cluster is queued or running. */
export function refuseBusy(store: Store, clusterId: string, name: string): void {
  const busy = busyJobs(store, clusterId);
  if (busy.length > 0)
    throw new ProvisionError('CLUSTER_BUSY', `cluster ${name} has a ${busy[0]!.kind} job ${busy[0]!.state}: wait for it to end`, {
      details: { job: busy[0]!.id },
    });
}

/** A `kubectl` command line (every argument quoted) on a server. */
export type Kubectl = (...args: string[]) => string;
type Host = Pick<RemoteHost, 'exec' | 'run' | 'ssh' | 'login'>;
export const asHost = (ctx: StepContext): Host => ({ login: ctx.login, exec: ctx.exec, run: ctx.run, ssh: ctx.ssh });

/** A pattern for `pgrep -f` matching `path` but not a command line that only quotes the pattern itself. */
function pgrepPattern(path: string): string {
  const escaped = path.slice(1).replace(/[.[\]*^$+?(){}|\\]/g, '\\$&');
  return `[/]${escaped}`;
}

/** What K3s leaves on a host under `P`: paths that exist, kubectl links to k3s, and running processes. */
async function leftovers(h: Host, P: Paths): Promise<string[]> {
  const files = [
    P.k3s,
    `${P.bin}/k3s-killall.sh`,
    `${P.bin}/k3s-uninstall.sh`,
    `${P.bin}/k3s-agent-uninstall.sh`,
    P.data,
    `${P.root}etc/rancher/k3s`,
    `${P.systemd}/k3s.service`,
    `${P.systemd}/k3s.service.env`,
    `${P.systemd}/k3s-agent.service`,
    `${P.systemd}/k3s-agent.service.env`,
  ];
  const links = ['kubectl', 'crictl', 'ctr'].map((l) => `${P.bin}/${l}`);
  const script =
    'for p in "$@"; do case "$p" in link:*) l=${p#link:}; [ "$(readlink "$l" 2> /dev/null)" = k3s ] && echo "$l" ;; ' +
    '*) { [ -e "$p" ] || [ -L "$p" ]; } && echo "$p" ;; esac; done; true';
  const r = await h.run(cmd('sh', '-c', script, 'sh', ...files, ...links.map((l) => `link:${l}`)), { sudo: true, timeoutMs: 30_000 });
  const left = r.stdout.split('\n').filter((l) => l !== '');
  for (const path of [P.k3s, P.data]) {
    const p = await h.exec(cmd('pgrep', '-f', '-a', '--', pgrepPattern(path)), { sudo: true, timeoutMs: 30_000 });
    if (p.code === 0)
      left.push(
        ...p.stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => `process ${l}`),
      );
  }
  left.push(...(await agentLeftovers(h, P)));
  return [...new Set(left)];
}

/** Runs the host's K3s uninstall script(s), whichever are installed; a no-op on a clean host. */
async function uninstall(h: Host, P: Paths, ctx: StepContext, enrolment: LifecycleDeps['enrolment']): Promise<void> {
  await removeAgentUnit(h, P, ctx, enrolment);
  for (const script of [`${P.bin}/k3s-agent-uninstall.sh`, `${P.bin}/k3s-uninstall.sh`]) {
    if ((await h.exec(cmd('test', '-x', script), { sudo: true })).code !== 0) continue;
    await h.run(cmd(script), { sudo: true, timeoutMs: 300_000 });
    ctx.log(`${h.login.host}: ran ${script}`);
  }
}

async function requireClean(h: Host, P: Paths): Promise<void> {
  const left = await leftovers(h, P);
  if (left.length > 0)
    throw new ProvisionError('HOST_NOT_CLEAN', `${h.login.host}: K3s left behind: ${left.join(', ')}`, { details: { left } });
}

interface PodList {
  items: {
    metadata: { namespace: string; name: string; annotations?: Record<string, string>; ownerReferences?: { kind: string }[] };
  }[];
}

/** Pods a drain must move: all on the node but DaemonSet-owned and mirror pods. */
export function podsToEvict(json: string): { namespace: string; name: string }[] {
  const list = JSON.parse(json) as PodList;
  return list.items
    .filter((p) => !(p.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet'))
    .filter((p) => p.metadata.annotations?.['kubernetes.io/config.mirror'] === undefined)
    .map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name }));
}

export function removeNodeKind(deps: LifecycleDeps): JobDefinition {
  return { kind: CLUSTER_REMOVE_NODE_KIND, steps: (params) => removeNodeSteps(deps, params as unknown as RemoveNodeParams) };
}

function removeNodeSteps(deps: LifecycleDeps, p: RemoveNodeParams): Step[] {
  const P = pathsOf(p.roots?.[p.host.host] ?? '/');
  const PV = pathsOf(p.roots?.[p.via.host] ?? '/');
  const drainTimeoutMs = p.drainTimeoutMs ?? 300_000;

  /** The Node name the host registered with (its host name, as K3s uses by default). */
  const nodeName = async (ctx: StepContext) => (await ctx.run(cmd('hostname'))).stdout.trim();

  const withKube = <T>(ctx: StepContext, fn: (kubectl: Kubectl, via: Host) => Promise<T>) => kubeVia(deps, p.clusterId, ctx, p.via, PV, fn);

  /** The Node as JSON, or undefined when it does not exist. */
  const getNode = async (ctx: StepContext, name: string) => withKube(ctx, (kubectl, via) => nodeJson(via, kubectl, name));

  const removedUrl = apiUrl(p.host.host);
  const repoint: Step[] =
    p.role === 'server'
      ? [
          {
            name: `repoint kubeconfig to ${p.via.host}`,
            check: async () => deps.store.clusters.sealed(p.clusterId).apiServer !== removedUrl,
            run: async (ctx) => {
              const sealed = deps.store.clusters.sealed(p.clusterId).kubeconfig;
              if (!sealed) throw new ProvisionError('STEP_FAILED', 'the cluster has no stored kubeconfig');
              const url = apiUrl(p.via.host);
              const text = rewriteKubeconfig(
                deps.secrets.open(sealed).toString('utf8'),
                url,
                deps.store.clusters.require(p.clusterId).name,
              );
              deps.store.clusters.setKubeconfig(p.clusterId, deps.secrets.seal(Buffer.from(text)), url);
              ctx.log(`the stored kubeconfig named ${removedUrl}, the server removed: it names ${url} now`);
            },
          },
        ]
      : [];
  const etcdLeave: Step[] =
    p.role === 'server'
      ? [
          {
            name: `leave etcd ${p.host.host}`,
            check: async (ctx) => {
              const n = await getNode(ctx, await nodeName(ctx));
              return n === undefined || n.metadata?.annotations?.[ETCD_REMOVED_ANNOTATION] !== undefined;
            },
            run: async (ctx) => {
              const name = await nodeName(ctx);
              const timeoutMs = p.etcdLeaveTimeoutMs ?? 120_000;
              await withKube(ctx, async (kubectl, via) => {
                await via.run(kubectl('annotate', 'node', name, '--overwrite', `${ETCD_REMOVE_ANNOTATION}=true`), {
                  sudo: true,
                  timeoutMs: 60_000,
                });
                ctx.log(`node ${name} annotated ${ETCD_REMOVE_ANNOTATION}=true; waiting for K3s to remove its etcd member`);
                const until = Date.now() + timeoutMs;
                for (;;) {
                  // Only the annotation's value (a short line per look, not the whole Node in the step's log).
                  const path = `{.metadata.annotations.${ETCD_REMOVED_ANNOTATION.replace(/\./g, '\\.')}}`;
                  const got = await via.run(kubectl('get', 'node', name, '-o', `jsonpath=${path}`), { sudo: true, timeoutMs: 60_000 });
                  const member = got.stdout.trim();
                  if (member !== '') {
                    ctx.log(`etcd member ${member} removed`);
                    return;
                  }
                  if (Date.now() > until || ctx.signal.aborted)
                    throw new ProvisionError(
                      'ETCD_LEAVE_TIMEOUT',
                      `node ${name}: K3s did not remove its etcd member within ${timeoutMs} ms (no ${ETCD_REMOVED_ANNOTATION} annotation); the server still runs and is cordoned`,
                      { details: { node: name } },
                    );
                  await sleep(2_000, ctx.signal);
                }
              });
            },
          },
        ]
      : [];

  return [
    ...repoint,
    {
      name: `cordon ${p.host.host}`,
      check: async (ctx) => {
        const n = await getNode(ctx, await nodeName(ctx));
        return n === undefined || n.spec?.unschedulable === true;
      },
      run: async (ctx) => {
        const name = await nodeName(ctx);
        await withKube(ctx, (kubectl, via) =>
          via.run(kubectl('patch', 'node', name, '--type', 'merge', '-p', '{"spec":{"unschedulable":true}}'), {
            sudo: true,
            timeoutMs: 60_000,
          }),
        );
        ctx.log(`node ${name} cordoned`);
      },
    },
    {
      name: `drain ${p.host.host}`,
      check: async (ctx) => {
        const name = await nodeName(ctx);
        return withKube(ctx, async (kubectl, via) => {
          if ((await getNodeVia(via, kubectl, name)) === undefined) return true;
          return (await podsOn(via, kubectl, name)).length === 0;
        });
      },
      run: async (ctx) => {
        const name = await nodeName(ctx);
        await withKube(ctx, (kubectl, via) => drainNode(ctx, via, kubectl, name, drainTimeoutMs));
        ctx.log(`node ${name} drained`);
      },
    },
    ...etcdLeave,
    {
      name: `delete node ${p.host.host}`,
      check: async (ctx) => (await getNode(ctx, await nodeName(ctx))) === undefined,
      run: async (ctx) => {
        const name = await nodeName(ctx);
        await withKube(ctx, (kubectl, via) =>
          via.run(kubectl('delete', 'node', name, '--ignore-not-found', '--wait=true'), { sudo: true, timeoutMs: 120_000 }),
        );
        ctx.log(`node ${name} deleted`);
      },
    },
    {
      name: `uninstall ${p.host.host}`,
      check: async (ctx) =>
        (
          await ctx.exec(
            cmd(
              'test',
              '!',
              '-e',
              `${P.bin}/k3s-agent-uninstall.sh`,
              raw('-a'),
              '!',
              '-e',
              `${P.bin}/k3s-uninstall.sh`,
              raw('-a'),
              '!',
              '-e',
              agentPaths(P).unit,
            ),
            { sudo: true },
          )
        ).code === 0,
      run: (ctx) => uninstall(asHost(ctx), P, ctx, deps.enrolment),
    },
    {
      name: `verify clean ${p.host.host}`,
      check: async (ctx) => (await leftovers(asHost(ctx), P)).length === 0,
      run: (ctx) => requireClean(asHost(ctx), P),
    },
  ];
}

/** The pods a drain of Node `name` must move (see {@link podsToEvict}). */
export async function podsOn(via: Host, kubectl: Kubectl, name: string) {
  const r = await via.run(kubectl('get', 'pods', '--all-namespaces', '--field-selector', `spec.nodeName=${name}`, '-o', 'json'), {
    sudo: true,
    timeoutMs: 60_000,
  });
  return podsToEvict(r.stdout);
}

/**
 * Evicts every pod bound to Node `name` but DaemonSet-owned and mirror pods through the Eviction API
 * (so PodDisruptionBudgets hold), until none is left or `drainTimeoutMs` passes (DRAIN_TIMEOUT).
 */
export async function drainNode(ctx: StepContext, via: Host, kubectl: Kubectl, name: string, drainTimeoutMs: number): Promise<void> {
  const until = Date.now() + drainTimeoutMs;
  // policy/v1 Eviction from Kubernetes 1.22; older API servers (and the lab's 1.20) serve policy/v1beta1.
  const versions = (await via.run(kubectl('api-versions'), { sudo: true, timeoutMs: 60_000 })).stdout.split('\n');
  const apiVersion = versions.includes('policy/v1') ? 'policy/v1' : 'policy/v1beta1';
  const asked = new Set<string>();
  for (;;) {
    const pods = await podsOn(via, kubectl, name);
    if (pods.length === 0) break;
    if (Date.now() > until || ctx.signal.aborted)
      throw new ProvisionError(
        'DRAIN_TIMEOUT',
        `node ${name}: pods still there after ${drainTimeoutMs} ms: ${pods.map((x) => `${x.namespace}/${x.name}`).join(', ')}`,
        { details: { pods } },
      );
    for (const pod of pods) {
      const key = `${pod.namespace}/${pod.name}`;
      if (!asked.has(key)) ctx.log(`evicting ${key}`);
      asked.add(key);
      const body = JSON.stringify({ apiVersion, kind: 'Eviction', metadata: pod });
      const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/eviction`;
      // 429 (a disruption budget) or 404 (gone already): asked again on the next round.
      await via.exec(cmd('printf', '%s', body, raw('|'), raw(kubectl('create', '--raw', path, '-f', '-'))), {
        sudo: true,
        timeoutMs: 60_000,
      });
    }
    await sleep(2_000, ctx.signal);
  }
}

/** Runs `fn` with `kubectl(...)` on the server `login`, on the cluster's stored kubeconfig in a root-only temporary file there. */
export async function kubeVia<T>(
  deps: LifecycleDeps,
  clusterId: string,
  ctx: StepContext,
  login: HostLogin,
  PV: Paths,
  fn: (kubectl: Kubectl, via: Host) => Promise<T>,
): Promise<T> {
  const sealed = deps.store.clusters.sealed(clusterId).kubeconfig;
  if (!sealed) throw new ProvisionError('STEP_FAILED', 'the cluster has no stored kubeconfig');
  const via = await ctx.on(login);
  await via.run(cmd('mkdir', '-p', PV.work), { sudo: true });
  const file = `${PV.work}/kubeconfig-${ctx.jobId}`;
  await via.ssh.upload(deps.secrets.open(sealed), file, { mode: 0o600, sudo: true });
  try {
    return await fn((...args) => cmd(PV.k3s, 'kubectl', '--kubeconfig', file, '--request-timeout=30s', ...args), via);
  } finally {
    await via.exec(cmd('rm', '-f', file), { sudo: true });
  }
}

/** Node `name` as JSON (what the steps read of it), or undefined when it does not exist. */
async function nodeJson(
  via: Host,
  kubectl: Kubectl,
  name: string,
): Promise<{ spec?: { unschedulable?: boolean }; metadata?: { annotations?: Record<string, string> } } | undefined> {
  const r = await via.exec(kubectl('get', 'node', name, '-o', 'json', '--ignore-not-found'), { sudo: true, timeoutMs: 60_000 });
  if (r.code !== 0) throw new ProvisionError('COMMAND_FAILED', `cannot read node ${name}: ${r.stderr.trim()}`);
  return r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout);
}

export async function getNodeVia(via: Host, kubectl: Kubectl, name: string) {
  const r = await via.exec(kubectl('get', 'node', name, '-o', 'name', '--ignore-not-found'), { sudo: true, timeoutMs: 60_000 });
  if (r.code !== 0) throw new ProvisionError('COMMAND_FAILED', `cannot read node ${name}: ${r.stderr.trim()}`);
  return r.stdout.trim() === '' ? undefined : r.stdout.trim();
}

export function addNodeKind(deps: LifecycleDeps): JobDefinition {
  return { kind: CLUSTER_ADD_NODE_KIND, steps: (params) => addNodeSteps(deps, params as unknown as AddNodeParams) };
}

function addNodeSteps(deps: LifecycleDeps, p: AddNodeParams): Step[] {
  pathsOf(p.roots?.[p.host.host] ?? '/');
  const PF = pathsOf(p.roots?.[p.first.host] ?? '/');
  const url = apiUrl(p.first.host);
  const readyTimeoutMs = p.readyTimeoutMs ?? 600_000;
  const nodeName = async (ctx: StepContext) => (await ctx.run(cmd('hostname'))).stdout.trim();
  /** The Node's state: absent, registered, or Ready. */
  const state = async (ctx: StepContext, name: string) =>
    kubeVia(deps, p.clusterId, ctx, p.first, PF, async (kubectl, via) => {
      const r = await via.exec(kubectl('get', 'nodes', '-o', 'json'), { sudo: true, timeoutMs: 60_000 });
      if (r.code !== 0) throw new ProvisionError('COMMAND_FAILED', `cannot list the nodes: ${r.stderr.trim()}`);
      const n = readyNodes(r.stdout);
      return n.ready.includes(name) ? 'ready' : n.notReady.includes(name) ? 'registered' : 'absent';
    });
  const waitFor = async (ctx: StepContext, name: string, want: 'registered' | 'ready') => {
    const until = Date.now() + readyTimeoutMs;
    for (;;) {
      const s = await state(ctx, name);
      if (s === 'ready' || s === want) return;
      if (Date.now() > until || ctx.signal.aborted)
        throw new ProvisionError('CLUSTER_NOT_READY', `node ${name} is ${s}, not ${want}, after ${readyTimeoutMs} ms`);
      await sleep(2_000, ctx.signal);
    }
  };
  const steps: Step[] = [
    {
      name: `join ${p.host.host} as ${p.role}`,
      check: async (ctx) => (await state(ctx, await nodeName(ctx))) !== 'absent',
      run: async (ctx) => {
        const sealed = deps.store.clusters.sealed(p.clusterId).joinToken;
        if (!sealed) throw new ProvisionError('STEP_FAILED', 'the cluster has no stored join token');
        const token = deps.secrets.open(sealed).toString('utf8');
        const name = await nodeName(ctx);
        const args = p.role === 'server' ? ['server', '--server', url] : ['agent'];
        await installK3s(asHost(ctx), p, args, { ...(p.role === 'agent' ? { url } : {}), token }, deps.probe);
        await waitFor(ctx, name, 'registered');
        ctx.log(`node ${name} registered`);
      },
    },
    {
      name: `ready ${p.host.host}`,
      check: async (ctx) => (await state(ctx, await nodeName(ctx))) === 'ready',
      run: async (ctx) => {
        const name = await nodeName(ctx);
        await waitFor(ctx, name, 'ready');
        ctx.log(`node ${name} Ready`);
      },
    },
  ];
  const unit = p.agentUnit;
  if (unit) {
    const P = pathsOf(p.roots?.[p.host.host] ?? '/');
    steps.push({
      name: `pi-controller agent ${p.host.host}`,
      check: async (ctx) => agentUnitDone(asHost(ctx), P, deps.enrolment, await nodeName(ctx)),
      run: (ctx) => installAgentUnit(asHost(ctx), P, unit, requireEnrolment(deps), ctx),
    });
  }
  return steps;
}

export function resetKind(deps: LifecycleDeps): JobDefinition {
  return { kind: CLUSTER_RESET_KIND, steps: (params) => resetSteps(deps, params as unknown as ResetParams) };
}

function resetSteps(deps: LifecycleDeps, p: ResetParams): Step[] {
  const P = (login: HostLogin) => pathsOf(p.roots?.[login.host] ?? '/');
  const all = [...p.agents, ...p.servers];
  all.forEach(P);
  const hostFor = async (ctx: StepContext, login: HostLogin): Promise<Host> =>
    login.host === ctx.login.host && (login.port ?? 22) === (ctx.login.port ?? 22) ? asHost(ctx) : ctx.on(login);
  const cleanAll = (hosts: HostLogin[]) => async (ctx: StepContext) => {
    for (const login of hosts) if ((await leftovers(await hostFor(ctx, login), P(login))).length > 0) return false;
    return true;
  };
  const uninstallAll = (hosts: HostLogin[], limit: number) => async (ctx: StepContext) =>
    inParallel(hosts, limit, async (login) => uninstall(await hostFor(ctx, login), P(login), ctx, deps.enrolment));

  const steps: Step[] = [];
  if (p.agents.length > 0)
    steps.push({
      name: `uninstall agents (${p.agents.map((h) => h.host).join(', ')})`,
      check: cleanAll(p.agents),
      run: uninstallAll(p.agents, p.nodeConcurrency ?? 4),
    });
  if (p.servers.length > 0)
    steps.push({
      name: `uninstall servers (${p.servers.map((h) => h.host).join(', ')})`,
      check: cleanAll(p.servers),
      run: uninstallAll(p.servers, 1),
    });
  steps.push(
    {
      name: 'verify clean',
      check: cleanAll(all),
      run: async (ctx) => {
        for (const login of all) await requireClean(await hostFor(ctx, login), P(login));
      },
    },
    {
      name: 'forget',
      check: async () => {
        const s = deps.store.clusters.sealed(p.clusterId);
        return s.kubeconfig === null && s.joinToken === null && deps.store.clusters.require(p.clusterId).state === 'pending';
      },
      run: async (ctx) => {
        deps.store.clusters.clearProvisioned(p.clusterId);
        deps.store.clusters.update(p.clusterId, { state: 'pending', ha: false });
        ctx.log('kubeconfig and join token forgotten; the cluster is pending');
      },
    },
  );
  return steps;
}

/** The REST API's view of removing nodes and resetting clusters, on `runner` (which must know both kinds). */
export function lifecyclePort(deps: LifecycleDeps & { runner: JobRunner; roots?: Record<string, string> }): LifecyclePort {
  const idle = (clusterId: string, name: string) => refuseBusy(deps.store, clusterId, name);
  const roots = deps.roots ? { roots: deps.roots } : {};
  return {
    addNode(clusterId, req: ClusterAddNode, createdBy) {
      const c = deps.store.clusters.require(clusterId);
      idle(c.id, c.name);
      const m = clusterMembers(deps.store, c.id);
      const first = m.servers[0];
      if (!first || deps.store.clusters.sealed(c.id).joinToken === null)
        throw new ProvisionError('CLUSTER_NOT_PROVISIONED', `cluster ${c.name} is not provisioned: create it first`, {
          details: { state: c.state },
        });
      if ([...m.servers, ...m.agents].some((h) => h.host === req.host))
        throw new ProvisionError('ALREADY_A_MEMBER', `${req.host} is a node of cluster ${c.name} already`, { details: { host: req.host } });
      const host: HostLogin = {
        host: req.host,
        user: req.user ?? first.user,
        ...(req.port !== undefined ? { port: req.port } : first.port !== undefined ? { port: first.port } : {}),
        ...(req.identityFile !== undefined
          ? { identityFile: req.identityFile }
          : first.identityFile !== undefined
            ? { identityFile: first.identityFile }
            : {}),
      };
      const params: AddNodeParams = {
        ...m.install,
        ...(req.agent ? { agentUnit: agentUnitOf(deps, req.agent) } : {}),
        clusterId: c.id,
        host,
        role: req.role,
        first,
        ...roots,
      };
      return deps.runner.submit(CLUSTER_ADD_NODE_KIND, { login: host, params: params as unknown as Record<string, unknown>, createdBy });
    },
    removeNode(clusterId, host, createdBy) {
      const c = deps.store.clusters.require(clusterId);
      idle(c.id, c.name);
      const m = clusterMembers(deps.store, c.id);
      const server = m.servers.find((h) => h.host === host);
      const agent = m.agents.find((h) => h.host === host);
      if (!server && !agent)
        throw new ProvisionError('NOT_A_MEMBER', `${host} is not a node of cluster ${c.name}`, {
          details: { host, servers: m.servers.map((h) => h.host), agents: m.agents.map((h) => h.host) },
        });
      if (server && m.servers.length === 1)
        throw new ProvisionError('LAST_SERVER', `${host} is the only server of cluster ${c.name}: reset the cluster instead`, {
          details: { host },
        });
      // The Kubernetes calls go through the first server that stays.
      const via = m.servers.find((h) => h.host !== host)!;
      const params: RemoveNodeParams = { clusterId: c.id, host: (server ?? agent)!, role: server ? 'server' : 'agent', via, ...roots };
      const job = deps.runner.submit(CLUSTER_REMOVE_NODE_KIND, {
        login: (server ?? agent)!,
        params: params as unknown as Record<string, unknown>,
        createdBy,
      });
      // Highly available while three servers or more are left (as cluster create sets it).
      if (server)
        void deps.runner.wait(job.id).then((j) => {
          if (j.state === 'succeeded') deps.store.clusters.update(c.id, { ha: clusterMembers(deps.store, c.id).servers.length >= 3 });
        });
      return job;
    },
    resetCluster(clusterId, createdBy) {
      const c = deps.store.clusters.require(clusterId);
      idle(c.id, c.name);
      const m = clusterMembers(deps.store, c.id);
      if (m.servers.length === 0)
        throw new ProvisionError('NOT_A_MEMBER', `cluster ${c.name} has no provisioned hosts to reset`, { details: { state: c.state } });
      const params: ResetParams = { clusterId: c.id, servers: m.servers, agents: m.agents, ...roots };
      deps.store.clusters.update(c.id, { state: 'provisioning' });
      const job = deps.runner.submit(CLUSTER_RESET_KIND, {
        login: m.servers[0]!,
        params: params as unknown as Record<string, unknown>,
        createdBy,
      });
      void deps.runner.wait(job.id).then((j) => {
        if (j.state !== 'succeeded') deps.store.clusters.update(c.id, { state: 'error' });
      });
      return job;
    },
  };
}
