/**
 * Restoring a provisioned K3s cluster's embedded etcd from a snapshot kept with a backup, as one job
 * of kind `cluster.restore` (login: the first server), the way K3s documents it for embedded etcd:
 *
 * 1. `upload snapshot <first>`: the snapshot file (its SHA-256 first compared with the one noted when
 *    it was taken: SNAPSHOT_CORRUPT) over SFTP to the first server, checked there (SshSession.upload).
 * 2. `stop k3s (<servers>)`: `systemctl stop k3s` on every server, the first one last.
 * 3. `cluster-reset <first>`: `k3s server --cluster-reset --cluster-reset-restore-path=<file>` with the
 *    service's data dir, as root: K3s moves the old etcd data aside, restores the snapshot as a new
 *    cluster with this server as its only member, and exits. A note with the first server's clock
 *    (`<work>/restore-<job>.reset`) says it is done, so a resumed job never restores twice.
 * 4. `start k3s <first>`: `systemctl start k3s`, done when its API answers /readyz.
 * 5. `rejoin <server>` for each other server: stop, remove `<data-dir>/server/db`, start: it joins the
 *    restored cluster as a new member (noted in `<work>/restore-<job>.rejoined` on that host).
 * 6. `ready`: every Node (as many as the cluster's hosts) Ready with its node Lease renewed after the
 *    restore: the Nodes in the snapshot were Ready when it was taken, so Ready alone would pass at once.
 *    A server's Node (its kubelet restarted with K3s) must also have posted its Ready condition since
 *    (a restarted kubelet posts its status at once, and may say NotReady first); an agent's kubelet ran
 *    on, and posts an unchanged status only every nodeStatusReportFrequency (5 min by default), so its
 *    renewed Lease is what says it is back.
 * 7. `clean up <first>`: the uploaded copy removed (K3s keeps its own copy of the old data).
 * Agents are not stopped: their kubelets reconnect to the restored API.
 *
 * Refusals (nothing changed, no job): an unknown snapshot (404 SNAPSHOT_NOT_FOUND), one taken of
 * another cluster (409 SNAPSHOT_OF_ANOTHER_CLUSTER), a cluster with a lifecycle job queued or
 * running (409 CLUSTER_BUSY) or not provisioned (409 CLUSTER_NOT_PROVISIONED).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ClusterRestore } from '../api/clusters.js';
import type { Job } from '../api/jobs.js';
import type { EtcdSnapshotInfo } from '../api/system.js';
import type { ProvisionPort } from '../core/ports.js';
import { ProvisionError } from './errors.js';
import type { HostLogin, JobDefinition, JobRunner, Step, StepContext } from './jobs.js';
import { hostTool, pathsOf, sleep, type Host, type Paths } from './k3s.js';
import { asHost, CLUSTER_RESTORE_KIND, clusterMembers, refuseBusy, type LifecycleDeps } from './k3s-lifecycle.js';
import { cmd, shq } from './quote.js';

/** An etcd snapshot kept with a backup, as the backup manager finds it by name. */
export interface StoredSnapshot {
  /** The backup it belongs to (file name). */
  backup: string;
  /** The local file. */
  path: string;
  info: EtcdSnapshotInfo;
}

export interface RestoreParams {
  clusterId: string;
  /** The cluster's servers (servers[0] is the first, where the snapshot is restored) and agents. */
  servers: HostLogin[];
  agents: HostLogin[];
  snapshot: { backup: string; file: string; path: string; sha256: string; bytes: number; takenAt: string };
  roots?: Record<string, string>;
  /** How long the first server's API and then every Node may take (default 10 min each). */
  readyTimeoutMs?: number;
}

/** The step names of a restore, in order. */
export function restoreStepNames(p: Pick<RestoreParams, 'servers'>): string[] {
  const [first, ...others] = p.servers.map((h) => h.host);
  return [
    `upload snapshot ${first}`,
    `stop k3s (${[...others, first].join(', ')})`,
    `cluster-reset ${first}`,
    `start k3s ${first}`,
    ...others.map((h) => `rejoin ${h}`),
    'ready',
    `clean up ${first}`,
  ];
}

interface NodeList {
  items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; lastHeartbeatTime?: string }[] } }[];
}
interface LeaseList {
  items: { metadata: { name: string }; spec?: { renewTime?: string } }[];
}

/**
 * Nodes Ready whose kubelet renewed its Lease (kube-node-lease, named as the Node) at or after
 * `sinceSec` (Unix seconds), and, for the Nodes in `restarted` (kubelets started since), whose Ready
 * condition was posted since too; and the others, each with why.
 */
