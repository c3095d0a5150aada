/**
 * K3s clusters over SSH, as one job of kind `cluster.create` whose login is the first server:
 *
 * 1. `server <first>`: K3s installed with `server --cluster-init`; done when its API answers
 *    /readyz and its node-token exists.
 * 2. `join-token`: the node-token read (as root) from the first server and stored on the cluster
 *    record sealed with the CA key's encryption (never in clear, never in a log or on a command line).
 * 3. `servers join`: the other servers, one after another (etcd adds one member at a time), with
 *    `server --server https://<first>:6443` and K3S_TOKEN; done per host when its Node is registered.
 * 4. `agents join`: the agents with K3S_URL and K3S_TOKEN, in parallel up to `nodeConcurrency`.
 * 5. `kubeconfig`: /etc/rancher/k3s/k3s.yaml read from the first server, its `server:` rewritten
 *    from 127.0.0.1 to the first server's address, its names from `default` to the cluster's name,
 *    stored sealed on the cluster record.
 * 6. `ready`: polls the API (`k3s kubectl get nodes -o json` on the first server) until every
 *    expected Node is Ready, within `readyTimeoutMs`; no fixed sleep. Marks the cluster `ready`.
 *
 * Install: online (the official script from https://get.k3s.io with INSTALL_K3S_VERSION, or the
 * channel's current version) or air-gapped (`airgap`: the installer, the binary and image tarballs
 * uploaded from local paths, checked by SHA-256; the binary goes to the bin dir, the images to
 * <data-dir>/agent/images/ where K3s imports them, and INSTALL_K3S_SKIP_DOWNLOAD=true). The token
 * and URL reach the installer through a root-only environment file, never a command line. Every
 * value goes through the shell quoting of quote.ts. `roots` (tests only, as `root` in Pi prep) puts
 * every path of a host under a prefix, passed to K3s with its own options (INSTALL_K3S_BIN_DIR, INSTALL_K3S_SYSTEMD_DIR,
 * --data-dir, --write-kubeconfig).
 */
import type { ClusterProvision } from '../api/clusters.js';
import { LABEL_PREFIX, labelValue } from '../api/common.js';
import type { Capabilities } from '../api/discovery.js';
import { ConflictError } from '../api/errors.js';
import type { ProvisionPort, SecretBox } from '../core/ports.js';
import type { Store } from '../store/index.js';
import { agentUnitDone, imagePlatforms, installAgentUnit, type AgentEnrolment, type AgentUnitOptions } from './agent-unit.js';
import { ProvisionError } from './errors.js';
import type { HostLogin, JobDefinition, JobRunner, RemoteHost, Step, StepContext } from './jobs.js';
import { cmd, raw, shC, shq } from './quote.js';

export const CLUSTER_CREATE_KIND = 'cluster.create';

export interface AirGap {
  /** The K3s install script (local path on the control plane's machine). */
  installScript: string;
  /** The k3s binary. */
  binary: string;
  /** Image tarballs for <data-dir>/agent/images/. */
  images: string[];
}

export interface ClusterCreateParams {
  clusterId: string;
  servers: HostLogin[];
  agents: HostLogin[];
  /** INSTALL_K3S_VERSION (default: the channel's, or the air-gap binary's). */
  version?: string;
  airgap?: AirGap;
  /** Prefix of every path per host address (default `/`; tests only: each lab host has its own fake root). */
  roots?: Record<string, string>;
  /** Agents installed at once (default 4). */
  nodeConcurrency?: number;
  /** How long every Node may take to become Ready (default 10 min). */
  readyTimeoutMs?: number;
  /** How long one install may take (default 10 min). */
  installTimeoutMs?: number;
  /** `pi`: the {@link PI_PROFILE} flags on every install (kept for nodes added and upgrades later). */
  profile?: 'default' | 'pi';
  /** Our agent installed on every node as a systemd unit from this image (kept for nodes added later); see agent-unit.ts. */
  agentUnit?: AgentUnitOptions;
}

