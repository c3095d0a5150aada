/**
 * Rolling upgrade of a provisioned K3s cluster, as one job of kind `cluster.upgrade` (login: the first
 * server). Nodes go one at a time, the servers first (in the order they joined), then the agents,
 * each through five named steps:
 *
 * 0. `versions` (once, first): `k3s --version` read on every node; a node newer than the version
 *    stops the job before anything is touched (DOWNGRADE_REFUSED naming the node and both
 *    versions) unless the upgrade allows a downgrade (`allowDowngrade`). Versions compare as K3s
 *    releases: major, minor, patch, then a release above its -rcN, then the +k3sN build
 *    (v1.29.3+k3s1 < v1.29.3+k3s2 < v1.30.0-rc1+k3s1 < v1.30.0+k3s1).
 * 1. `cordon <host>`: the Node's spec.unschedulable set, with the annotation
 *    `pi-controller.io/upgrade-cordon` (the job's id) saying the upgrade did it. A Node that is
 *    unschedulable without it was cordoned by someone else (an admin) and is left as it is.
 * 2. `drain <host>`: its pods evicted through the Eviction API, as remove-node drains.
 * 3. `install <version> <host>`: K3s installed again with INSTALL_K3S_VERSION, through the install
 *    cluster.create used (online, or air-gapped with the cluster's files or new ones given with the
 *    upgrade), with the same role and flags: `server --cluster-init` on the first server, `server
 *    --server` with the join token on the others, `agent` with K3S_URL and the token.
 * 4. `ready <host>`: waits (no fixed sleep) until the Node is Ready and runs the new version.
 * 5. `uncordon <host>`: spec.unschedulable cleared and the annotation removed, only on a Node that
 *    carries the annotation: a Node cordoned by hand before the upgrade stays cordoned. The mark is
 *    on the Node itself, so it holds across a resumed job, and across a second upgrade after one
 *    that failed with the node cordoned (which a first job's own state could not tell the second).
 * Then `record <version>` notes the version on the cluster record (and in its membership, so hosts
 * added later get it).
 *
 * "At the version" means: `k3s --version` on the host prints it, and the last install that finished
 * there noted it (installK3s's note: an air-gap install replaces the binary before its installer runs,
 * so the binary alone would call a failed install done); and once Ready, a Node whose kubelet reports
 * a K3s build (`+k3s`, every real K3s node) must report this one. A node at the version passes every
 * step's check, so a resumed job (or a new one for the same version) skips the nodes already done.
 *
 * The job stops at the first failure (the runner's retries spent): the failing node keeps its step's
 * code and reason, nodes after it are not touched (still schedulable, old version).
 */
import type { ClusterUpgrade } from '../api/clusters.js';
import type { Job } from '../api/jobs.js';
import type { ProvisionPort } from '../core/ports.js';
import { ProvisionError } from './errors.js';
import type { HostLogin, JobDefinition, JobRunner, Step, StepContext } from './jobs.js';
import { apiUrl, installedVersions, installK3s, pathsOf, sleep, type Host, type InstallOptions } from './k3s.js';
import {
  asHost,
  CLUSTER_UPGRADE_KIND,
  clusterMembers,
  drainNode,
  kubeVia,
  podsOn,
  refuseBusy,
  type Kubectl,
  type LifecycleDeps,
  type UpgradeParams,
} from './k3s-lifecycle.js';
import { cmd } from './quote.js';

/** A K3s release name: vMAJOR.MINOR.PATCH, an optional -rcN, and the +k3sN build (as INSTALL_K3S_VERSION takes it). */
export const K3S_RELEASE = /^v(?:0|[1-9]\d{0,2})\.(?:0|[1-9]\d{0,2})\.(?:0|[1-9]\d{0,2})(?:-rc[1-9]\d{0,2})?\+k3s[1-9]\d{0,2}$/;