export function freshReadyNodes(
  nodesJson: string,
  leasesJson: string,
  sinceSec: number,
  restarted: ReadonlySet<string> = new Set(),
): { ready: string[]; waiting: string[] } {
  const since = sinceSec * 1000;
  const time = (t: string | undefined) => (t ? Date.parse(t) : NaN);
  const renewed = new Map((JSON.parse(leasesJson) as LeaseList).items.map((l) => [l.metadata.name, time(l.spec?.renewTime)]));
  const ready: string[] = [];
  const waiting: string[] = [];
  for (const n of (JSON.parse(nodesJson) as NodeList).items) {
    const name = n.metadata.name;
    const cond = n.status?.conditions?.find((c) => c.type === 'Ready');
    const why: string[] = [];
    if (cond?.status !== 'True') why.push('not Ready');
    const lease = renewed.get(name) ?? NaN;
    if (!renewed.has(name)) why.push('no lease');
    else if (!(lease >= since)) why.push('lease not renewed since the restore');
    if (restarted.has(name) && !(time(cond?.lastHeartbeatTime) >= since)) why.push('Ready not posted since the restore');
    if (why.length === 0) ready.push(name);
    else waiting.push(`${name} (${why.join(', ')})`);
  }
  return { ready, waiting };
}

export function restoreKind(deps: LifecycleDeps): JobDefinition {
  return { kind: CLUSTER_RESTORE_KIND, steps: (params) => restoreSteps(deps, params as unknown as RestoreParams) };
}