/**
 * The `pi` profile: K3s flags (its documented pass-through flags for the embedded components) that
 * make a server or agent lighter on a small Pi (1-2 GB, an SD card), each explained in the README:
 * fewer API requests in flight at once (less memory at peaks), terminated pods garbage-collected at
 * 10 instead of 12500, image garbage collection from 70 % disk use down to 50 % (an SD card fills),
 * and CPU and memory reserved for the OS and K3s itself so pods are evicted before the Pi swaps or
 * the OOM killer picks K3s. Servers get all; agents the kubelet's.
 */
export const PI_PROFILE = {
  server: [
    '--kube-apiserver-arg=max-requests-inflight=100',
    '--kube-apiserver-arg=max-mutating-requests-inflight=50',
    '--kube-controller-manager-arg=terminated-pod-gc-threshold=10',
  ],
  kubelet: [
    '--kubelet-arg=image-gc-high-threshold=70',
    '--kubelet-arg=image-gc-low-threshold=50',
    '--kubelet-arg=system-reserved=cpu=100m,memory=128Mi',
  ],
} as const;

/** The profile's flags for an install with `args` (`server ...` or `agent`). */
export function profileFlags(profile: ClusterCreateParams['profile'], role: string): string[] {
  if (profile !== 'pi') return [];
  return role === 'server' ? [...PI_PROFILE.server, ...PI_PROFILE.kubelet] : [...PI_PROFILE.kubelet];
}

/**
 * The discovery probe, handed in by the daemon (provisioning does not import discovery): its one
 * read-only command for a root, and the parser of its output.
 */
export interface HostProbe {
  command(root: string): string;
  parse(output: string): Capabilities;
}

export interface K3sDeps {
  store: Store;
  secrets: SecretBox;
  /** Reads each host's facts at install for its node labels (without it only `pi-controller.io/managed=true`). */
  probe?: HostProbe;
  /** Prefix of every path per host (tests only: the lab's fake roots), for jobs made by {@link provisionPort}. */
  roots?: Record<string, string>;
  /** The daemon's agent endpoint, for agents installed as units (absent when the daemon runs none). */
  enrolment?: AgentEnrolment;
}

export interface Paths {
  root: string;
  bin: string;
  k3s: string;
  systemd: string;
  data: string;
  kubeconfig: string;
  work: string;
  /** Extra `server`/`agent` flags that put K3s's files under the root (none on a real host). */
  flags: string[];
  /** Extra installer variables for the same (none on a real host). */
  env: Record<string, string>;
}

export function pathsOf(root: string): Paths {
  if (!root.startsWith('/') || !root.endsWith('/') || root.includes('\0'))
    throw new ProvisionError('INVALID_ARGUMENT', `root must be an absolute directory path ending in /: ${JSON.stringify(root)}`);
  const bin = `${root}usr/local/bin`;
  const systemd = `${root}etc/systemd/system`;
  const data = `${root}var/lib/rancher/k3s`;
  const kubeconfig = `${root}etc/rancher/k3s/k3s.yaml`;
  const custom = root !== '/';
  return {
    root,
    bin,
    k3s: `${bin}/k3s`,
    systemd,
    data,
    kubeconfig,
    work: `${root}var/lib/pi-controller/k3s`,
    flags: custom ? ['--data-dir', data, '--write-kubeconfig', kubeconfig] : [],
    env: custom ? { INSTALL_K3S_BIN_DIR: bin, INSTALL_K3S_SYSTEMD_DIR: systemd } : {},
  };
}

/**
 * A host tool K3s's service relies on (`systemctl`, `journalctl`): found on the PATH on a real host;
 * under a test root, in its bin dir (where the lab's stand-in installer puts its shims).
 */
export const hostTool = (P: Paths, name: 'systemctl' | 'journalctl'): string => (P.root === '/' ? name : `${P.bin}/${name}`);