/** A K3s release's parts, in the order they compare; a release (no -rc) sorts after its candidates. */
function releaseParts(version: string): number[] {
  const m = /^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?\+k3s(\d+)$/.exec(version);
  if (!m) throw new ProvisionError('INVALID_VERSION', `${JSON.stringify(version)} is not a K3s release such as v1.30.4+k3s1`);
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[4]), Number(m[5])];
}

/** Negative when K3s release `a` is older than `b`, 0 when the same, positive when newer. */
export function compareK3s(a: string, b: string): number {
  const x = releaseParts(a);
  const y = releaseParts(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

/** The annotation the upgrade puts on a Node it cordons (its job's id), so it uncordons only those. */
export const UPGRADE_CORDON_ANNOTATION = 'pi-controller.io/upgrade-cordon';

/** DOWNGRADE_REFUSED (409) for installing `version` where `nodes` run the newer `current`. */
export function downgradeRefused(version: string, current: string, nodes: string[]): ProvisionError {
  return new ProvisionError(
    'DOWNGRADE_REFUSED',
    `${nodes.join(', ')} ${nodes.length === 1 ? 'runs' : 'run'} K3s ${current}, newer than ${version}: ` +
      'a downgrade is refused unless allowed (allowDowngrade, --allow-downgrade)',
    { details: { version, current, nodes } },
  );
}

/** `version` when it is a K3s release name, else INVALID_VERSION (400). */
export function validVersion(version: string): string {
  if (!K3S_RELEASE.test(version))
    throw new ProvisionError('INVALID_VERSION', `${JSON.stringify(version)} is not a K3s release such as v1.30.4+k3s1`, {
      details: { version, pattern: K3S_RELEASE.source },
    });
  return version;
}

/** One node of an upgrade: its login, its role, and the flags it is installed with. */
export interface UpgradeNode {
  host: HostLogin;
  role: 'server' | 'agent';
  /** The first server (`--cluster-init`, no join token). */
  first: boolean;
}

/** The order of an upgrade: the servers one after another (the first server first), then the agents. */
export function upgradeOrder(p: Pick<UpgradeParams, 'servers' | 'agents'>): UpgradeNode[] {
  return [
    ...p.servers.map((host, i) => ({ host, role: 'server' as const, first: i === 0 })),
    ...p.agents.map((host) => ({ host, role: 'agent' as const, first: false })),
  ];
}

/** The step names of an upgrade, in order. */
export function upgradeStepNames(p: Pick<UpgradeParams, 'servers' | 'agents' | 'version'>): string[] {
  return [
    'versions',
    ...upgradeOrder(p).flatMap((n) => [
      `cordon ${n.host.host}`,
      `drain ${n.host.host}`,
      `install ${p.version} ${n.host.host}`,
      `ready ${n.host.host}`,
      `uncordon ${n.host.host}`,
    ]),
    `record ${p.version}`,
  ];
}

interface NodeJson {
  metadata?: { annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string } };
}

/** What the upgrade reads of a Node: its readiness, schedulability, kubelet version, and whether an upgrade cordoned it. */
export interface NodeView {
  ready: boolean;
  unschedulable: boolean;
  kubeletVersion: string;
  /** It carries {@link UPGRADE_CORDON_ANNOTATION}. */
  cordonedByUpgrade: boolean;
}

/** A Node's JSON as the upgrade reads it, or undefined when absent (empty). */
export function nodeView(json: string): NodeView | undefined {
  if (json.trim() === '') return undefined;
  const n = JSON.parse(json) as NodeJson;
  return {
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    unschedulable: n.spec?.unschedulable === true,
    kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
    cordonedByUpgrade: n.metadata?.annotations?.[UPGRADE_CORDON_ANNOTATION] !== undefined,
  };
}

/** True when a Ready Node's kubelet runs `version`: a K3s kubelet (`+k3s`) must report it; another kubelet (the lab's) is not asked. */
export const kubeletAt = (kubeletVersion: string, version: string): boolean =>
  !kubeletVersion.includes('+k3s') || kubeletVersion === version;

export function upgradeKind(deps: LifecycleDeps): JobDefinition {
  return { kind: CLUSTER_UPGRADE_KIND, steps: (params) => upgradeSteps(deps, params as unknown as UpgradeParams) };
}

function upgradeSteps(deps: LifecycleDeps, p: UpgradeParams): Step[] {
  validVersion(p.version);
  const first = p.servers[0];
  if (!first) throw new ProvisionError('INVALID_ARGUMENT', "an upgrade needs the cluster's first server");
  const P = (login: HostLogin) => pathsOf(p.roots?.[login.host] ?? '/');
  const PF = P(first);
  const url = apiUrl(first.host);
  const drainTimeoutMs = p.drainTimeoutMs ?? 300_000;
  const readyTimeoutMs = p.readyTimeoutMs ?? 600_000;
  const install: InstallOptions = {
    version: p.version,
    ...(p.airgap !== undefined ? { airgap: p.airgap } : {}),
    ...(p.installTimeoutMs !== undefined ? { installTimeoutMs: p.installTimeoutMs } : {}),
    ...(p.profile !== undefined ? { profile: p.profile } : {}),
    ...(p.roots !== undefined ? { roots: p.roots } : {}),
  };

  const hostFor = async (ctx: StepContext, login: HostLogin): Promise<Host> =>
    login.host === ctx.login.host && (login.port ?? 22) === (ctx.login.port ?? 22) ? asHost(ctx) : ctx.on(login);
  const withKube = <T>(ctx: StepContext, fn: (kubectl: Kubectl, via: Host) => Promise<T>) => kubeVia(deps, p.clusterId, ctx, first, PF, fn);
  const nodeName = async (h: Host) => (await h.run(cmd('hostname'))).stdout.trim();
  const getNode = (ctx: StepContext, name: string) =>
    withKube(ctx, async (kubectl, via) => {
      const r = await via.exec(kubectl('get', 'node', name, '-o', 'json', '--ignore-not-found'), { sudo: true, timeoutMs: 60_000 });
      if (r.code !== 0) throw new ProvisionError('COMMAND_FAILED', `cannot read node ${name}: ${r.stderr.trim()}`);
      return nodeView(r.stdout);
    });
  /** Cordons (with the upgrade's mark) or uncordons (and removes the mark) Node `name`, in one merge patch. */
  const setUnschedulable = (ctx: StepContext, name: string, on: boolean) => {
    const patch = { metadata: { annotations: { [UPGRADE_CORDON_ANNOTATION]: on ? ctx.jobId : null } }, spec: { unschedulable: on } };
    return withKube(ctx, (kubectl, via) =>
      via.run(kubectl('patch', 'node', name, '--type', 'merge', '-p', JSON.stringify(patch)), { sudo: true, timeoutMs: 60_000 }),
    );
  };

  const stepsOf = (n: UpgradeNode): Step[] => {
    const HP = P(n.host);
    const at = async (h: Host) => {
      const v = await installedVersions(h, HP);
      return v.binary === p.version && v.noted === p.version;
    };
    /** The host, its Node name, and whether it is at the version. */
    const look = async (ctx: StepContext) => {
      const h = await hostFor(ctx, n.host);
      return { h, name: await nodeName(h), done: await at(h) };
    };
    return [
      {
        name: `cordon ${n.host.host}`,
        check: async (ctx) => {
          const { name, done } = await look(ctx);
          if (done) return true;
          const node = await getNode(ctx, name);
          if (node?.unschedulable && !node.cordonedByUpgrade)
            ctx.log(`node ${name} was cordoned before the upgrade: it stays cordoned after it`);
          return node?.unschedulable === true;
        },
        run: async (ctx) => {
          const { name } = await look(ctx);
          await setUnschedulable(ctx, name, true);
          ctx.log(`node ${name} cordoned`);
        },
      },
      {
        name: `drain ${n.host.host}`,
        check: async (ctx) => {
          const { name, done } = await look(ctx);
          return done || (await withKube(ctx, async (kubectl, via) => (await podsOn(via, kubectl, name)).length === 0));
        },
        run: async (ctx) => {
          const { name } = await look(ctx);
          await withKube(ctx, (kubectl, via) => drainNode(ctx, via, kubectl, name, drainTimeoutMs));
          ctx.log(`node ${name} drained`);
        },
      },
      {
        name: `install ${p.version} ${n.host.host}`,
        check: async (ctx) => (await look(ctx)).done,
        run: async (ctx) => {
          const { h } = await look(ctx);
          const args = n.role === 'agent' ? ['agent'] : n.first ? ['server', '--cluster-init'] : ['server', '--server', url];
          const join = n.first ? {} : { ...(n.role === 'agent' ? { url } : {}), token: joinToken() };
          try {
            await installK3s(h, install, args, join, deps.probe);
          } catch (err) {
            // The installer's own words (its last stderr lines) are the reason the job reports.
            if (!(err instanceof ProvisionError) || err.code !== 'COMMAND_FAILED') throw err;
            const stderr = String(err.details?.stderr ?? '')
              .trim()
              .split('\n')
              .slice(-3)
              .join(' / ');
            throw new ProvisionError(
              'COMMAND_FAILED',
              `${n.host.host}: installing K3s ${p.version} failed${stderr ? `: ${stderr}` : ` (${err.message})`}`,
              { cause: err, details: err.details },
            );
          }
          ctx.log(`${n.host.host}: K3s ${p.version} installed`);
        },
      },
      {
        name: `ready ${n.host.host}`,
        check: async (ctx) => {
          const { name, done } = await look(ctx);
          const node = done ? await getNode(ctx, name) : undefined;
          return node !== undefined && node.ready && kubeletAt(node.kubeletVersion, p.version);
        },
        run: async (ctx) => {
          const { h, name } = await look(ctx);
          const until = Date.now() + readyTimeoutMs;
          let last = 'not registered';
          for (;;) {
            // The API can be down a while (a server's own restart): that is "not yet", not a failure.
            const node = await getNode(ctx, name).catch((err: unknown) => {
              last = err instanceof Error ? err.message : String(err);
              return undefined;
            });
            if (node) last = `Ready=${node.ready}, kubelet ${node.kubeletVersion}`;
            if (node?.ready && kubeletAt(node.kubeletVersion, p.version) && (await at(h))) break;
            if (Date.now() > until || ctx.signal.aborted)
              throw new ProvisionError(
                'CLUSTER_NOT_READY',
                `node ${name} is not Ready at ${p.version} after ${readyTimeoutMs} ms (${last})`,
              );
            await sleep(2_000, ctx.signal);
          }
          ctx.log(`node ${name} Ready at ${p.version}`);
        },
      },
      {
        name: `uncordon ${n.host.host}`,
        // Only a Node the upgrade cordoned (its mark): one cordoned by hand before it stays cordoned.
        check: async (ctx) => {
          const { name, done } = await look(ctx);
          const node = done ? await getNode(ctx, name) : undefined;
          return node !== undefined && !node.cordonedByUpgrade;
        },
        run: async (ctx) => {
          const { name } = await look(ctx);
          await setUnschedulable(ctx, name, false);
          ctx.log(`node ${name} uncordoned`);
        },
      },
    ];
  };

  const joinToken = (): string => {
    const sealed = deps.store.clusters.sealed(p.clusterId).joinToken;
    if (!sealed) throw new ProvisionError('STEP_FAILED', 'the cluster has no stored join token');
    return deps.secrets.open(sealed).toString('utf8');
  };

  const order = upgradeOrder(p);
  /** Nodes newer than the version (none when a downgrade is allowed), with what they run. */
  const newer = async (ctx: StepContext) => {
    const out: { host: string; version: string }[] = [];
    for (const n of order) {
      const v = (await installedVersions(await hostFor(ctx, n.host), P(n.host))).binary;
      ctx.log(`${n.host.host}: K3s ${v ?? 'not installed'}`);
      if (v && K3S_RELEASE.test(v) && compareK3s(v, p.version) > 0) out.push({ host: n.host.host, version: v });
    }
    return p.allowDowngrade ? [] : out;
  };
  return [
    {
      name: 'versions',
      check: async (ctx) => (await newer(ctx)).length === 0,
      run: async (ctx) => {
        const found = await newer(ctx);
        const newest = found
          .map((f) => f.version)
          .sort(compareK3s)
          .at(-1)!;
        throw downgradeRefused(
          p.version,
          newest,
          found.map((f) => `${f.host} (${f.version})`),
        );
      },
    },
    ...order.flatMap(stepsOf),
    {
      name: `record ${p.version}`,
      check: async () => deps.store.clusters.require(p.clusterId).k3sVersion === p.version,
      run: async (ctx) => {
        deps.store.clusters.update(p.clusterId, { k3sVersion: p.version });
        ctx.log(`cluster at K3s ${p.version}`);
      },
    },
  ];
}

/** The REST API's view of upgrades, on `runner` (which must know {@link upgradeKind}). */
export function upgradePort(
  deps: LifecycleDeps & { runner: JobRunner; roots?: Record<string, string> },
): Pick<ProvisionPort, 'upgradeCluster'> {
  /** The cluster is `upgrading` while its upgrade job runs; when the job ends it returns to the state it had before. */
  const restoreWhenDone = (job: Job) =>
    void deps.runner.wait(job.id).then(() => {
      const p = job.params as unknown as UpgradeParams;
      const c = deps.store.clusters.find(p.clusterId);
      if (c?.state === 'upgrading') deps.store.clusters.update(c.id, { state: p.previousState ?? 'ready' });
    });
  // Upgrade jobs left running by a restart (the runner resumes them) get their watcher again.
  for (const state of ['queued', 'running'] as const)
    deps.store.jobs.list({ kind: CLUSTER_UPGRADE_KIND, state, limit: 10_000 }).items.forEach(restoreWhenDone);
  return {
    upgradeCluster(clusterId, req: ClusterUpgrade, createdBy): Job {
      const version = validVersion(req.version);
      const c = deps.store.clusters.require(clusterId);
      refuseBusy(deps.store, c.id, c.name);
      const m = clusterMembers(deps.store, c.id);
      const sealed = deps.store.clusters.sealed(c.id);
      if (m.servers.length === 0 || sealed.kubeconfig === null || sealed.joinToken === null)
        throw new ProvisionError('CLUSTER_NOT_PROVISIONED', `cluster ${c.name} is not provisioned: create it first`, {
          details: { state: c.state },
        });
      const current = m.install.version ?? c.k3sVersion ?? undefined;
      if (!req.allowDowngrade && current !== undefined && K3S_RELEASE.test(current) && compareK3s(current, version) > 0)
        throw downgradeRefused(
          version,
          current,
          [...m.servers, ...m.agents].map((h) => h.host),
        );
      const airgap = req.airgap ?? m.install.airgap;
      const params: UpgradeParams = {
        clusterId: c.id,
        version,
        ...(req.allowDowngrade ? { allowDowngrade: true } : {}),
        // (A state left at upgrading by a job no one watched is taken as ready.)
        previousState: c.state === 'upgrading' ? 'ready' : c.state,
        servers: m.servers,
        agents: m.agents,
        ...(airgap !== undefined ? { airgap } : {}),
        ...(m.install.installTimeoutMs !== undefined ? { installTimeoutMs: m.install.installTimeoutMs } : {}),
        ...(m.install.profile !== undefined ? { profile: m.install.profile } : {}),
        ...(deps.roots ? { roots: deps.roots } : {}),
      };
      const job = deps.runner.submit(CLUSTER_UPGRADE_KIND, {
        login: m.servers[0]!,
        params: params as unknown as Record<string, unknown>,
        createdBy,
      });
      deps.store.clusters.update(c.id, { state: 'upgrading' });
      restoreWhenDone(job);
      return job;
    },
  };
}