function restoreSteps(_deps: LifecycleDeps, p: RestoreParams): Step[] {
  const first = p.servers[0];
  if (!first) throw new ProvisionError('INVALID_ARGUMENT', "a restore needs the cluster's first server");
  if (!/^[0-9a-f]{64}$/.test(p.snapshot.sha256)) throw new ProvisionError('INVALID_ARGUMENT', 'the snapshot has no SHA-256');
  const P = (login: HostLogin) => pathsOf(p.roots?.[login.host] ?? '/');
  p.servers.forEach(P);
  const PF = P(first);
  const others = p.servers.slice(1);
  const readyTimeoutMs = p.readyTimeoutMs ?? 600_000;
  /** Where the snapshot goes on the first server (root-only). */
  const remote = `${PF.work}/etcd-restore-${p.snapshot.sha256.slice(0, 16)}.db`;
  const note = (ctx: StepContext, HP: Paths, what: 'reset' | 'rejoined') => `${HP.work}/restore-${ctx.jobId}.${what}`;
  const kubectl = (...args: string[]) => cmd(PF.k3s, 'kubectl', '--request-timeout=30s', ...args);

  const hostFor = async (ctx: StepContext, login: HostLogin): Promise<Host> =>
    login.host === ctx.login.host && (login.port ?? 22) === (ctx.login.port ?? 22) ? asHost(ctx) : ctx.on(login);
  // Reads and polls go straight to the session (ssh.exec), not to the job's log: a poll every 2 s would fill it.
  /** A file's text on a host, or undefined when it is not there. */
  const read = async (h: Host, path: string) => {
    const r = await h.ssh.exec(cmd('cat', '--', path), { sudo: true, timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout : undefined;
  };
  const writeNote = (h: Host, path: string) => h.run(cmd('sh', '-c', 'date -u +%s > "$1"', 'sh', path), { sudo: true, timeoutMs: 30_000 });
  /** The time of the restore (Unix seconds, the first server's clock), once it is done. */
  const resetAt = async (ctx: StepContext): Promise<number | undefined> => {
    const t = await read(asHost(ctx), note(ctx, PF, 'reset'));
    return t === undefined || !/^\d+\s*$/.test(t) ? undefined : Number(t.trim());
  };
  const active = async (h: Host, HP: Paths) =>
    (await h.ssh.exec(cmd(hostTool(HP, 'systemctl'), 'is-active', '--quiet', 'k3s'), { sudo: true, timeoutMs: 30_000 })).code === 0;
  const service = (h: Host, HP: Paths, op: 'start' | 'stop') =>
    h.run(cmd(hostTool(HP, 'systemctl'), op, 'k3s'), { sudo: true, timeoutMs: 300_000 });
  const apiUp = async (ctx: StepContext) =>
    (await ctx.ssh.exec(kubectl('get', '--raw', '/readyz'), { sudo: true, timeoutMs: 60_000 })).code === 0;
  const remoteSha = async (ctx: StepContext) => {
    const r = await ctx.ssh.exec(`${cmd('sha256sum')} < ${shq(remote)}`, { sudo: true, timeoutMs: 300_000 });
    return r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
  };
  /** The servers' Node names (K3s names a Node as its host): their kubelets were restarted with K3s. */
  const serverNodes = async (ctx: StepContext) => {
    const names = new Set<string>();
    for (const login of p.servers) names.add((await (await hostFor(ctx, login)).ssh.exec(cmd('hostname'))).stdout.trim());
    return names;
  };
  const nodesNow = async (ctx: StepContext, since: number, restarted: ReadonlySet<string>) => {
    const nodes = await ctx.ssh.exec(kubectl('get', 'nodes', '-o', 'json'), { sudo: true, timeoutMs: 60_000 });
    const leases = await ctx.ssh.exec(kubectl('get', 'leases', '-n', 'kube-node-lease', '-o', 'json'), {
      sudo: true,
      timeoutMs: 60_000,
    });
    if (nodes.code !== 0 || leases.code !== 0) return undefined;
    return freshReadyNodes(nodes.stdout, leases.stdout, since, restarted);
  };
  const want = p.servers.length + p.agents.length;

  const steps: Step[] = [
    {
      name: `upload snapshot ${first.host}`,
      check: async (ctx) => (await resetAt(ctx)) !== undefined || (await remoteSha(ctx)) === p.snapshot.sha256,
      run: async (ctx) => {
        const data = await readFile(p.snapshot.path);
        const sha = createHash('sha256').update(data).digest('hex');
        if (sha !== p.snapshot.sha256)
          throw new ProvisionError(
            'SNAPSHOT_CORRUPT',
            `${p.snapshot.file}: SHA-256 ${sha}, but it was ${p.snapshot.sha256} when it was taken: not restored`,
            { details: { expected: p.snapshot.sha256, actual: sha } },
          );
        await ctx.run(cmd('mkdir', '-p', PF.work), { sudo: true });
        await ctx.ssh.upload(data, remote, { mode: 0o600, sudo: true, timeoutMs: 600_000 });
        ctx.log(`${p.snapshot.file} (${data.length} bytes, sha256 ${sha}) uploaded to ${first.host}:${remote} and checked there`);
      },
    },
    {
      name: `stop k3s (${[...others, first].map((h) => h.host).join(', ')})`,
      check: async (ctx) => {
        if ((await resetAt(ctx)) !== undefined) return true;
        for (const login of p.servers) if (await active(await hostFor(ctx, login), P(login))) return false;
        return true;
      },
      run: async (ctx) => {
        for (const login of [...others, first]) {
          await service(await hostFor(ctx, login), P(login), 'stop');
          ctx.log(`${login.host}: k3s stopped`);
        }
      },
    },
    {
      name: `cluster-reset ${first.host}`,
      check: async (ctx) => (await resetAt(ctx)) !== undefined,
      run: async (ctx) => {
        if (await active(asHost(ctx), PF))
          throw new ProvisionError('RESTORE_FAILED', `${first.host}: k3s is running again: stop it before the restore`);
        const r = await ctx.exec(cmd(PF.k3s, 'server', '--cluster-reset', `--cluster-reset-restore-path=${remote}`, ...PF.flags), {
          sudo: true,
          timeoutMs: 600_000,
        });
        if (r.code !== 0)
          throw new ProvisionError(
            'RESTORE_FAILED',
            `${first.host}: k3s server --cluster-reset exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(-500)}`,
          );
        await writeNote(asHost(ctx), note(ctx, PF, 'reset'));
        ctx.log(`${first.host}: etcd restored from ${p.snapshot.file} as a new one-member cluster`);
      },
    },
    {
      name: `start k3s ${first.host}`,
      check: async (ctx) => (await resetAt(ctx)) !== undefined && (await active(asHost(ctx), PF)) && (await apiUp(ctx)),
      run: async (ctx) => {
        await service(asHost(ctx), PF, 'start');
        const until = Date.now() + readyTimeoutMs;
        while (!(await apiUp(ctx))) {
          if (!(await active(asHost(ctx), PF))) throw new ProvisionError('RESTORE_FAILED', `${first.host}: k3s stopped after its start`);
          if (Date.now() > until || ctx.signal.aborted)
            throw new ProvisionError(
              'CLUSTER_NOT_READY',
              `${first.host}: the API does not answer /readyz ${readyTimeoutMs} ms after the start`,
            );
          await sleep(2_000, ctx.signal);
        }
        ctx.log(`${first.host}: k3s started on the restored data, its API answers`);
      },
    },
    ...others.map((login): Step => ({
      name: `rejoin ${login.host}`,
      check: async (ctx) => {
        const h = await hostFor(ctx, login);
        return (await read(h, note(ctx, P(login), 'rejoined'))) !== undefined && (await active(h, P(login)));
      },
      run: async (ctx) => {
        const h = await hostFor(ctx, login);
        const HP = P(login);
        await service(h, HP, 'stop');
        await h.run(cmd('rm', '-rf', '--', `${HP.data}/server/db`), { sudo: true, timeoutMs: 120_000 });
        await service(h, HP, 'start');
        await h.run(cmd('mkdir', '-p', HP.work), { sudo: true });
        await writeNote(h, note(ctx, HP, 'rejoined'));
        ctx.log(`${login.host}: its etcd data removed, k3s started to join the restored cluster`);
      },
    })),
    {
      name: 'ready',
      check: async (ctx) => {
        const since = await resetAt(ctx);
        const n = since === undefined ? undefined : await nodesNow(ctx, since, await serverNodes(ctx));
        return n !== undefined && n.ready.length >= want;
      },
      run: async (ctx) => {
        const since = await resetAt(ctx);
        if (since === undefined) throw new ProvisionError('STEP_FAILED', 'no note of the restore on the first server');
        const restarted = await serverNodes(ctx);
        const until = Date.now() + readyTimeoutMs;
        let last: { ready: string[]; waiting: string[] } | undefined;
        for (;;) {
          last = (await nodesNow(ctx, since, restarted)) ?? last;
          if (last && last.ready.length >= want) break;
          if (Date.now() > until || ctx.signal.aborted)
            throw new ProvisionError(
              'CLUSTER_NOT_READY',
              `${last?.ready.length ?? 0} of ${want} nodes Ready since the restore; waiting: ${last?.waiting.join(', ') || 'the API'}`,
            );
          await sleep(2_000, ctx.signal);
        }
        ctx.log(`all ${want} nodes Ready since the restore: ${last.ready.join(', ')}`);
      },
    },
    {
      name: `clean up ${first.host}`,
      check: async (ctx) => (await ctx.exec(cmd('test', '!', '-e', remote), { sudo: true })).code === 0,
      run: async (ctx) => {
        await ctx.run(cmd('rm', '-f', '--', remote), { sudo: true });
      },
    },
  ];
  return steps;
}

/** The REST API's view of restores, on `runner` (which must know {@link restoreKind}); `snapshots` finds a backup's snapshots by name. */
export function restorePort(
  deps: LifecycleDeps & { runner: JobRunner; roots?: Record<string, string>; snapshots: (ref: string) => StoredSnapshot[] },
): Pick<ProvisionPort, 'restoreCluster'> {
  return {
    restoreCluster(clusterId, req: ClusterRestore, createdBy): Job {
      const c = deps.store.clusters.require(clusterId);
      const found = deps.snapshots(req.etcdSnapshot);
      if (found.length === 0)
        throw new ProvisionError(
          'SNAPSHOT_NOT_FOUND',
          `no etcd snapshot ${JSON.stringify(req.etcdSnapshot)}: name a backup that has one, or a snapshot file of one`,
          { details: { etcdSnapshot: req.etcdSnapshot } },
        );
      // The cluster's id where the snapshot noted it (a name can be given to another cluster later), else its name.
      const mine = found.find((s) => (s.info.clusterId !== undefined ? s.info.clusterId === c.id : s.info.cluster === c.name));
      if (!mine)
        throw new ProvisionError(
          'SNAPSHOT_OF_ANOTHER_CLUSTER',
          `${req.etcdSnapshot} holds no etcd snapshot of cluster ${c.name} (only of ${found.map((s) => s.info.cluster).join(', ')})`,
          { details: { cluster: c.name, snapshots: found.map((s) => ({ file: s.info.file, cluster: s.info.cluster })) } },
        );
      refuseBusy(deps.store, c.id, c.name);
      const m = clusterMembers(deps.store, c.id);
      if (m.servers.length === 0 || deps.store.clusters.sealed(c.id).kubeconfig === null)
        throw new ProvisionError('CLUSTER_NOT_PROVISIONED', `cluster ${c.name} is not provisioned: nothing to restore into`, {
          details: { state: c.state },
        });
      if (!existsSync(mine.path))
        throw new ProvisionError('SNAPSHOT_NOT_FOUND', `${mine.info.file} is listed with backup ${mine.backup} but its file is gone`, {
          details: { etcdSnapshot: req.etcdSnapshot },
        });
      const params: RestoreParams = {
        clusterId: c.id,
        servers: m.servers,
        agents: m.agents,
        snapshot: {
          backup: mine.backup,
          file: mine.info.file,
          path: mine.path,
          sha256: mine.info.sha256,
          bytes: mine.info.bytes,
          takenAt: mine.info.takenAt,
        },
        ...(deps.roots ? { roots: deps.roots } : {}),
      };
      return deps.runner.submit(CLUSTER_RESTORE_KIND, {
        login: m.servers[0]!,
        params: params as unknown as Record<string, unknown>,
        createdBy,
      });
    },
  };
}