/** Where the first server's API is reached by the other nodes and by clients. */
export const apiUrl = (host: string): string => `https://${host.includes(':') ? `[${host}]` : host}:6443`;

/** K3s's kubeconfig with its server address and its `default` names replaced. */
export function rewriteKubeconfig(text: string, server: string, name: string): string {
  if (!/^\s*server:\s*\S+\s*$/m.test(text))
    throw new ProvisionError('STEP_FAILED', 'the kubeconfig from the first server has no server: line');
  return text
    .replace(/^(\s*server:\s*)\S+\s*$/m, `$1${server}`)
    .replace(/^(\s*-?\s*(?:name|cluster|user):\s*)default\s*$/gm, `$1${name}`)
    .replace(/^current-context:\s*default\s*$/m, `current-context: ${name}`);
}

/** Runs `fn` over `items`, at most `limit` at once; the first error is thrown once all have settled. */
export async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors[0];
}

interface NodeList {
  items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
}

export function readyNodes(json: string): { ready: string[]; notReady: string[] } {
  const list = JSON.parse(json) as NodeList;
  const ready: string[] = [];
  const notReady: string[] = [];
  for (const n of list.items) {
    const ok = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    (ok ? ready : notReady).push(n.metadata.name);
  }
  return { ready, notReady };
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. Its abort listener goes when the timer fires:
 * a job polls for minutes with one signal, and a listener left per wait piled up past Node's limit
 * (MaxListenersExceededWarning) and kept every settled wait alive until the job ended.
 */
export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

/**
 * The labels a host's Node registers with, from what the probe read of it (K3s's `--node-label`,
 * given to the kubelet at registration): `pi-controller.io/managed=true` always; `model` (the
 * device-tree model, e.g. `Raspberry-Pi-4-Model-B-Rev-1.4`, made a label value as the cluster
 * reconciler makes it, so the two agree), `soc` (lower case, e.g. `bcm2711`, what the SoC checks
 * read), `arch-variant` (`v6`/`v7` for a 32-bit ARM kernel, which Kubernetes does not record and
 * the catalog's platform check reads) and `boot-media` (`sd`, `usb`, `nvme`) where the probe found
 * them. kubernetes.io/arch is the kubelet's own. Every value is at most 63 of [A-Za-z0-9._-],
 * alphanumeric at both ends; a value that sanitises to nothing is left out.
 */
export function nodeLabelsOf(c: Capabilities | undefined): Record<string, string> {
  const out: Record<string, string> = { [`${LABEL_PREFIX}managed`]: 'true' };
  const put = (key: string, value: string | null | undefined) => {
    const v = value ? labelValue(value) : '';
    if (v !== '') out[`${LABEL_PREFIX}${key}`] = v;
  };
  if (!c) return out;
  put('model', c.model);
  put('soc', c.soc?.toLowerCase());
  const arm = /^armv(\d+)/.exec(c.arch ?? '')?.[1];
  if (arm) put('arch-variant', `v${arm}`);
  if (c.bootMedia !== 'unknown') put('boot-media', c.bootMedia);
  return out;
}

/** `--node-label key=value` for each label (each word quoted when it reaches a shell). */
export const nodeLabelArgs = (labels: Record<string, string>): string[] =>
  Object.entries(labels).flatMap(([k, v]) => ['--node-label', `${k}=${v}`]);

/** What the probe reads of `h` (its root under `P`), or undefined without a probe or when it cannot run. */
async function probeHost(h: Host, P: Paths, probe: HostProbe | undefined): Promise<Capabilities | undefined> {
  if (!probe) return undefined;
  const r = await h.exec(probe.command(P.root), { timeoutMs: 60_000 });
  return r.code === 0 ? probe.parse(r.stdout) : undefined;
}

/** A host as the install sees it: the job's own or another one of the job (see StepContext.on). */
export type Host = Pick<RemoteHost, 'exec' | 'run' | 'ssh' | 'login'>;

/** What an install takes from a job's params. */
export type InstallOptions = Pick<ClusterCreateParams, 'version' | 'airgap' | 'roots' | 'installTimeoutMs' | 'profile' | 'agentUnit'>;

/**
 * Installs K3s on `h` with `args` (`server ...` or `agent`) and, when joining, K3S_URL and K3S_TOKEN;
 * the Node's labels (see {@link nodeLabelsOf}) from what `probe` reads of the host now.
 * INSTALL_K3S_EXEC is a command line of quoted words (the installer parses it as shell words).
 */
export async function installK3s(
  h: Host,
  p: InstallOptions,
  args: string[],
  join: { url?: string; token?: string },
  probe?: HostProbe,
): Promise<void> {
  const installTimeoutMs = p.installTimeoutMs ?? 600_000;
  const P = pathsOf(p.roots?.[h.login.host] ?? '/');
  const labels = nodeLabelsOf(await probeHost(h, P, probe));
  await h.run(cmd('mkdir', '-p', P.work, P.bin, `${P.data}/agent/images`), { sudo: true });
  const script = `${P.work}/install.sh`;
  const upload = async (source: string, dest: string, mode: number) => {
    const sha = await h.ssh.upload(source, dest, { mode, sudo: true, timeoutMs: installTimeoutMs });
    return sha;
  };
  const env: Record<string, string> = {
    ...P.env,
    INSTALL_K3S_EXEC: cmd(...args, ...P.flags, ...profileFlags(p.profile, args[0] ?? ''), ...nodeLabelArgs(labels)),
  };
  if (p.version) env.INSTALL_K3S_VERSION = p.version;
  if (join.url) env.K3S_URL = join.url;
  if (join.token) env.K3S_TOKEN = join.token;
  if (p.airgap) {
    await upload(p.airgap.binary, P.k3s, 0o755);
    for (const image of p.airgap.images) {
      const base = image.split('/').pop()!;
      await upload(image, `${P.data}/agent/images/${base}`, 0o644);
    }
    await upload(p.airgap.installScript, script, 0o755);
    env.INSTALL_K3S_SKIP_DOWNLOAD = 'true';
  } else {
    await h.run(cmd('curl', '-sfL', '--retry', 3, '-o', script, 'https://get.k3s.io', raw('&&'), 'chmod', '755', script), {
      sudo: true,
      timeoutMs: 120_000,
    });
  }
  // The installer's environment in a root-only file, so the token is in no command line or log.
  const envFile = `${P.work}/install.env`;
  const body = Object.entries(env)
    .map(([k, v]) => `${k}=${shq(v)}\n`)
    .join('');
  await h.ssh.upload(Buffer.from(body), envFile, { mode: 0o600, sudo: true });
  try {
    await h.run(shC(`set -a && . ${shq(envFile)} && set +a && rm -f ${shq(envFile)} && exec ${shq(script)}`), {
      sudo: true,
      timeoutMs: installTimeoutMs,
    });
  } finally {
    await h.exec(cmd('rm', '-f', envFile), { sudo: true });
  }
  // Noted only once the installer has finished (its service up): a failed install leaves the old note.
  const installed = (await installedVersions(h, P)).binary;
  if (installed)
    await h.run(cmd('sh', '-c', 'printf "%s\\n" "$1" > "$2"', 'sh', installed, versionNote(P)), { sudo: true, timeoutMs: 30_000 });
}

/** Where the version of the last install that finished on a host is noted (pi-controller's own file). */
export const versionNote = (P: Paths): string => `${P.work}/installed-version`;

/**
 * What a host says of its K3s: `binary`, the version `k3s --version` prints (the file in the bin dir,
 * which an air-gap install replaces before its installer runs), and `noted`, the version of the last
 * install that finished there (see {@link installK3s}); undefined where there is none.
 */
export async function installedVersions(h: Host, P: Paths): Promise<{ binary?: string; noted?: string }> {
  const v = await h.exec(cmd(P.k3s, '--version'), { sudo: true, timeoutMs: 30_000 });
  const binary = v.code === 0 ? /^k3s version (\S+)/m.exec(v.stdout)?.[1] : undefined;
  const n = await h.exec(cmd('cat', versionNote(P)), { sudo: true, timeoutMs: 30_000 });
  const noted = n.code === 0 ? n.stdout.trim() || undefined : undefined;
  return { ...(binary ? { binary } : {}), ...(noted ? { noted } : {}) };
}

export function clusterCreateKind(deps: K3sDeps): JobDefinition {
  return { kind: CLUSTER_CREATE_KIND, steps: (params) => clusterSteps(deps, params as unknown as ClusterCreateParams) };
}

function clusterSteps(deps: K3sDeps, p: ClusterCreateParams): Step[] {
  const P = (login: HostLogin) => pathsOf(p.roots?.[login.host] ?? '/');
  for (const h of [...p.servers, ...p.agents]) P(h);
  const first = p.servers[0];
  if (!first) throw new ProvisionError('INVALID_ARGUMENT', 'a cluster needs at least one server');
  const cluster = () => deps.store.clusters.require(p.clusterId);
  const url = apiUrl(first.host);
  const P1 = P(first);
  const kubectl = (...args: string[]) => cmd(P1.k3s, 'kubectl', ...args);

  const joinToken = (): string => {
    const sealed = deps.store.clusters.sealed(p.clusterId).joinToken;
    if (!sealed) throw new ProvisionError('STEP_FAILED', 'the join token has not been read from the first server yet');
    return deps.secrets.open(sealed).toString('utf8');
  };

  const asHost = (ctx: StepContext): Host => ({ login: ctx.login, exec: ctx.exec, run: ctx.run, ssh: ctx.ssh });
  const install = (h: Host, args: string[], join: { url?: string; token?: string }) => installK3s(h, p, args, join, deps.probe);

  /** The Node name a host registers with (its host name, as K3s uses by default). */
  const nodeName = async (h: Host) => (await h.run(cmd('hostname'))).stdout.trim();

  /** True when `name` is a registered Node, asked through the first server's API. */
  const registered = async (ctx: StepContext, name: string) =>
    (await ctx.exec(kubectl('get', 'node', name, '-o', 'name'), { sudo: true, timeoutMs: 30_000 })).code === 0;

  const waitRegistered = async (ctx: StepContext, name: string) => {
    const until = Date.now() + (p.readyTimeoutMs ?? 600_000);
    while (!(await registered(ctx, name))) {
      if (Date.now() > until || ctx.signal.aborted)
        throw new ProvisionError('CLUSTER_NOT_READY', `node ${name} did not register with ${url} in time`);
      await sleep(2_000, ctx.signal);
    }
  };

  /** A session object for `login`: the job's own one for the first server, else a new one. */
  const hostFor = async (ctx: StepContext, login: HostLogin): Promise<Host> => {
    if (login.host === first.host && (login.port ?? 22) === (first.port ?? 22)) return asHost(ctx);
    return ctx.on(login);
  };

  const joinAll = (hosts: HostLogin[], role: 'server' | 'agent', limit: number) => ({
    check: async (ctx: StepContext) => {
      for (const login of hosts) {
        const h = await hostFor(ctx, login);
        if (!(await registered(ctx, await nodeName(h)))) return false;
      }
      return true;
    },
    run: async (ctx: StepContext) => {
      const token = joinToken();
      await inParallel(hosts, limit, async (login) => {
        const h = await hostFor(ctx, login);
        const name = await nodeName(h);
        if (await registered(ctx, name)) {
          ctx.log(`${login.host}: node ${name} is registered already`);
          return;
        }
        await install(h, role === 'server' ? ['server', '--server', url] : ['agent'], { url: role === 'agent' ? url : undefined, token });
        await waitRegistered(ctx, name);
        ctx.log(`${login.host}: node ${name} registered`);
      });
    },
  });

  const others = p.servers.slice(1);
  const steps: Step[] = [
    {
      name: `server ${first.host}`,
      check: async (ctx) =>
        (await ctx.exec(cmd('test', '-s', `${P1.data}/server/node-token`), { sudo: true })).code === 0 &&
        (await ctx.exec(kubectl('get', '--raw', '/readyz'), { sudo: true, timeoutMs: 30_000 })).code === 0,
      run: async (ctx) => {
        deps.store.clusters.update(p.clusterId, { state: 'provisioning' });
        await install(asHost(ctx), ['server', '--cluster-init'], {});
      },
    },
    {
      name: 'join-token',
      check: async () => deps.store.clusters.sealed(p.clusterId).joinToken !== null,
      run: async (ctx) => {
        // Read without logging its output: the token must not reach the job's log.
        const r = await ctx.ssh.exec(cmd('cat', `${P1.data}/server/node-token`), { sudo: true, timeoutMs: 30_000 });
        const token = r.stdout.trim();
        if (r.code !== 0 || !/^K10[0-9a-f]+::[^\s:]+:\S+$/.test(token))
          throw new ProvisionError('STEP_FAILED', `${first.host}: no valid node-token in ${P1.data}/server/node-token`);
        deps.store.clusters.setJoinToken(p.clusterId, deps.secrets.seal(Buffer.from(token)));
        ctx.log('join token read and stored sealed');
      },
    },
  ];
  if (others.length > 0) steps.push({ name: `servers join (${others.map((h) => h.host).join(', ')})`, ...joinAll(others, 'server', 1) });
  if (p.agents.length > 0)
    steps.push({ name: `agents join (${p.agents.map((h) => h.host).join(', ')})`, ...joinAll(p.agents, 'agent', p.nodeConcurrency ?? 4) });
  steps.push(
    {
      name: 'kubeconfig',
      check: async () => deps.store.clusters.sealed(p.clusterId).kubeconfig !== null,
      run: async (ctx) => {
        const r = await ctx.ssh.exec(cmd('cat', P1.kubeconfig), { sudo: true, timeoutMs: 30_000 });
        if (r.code !== 0) throw new ProvisionError('STEP_FAILED', `${first.host}: cannot read ${P1.kubeconfig}`);
        const text = rewriteKubeconfig(r.stdout, url, cluster().name);
        deps.store.clusters.setKubeconfig(p.clusterId, deps.secrets.seal(Buffer.from(text)), url);
        ctx.log(`kubeconfig stored sealed, server ${url}`);
      },
    },
    {
      name: 'ready',
      check: async () => cluster().state === 'ready',
      run: async (ctx) => {
        const want = p.servers.length + p.agents.length;
        const until = Date.now() + (p.readyTimeoutMs ?? 600_000);
        let last = { ready: [] as string[], notReady: [] as string[] };
        for (;;) {
          const r = await ctx.ssh.exec(kubectl('get', 'nodes', '-o', 'json'), { sudo: true, timeoutMs: 30_000 });
          if (r.code === 0) {
            last = readyNodes(r.stdout);
            if (last.ready.length >= want && last.notReady.length === 0) break;
          }
          if (Date.now() > until || ctx.signal.aborted)
            throw new ProvisionError(
              'CLUSTER_NOT_READY',
              `${last.ready.length} of ${want} nodes Ready in time; not Ready: ${last.notReady.join(', ') || 'none registered'}`,
            );
          await sleep(2_000, ctx.signal);
        }
        ctx.log(`all ${want} nodes Ready: ${last.ready.join(', ')}`);
        deps.store.clusters.update(p.clusterId, {
          state: 'ready',
          ha: p.servers.length >= 3,
          ...(p.version ? { k3sVersion: p.version } : {}),
        });
      },
    },
  );
  const unit = p.agentUnit;
  if (unit) {
    const all = [...p.servers, ...p.agents];
    steps.push({
      name: `pi-controller agents (${all.map((h) => h.host).join(', ')})`,
      check: async (ctx) => {
        for (const login of all) {
          const h = await hostFor(ctx, login);
          if (!(await agentUnitDone(h, P(login), deps.enrolment, await nodeName(h)))) return false;
        }
        return true;
      },
      run: async (ctx) =>
        inParallel(all, p.nodeConcurrency ?? 4, async (login) =>
          installAgentUnit(await hostFor(ctx, login), P(login), unit, requireEnrolment(deps), ctx),
        ),
    });
  }
  return steps;
}

/** A request's agent unit, refused before any job (AGENTS_OFF, or INVALID_ARGUMENT for a path that holds no agent image). */
export function agentUnitOf(deps: Pick<K3sDeps, 'enrolment'>, a: { image: string; sim?: boolean }): AgentUnitOptions {
  requireEnrolment(deps);
  imagePlatforms(a.image);
  return { image: a.image, ...(a.sim ? { sim: true } : {}) };
}

/** The daemon's agent endpoint, or AGENTS_OFF when it runs none. */
export function requireEnrolment(deps: Pick<K3sDeps, 'enrolment'>): AgentEnrolment {
  if (!deps.enrolment)
    throw new ProvisionError('AGENTS_OFF', 'the control plane runs no agent endpoint (agents.enabled is false): agents cannot enrol');
  return deps.enrolment;
}

/** The REST API's view of cluster provisioning, on `runner` (which must know {@link clusterCreateKind}). */
export function provisionPort(
  deps: K3sDeps & { runner: JobRunner },
): Omit<ProvisionPort, 'addNode' | 'removeNode' | 'resetCluster' | 'upgradeCluster' | 'restoreCluster'> {
  return {
    createCluster(clusterId, req: ClusterProvision, createdBy) {
      const c = deps.store.clusters.require(clusterId);
      if (c.state !== 'pending' && c.state !== 'error')
        throw new ConflictError(`cluster ${c.name} is ${c.state}: only a pending or failed cluster can be provisioned`, { state: c.state });
      const all = [...req.servers, ...(req.agents ?? [])];
      const twice = all.find((h, i) => all.indexOf(h) !== i);
      if (twice !== undefined) throw new ProvisionError('INVALID_ARGUMENT', `host ${twice} is named twice`, { details: { host: twice } });
      const login = (host: string): HostLogin => ({
        host,
        user: req.user ?? 'pi',
        ...(req.port !== undefined ? { port: req.port } : {}),
        ...(req.identityFile !== undefined ? { identityFile: req.identityFile } : {}),
      });
      const params: ClusterCreateParams = {
        clusterId: c.id,
        servers: req.servers.map(login),
        agents: (req.agents ?? []).map(login),
        ...(req.version !== undefined ? { version: req.version } : {}),
        ...(req.airgap !== undefined ? { airgap: req.airgap } : {}),
        ...(req.profile === 'pi' ? { profile: req.profile } : {}),
        ...(req.agent ? { agentUnit: agentUnitOf(deps, req.agent) } : {}),
        ...(deps.roots ? { roots: deps.roots } : {}),
      };
      deps.store.clusters.update(c.id, { state: 'provisioning' });
      const job = deps.runner.submit(CLUSTER_CREATE_KIND, {
        login: params.servers[0]!,
        params: params as unknown as Record<string, unknown>,
        createdBy,
      });
      void deps.runner.wait(job.id).then((j) => {
        if (j.state !== 'succeeded') deps.store.clusters.update(c.id, { state: 'error' });
      });
      return job;
    },
    kubeconfig(clusterId) {
      const c = deps.store.clusters.require(clusterId);
      const sealed = deps.store.clusters.sealed(c.id);
      if (!sealed.kubeconfig || !sealed.apiServer) return undefined;
      return { server: sealed.apiServer, kubeconfig: deps.secrets.open(sealed.kubeconfig).toString('utf8') };
    },
  };
}
