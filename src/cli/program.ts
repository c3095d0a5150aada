/**
 * The `pi-controller` command line. Each command group is a small function that adds its
 * commands to the program; later issues (discovery, provisioning, clusters) add theirs the
 * same way. Commands talk REST with saved credentials; `--json` prints machine-readable output.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ClusterKubeconfig } from '../api/clusters.js';
import { Command, CommanderError, Option } from 'commander';
import WebSocket from 'ws';
import { ConfigError, ControllerError, SchemaError } from '../api/errors.js';
import type { EventEnvelope } from '../api/events.js';
import type { Job, JobLogLine } from '../api/jobs.js';
import type { AgentLogLines } from '../api/agent.js';
import type { Node } from '../api/nodes.js';
import type { TokenCreated, TokenInfo } from '../api/tokens.js';
import type { BackupInfo } from '../api/system.js';
import { loadConfig } from '../config/index.js';
import { restoreBackup } from '../backup/index.js';
import { PID_FILE, recordedServerAlive } from '../daemon/pidfile.js';
import { call, resolveCredentials, streamText, saveCredentials, type ApiCredentials, type Env } from './client.js';
import { CliError, EXIT } from './exit.js';
import { details, inert, inertJson, table } from './output.js';
import type { DiscoveryResult, ScanReport } from '../api/discovery.js';
import type { CatalogInstall, CatalogItem, InstallResult, RemoveResult } from '../api/catalog.js';

/** What the program needs from its surroundings (so tests can run it in-process). */
export interface Io extends Env {
  out(text: string): void;
  err(text: string): void;
  /** Called by long-running commands to wait for SIGINT/SIGTERM. */
  onStop(fn: () => void): void;
}

interface GlobalOpts {
  url?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  dataDir?: string;
  json?: boolean;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Ctx = { io: Io; creds(): ApiCredentials; json(): boolean; print(data: unknown, human: () => string): void };

function serveCommand(program: Command, io: Io): void {
  program
    .command('serve')
    .description('run the control plane (REST, WebSocket events, SQLite state)')
    .option('-c, --config <file>', 'YAML or JSON config file (also PI_CONTROLLER_CONFIG)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .option('--host <host>', 'address to bind (default 127.0.0.1; beyond loopback HTTPS is used)')
    .option('--port <port>', 'port (default 8080; 0 picks a free one)')
    .addOption(new Option('--tls <mode>', 'auto, on or off').choices(['auto', 'on', 'off']))
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--agent-host <host>', 'agent endpoint address (default 127.0.0.1)')
    .option('--agent-port <port>', 'agent endpoint port (default 8443; 0 picks a free one)')
    .option('--local-agent', 'also run one simulated agent (node local-sim) enrolled over mutual TLS')
    .option(
      '--kubeconfig <file>',
      'reconcile GPIOPin/PWMController/I2CDevice on this cluster, e.g. /etc/rancher/k3s/k3s.yaml (PI_CONTROLLER_KUBECONFIG; default: off)',
    )
    .action(
      async (o: {
        config?: string;
        dataDir?: string;
        host?: string;
        port?: string;
        tls?: string;
        logLevel?: string;
        agentHost?: string;
        agentPort?: string;
        localAgent?: boolean;
        kubeconfig?: string;
      }) => {
        const config = loadConfig({
          ...(o.config ? { file: o.config } : {}),
          env: io.env,
          cwd: io.cwd,
          flags: {
            '/dataDir': o.dataDir,
            '/http/host': o.host,
            '/http/port': o.port,
            '/http/tls': o.tls,
            '/log/level': o.logLevel,
            '/agents/host': o.agentHost,
            '/agents/port': o.agentPort,
            '/kubernetes/kubeconfig': o.kubeconfig,
          },
        });
        const caSecret = io.env.PI_CONTROLLER_CA_SECRET;
        // Loaded here, not at the top: every other command is a REST client and starts without the
        // daemon's modules (about 1 s of CPU on a Pi-class core).
        const { startControlPlane } = await import('../daemon/serve.js');
        const cp = await startControlPlane({
          config,
          version: packageVersion(),
          out: io.out,
          localAgent: o.localAgent === true,
          ...(caSecret ? { caSecret } : {}),
        });
        await new Promise<void>((done) => io.onStop(() => void cp.close().then(done, done)));
      },
    );
}

function loginCommands(program: Command, ctx: Ctx): void {
  program
    .command('login')
    .description('check a server URL and token, and save them for later commands')
    .action(async () => {
      const c = ctx.creds();
      if (!c.token) throw new CliError('no token given: pass --token, --token-file or PI_CONTROLLER_TOKEN', EXIT.USAGE);
      const who = (await call(c, 'GET', '/api/v1/whoami')).body as { name: string; role: string };
      const file = saveCredentials(ctx.io, c);
      ctx.print({ ...who, url: c.url, saved: file }, () => `logged in to ${c.url} as ${who.name} (${who.role}); saved to ${file}\n`);
    });
  program
    .command('whoami')
    .description('show the token in use')
    .action(async () => {
      const who = (await call(ctx.creds(), 'GET', '/api/v1/whoami')).body as Record<string, unknown>;
      ctx.print(who, () => details(who));
    });
}

function tokenCommands(program: Command, ctx: Ctx): void {
  const token = program.command('token').description('manage API tokens (admin)');
  token
    .command('create <name>')
    .description('create a token; its secret is printed this once')
    .addOption(new Option('--role <role>', 'viewer, operator or admin').choices(['viewer', 'operator', 'admin']).default('viewer'))
    .option('--ttl <seconds>', 'lifetime in seconds (default: no expiry)')
    .action(async (name: string, o: { role: string; ttl?: string }) => {
      const body = { name, role: o.role, ...(o.ttl !== undefined ? { ttlSeconds: Number(o.ttl) } : {}) };
      const r = (await call(ctx.creds(), 'POST', '/api/v1/tokens', body)).body as TokenCreated;
      ctx.print(r, () => `${r.token}\n(token ${r.info.id}, role ${r.info.role}: store it now, it is not shown again)\n`);
    });
  token
    .command('list')
    .description('list tokens')
    .option('--all', 'include revoked tokens')
    .action(async (o: { all?: boolean }) => {
      const r = (await call(ctx.creds(), 'GET', `/api/v1/tokens${o.all ? '?includeRevoked=true' : ''}`)).body as { items: TokenInfo[] };
      ctx.print(r.items, () =>
        table(
          ['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
          r.items.map((t) => [t.id, t.name, t.role, t.createdAt, t.lastUsedAt, t.expiresAt, t.revokedAt]),
        ),
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token')
    .action(async (id: string) => {
      const r = (await call(ctx.creds(), 'DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`)).body as TokenInfo;
      ctx.print(r, () => `revoked ${r.id} (${r.name})\n`);
    });
}

function nodeCommands(program: Command, ctx: Ctx): void {
  const nodes = program.command('nodes').description('nodes known to the control plane');
  nodes
    .command('list')
    .description('list nodes')
    .option('--state <state>', 'only nodes in this state')
    .action(async (o: { state?: string }) => {
      const q = o.state ? `?state=${encodeURIComponent(o.state)}&limit=1000` : '?limit=1000';
      const r = (await call(ctx.creds(), 'GET', `/api/v1/nodes${q}`)).body as { items: Node[]; total: number };
      ctx.print(r, () =>
        table(
          ['NAME', 'STATE', 'ADDRESS', 'MODEL', 'CLUSTER', 'LAST SEEN'],
          r.items.map((n) => [n.name, n.state, n.address, n.model, n.clusterId, n.lastSeenAt]),
        ),
      );
    });
  nodes
    .command('get <node>')
    .description('show one node (by name or id)')
    .action(async (id: string) => {
      const n = (await call(ctx.creds(), 'GET', `/api/v1/nodes/${encodeURIComponent(id)}`)).body as Node;
      ctx.print(n, () => details(n as unknown as Record<string, unknown>));
    });
}

function eventsCommand(program: Command, ctx: Ctx): void {
  program
    .command('events')
    .description('follow the event stream')
    .option('--types <list>', 'comma-separated types or patterns, e.g. node.*,job.updated')
    .option('--since <seq>', 'replay events after this sequence number first')
    .option('--count <n>', 'exit after this many events')
    .action(async (o: { types?: string; since?: string; count?: string }) => {
      const c = ctx.creds();
      const u = new URL(c.url.replace(/^http/, 'ws') + '/api/v1/events');
      if (o.types) u.searchParams.set('types', o.types);
      if (o.since) u.searchParams.set('since', o.since);
      const limit = o.count === undefined ? Infinity : positiveInteger('--count', o.count, 1);
      if (o.since !== undefined) positiveInteger('--since', o.since, 0);
      await new Promise<void>((done, fail) => {
        const ws = new WebSocket(u, {
          headers: c.token ? { authorization: `Bearer ${c.token}` } : {},
          ...(c.ca ? { ca: readFileSync(c.ca) } : {}),
        });
        let n = 0;
        ctx.io.onStop(() => ws.close());
        ws.on('unexpected-response', (_req, res) => {
          const status = res.statusCode ?? 0;
          fail(
            new CliError(
              `the server refused the stream: HTTP ${status}`,
              status === 401 || status === 403 ? EXIT.AUTH : status === 422 ? EXIT.INVALID : EXIT.ERROR,
            ),
          );
        });
        ws.on('error', (err) => fail(new CliError(`cannot reach ${c.url}: ${err.message}`, EXIT.UNREACHABLE)));
        ws.on('message', (m) => {
          // A replay arrives in one burst: messages already received after the last one wanted are dropped.
          if (n >= limit) return;
          const e = JSON.parse(String(m)) as EventEnvelope;
          if (ctx.json()) ctx.io.out(JSON.stringify(e) + '\n');
          else {
            const d = e.data as { name?: string; id?: string };
            ctx.io.out(`${String(e.seq).padStart(6)}  ${e.at}  ${e.type.padEnd(16)}  ${d.name ?? d.id ?? ''}\n`);
          }
          if (++n >= limit) ws.close();
        });
        ws.on('close', () => done());
      });
    });
}

/** Prints a job's log; with `follow`, until the job ends (a CliError when it failed or was cancelled). */
async function jobLogs(ctx: Ctx, id: string, follow: boolean, every: number): Promise<void> {
  const c = ctx.creds();
  const path = `/api/v1/jobs/${encodeURIComponent(id)}`;
  let stopped = false;
  ctx.io.onStop(() => (stopped = true));
  let after = 0;
  const drain = async () => {
    for (;;) {
      const r = (await call(c, 'GET', `${path}/logs?after=${after}&limit=1000`)).body as { items: JobLogLine[] };
      for (const l of r.items) {
        // Lines are what a remote host printed: control characters are shown, never sent to the terminal.
        ctx.io.out(ctx.json() ? inertJson(l) + '\n' : `${l.at}  ${l.stream.padEnd(6)}  ${inert(l.line)}\n`);
        after = l.seq;
      }
      if (r.items.length < 1000) return;
    }
  };
  for (;;) {
    // The state is read before the lines, so the last lines of a job that ends meanwhile are not missed.
    const state = ((await call(c, 'GET', path)).body as Job).state;
    await drain();
    const final = state === 'succeeded' || state === 'failed' || state === 'cancelled';
    if (!follow || final || stopped) {
      if (follow && final && state !== 'succeeded') {
        const j = (await call(c, 'GET', path)).body as Job;
        throw new CliError(`job ${id} ${j.state}${j.error ? `: ${inert(j.error)}` : ''}`, EXIT.ERROR);
      }
      return;
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/** One of the agent's JSON log lines for a terminal: time, level, component, message, the rest as JSON. */
function agentLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return inert(line);
  }
  const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
  const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = rec;
  const at = typeof time === 'number' ? new Date(time).toISOString() : String(time ?? '');
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return inert(`${at}  ${(levels[Number(level)] ?? String(level)).padEnd(5)}  ${String(component ?? '-')}: ${String(msg ?? '')}${extra}`);
}

/** The cluster (id) that has `target` among its hosts, by address or by the address of the node of that name. */
async function clusterOfHost(ctx: Ctx, target: string): Promise<string> {
  const c = ctx.creds();
  const clusters = (await call(c, 'GET', '/api/v1/clusters?limit=1000')).body as { items: { id: string }[] };
  let address: string | null = null;
  const node = await call(c, 'GET', `/api/v1/nodes/${encodeURIComponent(target)}`).catch(() => undefined);
  if (node) address = (node.body as { address?: string | null }).address ?? null;
  for (const cl of clusters.items) {
    const hosts = (await call(c, 'GET', `/api/v1/clusters/${encodeURIComponent(cl.id)}/hosts`)).body as { items: { host: string }[] };
    if (hosts.items.some((h) => h.host === target || h.host === address)) return cl.id;
  }
  throw new CliError(`${target} is not a host of any provisioned cluster`, EXIT.NOT_FOUND);
}

type LogsOptions = { follow?: boolean; tail: string; interval: string; unit?: string; lines: string; cluster?: string };

/** A provisioned host's unit journal, streamed; lines are what the host printed, so control characters are shown, not sent. */
async function unitJournal(ctx: Ctx, target: string, unit: string, lines: number, follow: boolean, cluster?: string): Promise<void> {
  const id = cluster ?? (await clusterOfHost(ctx, target));
  const q = new URLSearchParams({ unit, lines: String(lines), ...(follow ? { follow: 'true' } : {}) });
  const path = `/api/v1/clusters/${encodeURIComponent(id)}/hosts/${encodeURIComponent(target)}/journal?${q.toString()}`;
  let rest = '';
  await streamText(
    ctx.creds(),
    path,
    (text) => {
      const parts = (rest + text).split('\n');
      rest = parts.pop()!;
      for (const l of parts) ctx.io.out(ctx.json() ? inertJson({ line: l }) + '\n' : inert(l) + '\n');
    },
    (stop) => ctx.io.onStop(stop),
  );
  if (rest) ctx.io.out(ctx.json() ? inertJson({ line: rest }) + '\n' : inert(rest) + '\n');
}

function logsCommand(program: Command, ctx: Ctx): void {
  program
    .command('logs <target>')
    .description(
      "a node agent's own recent log lines (<node>), a node's service journal over SSH (--unit), or a job's log (job/<id>); -f follows",
    )
    .option('-f, --follow', 'keep printing new lines (a job: until it has finished)')
    .option('--tail <n>', 'a node: print at most the last n lines kept first', '100')
    .option('--interval <ms>', 'how often to ask for new lines when following', '1000')
    .option('--unit <unit>', "a provisioned host's systemd unit journal instead (k3s, k3s-agent), read over SSH")
    .option('-n, --lines <n>', 'with --unit: the last n lines first', '200')
    .option('--cluster <cluster>', 'with --unit: the cluster the host belongs to (default: the one that has it)')
    .action(async (target: string, o: LogsOptions) => {
      const every = positiveInteger('--interval', o.interval, 50);
      if (target.startsWith('job/')) return jobLogs(ctx, target.slice(4), o.follow === true, every);
      if (o.unit !== undefined)
        return unitJournal(ctx, target, o.unit, positiveInteger('--lines', o.lines, 0), o.follow === true, o.cluster);
      const tail = positiveInteger('--tail', o.tail, 0);
      const c = ctx.creds();
      const path = `/api/v1/agents/${encodeURIComponent(target)}/logs`;
      let stopped = false;
      ctx.io.onStop(() => (stopped = true));
      let after = 0;
      let first = true;
      for (;;) {
        const r = (await call(c, 'GET', `${path}?after=${after}&limit=1000`)).body as AgentLogLines;
        // Lines the agent's ring let go of between two asks are said, not silently skipped.
        if (!first && r.first > after + 1) ctx.io.err(`(${r.first - after - 1} lines dropped by the agent's ring)\n`);
        const lines = first ? r.lines.slice(Math.max(0, r.lines.length - tail)) : r.lines;
        for (const l of lines) ctx.io.out(ctx.json() ? inertJson(l) + '\n' : agentLogLine(l.line) + '\n');
        if (r.lines.length) after = r.lines[r.lines.length - 1]!.seq;
        first = false;
        if (r.lines.length === 1000) continue;
        if (!o.follow || stopped) return;
        await new Promise((res) => setTimeout(res, every));
        if (stopped) return;
      }
    });
}

function jobCommands(program: Command, ctx: Ctx): void {
  const job = program.command('job').description('provisioning and other long-running jobs');
  job
    .command('logs <id>')
    .description("print a job's log; with -f, follow it until the job ends (exit 1 when it failed or was cancelled)")
    .option('-f, --follow', 'keep printing new lines until the job has finished')
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(async (id: string, o: { follow?: boolean; interval: string }) =>
      jobLogs(ctx, id, o.follow === true, positiveInteger('--interval', o.interval, 50)),
    );
}

function clusterCommands(program: Command, ctx: Ctx): void {
  const cluster = program.command('cluster').description('K3s clusters provisioned over SSH');
  const hosts = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== '');
  cluster
    .command('create <name>')
    .description(
      'install K3s over SSH: the first server with --cluster-init, more servers joining it, then agents; prints the job id (-f: follows its log)',
    )
    .requiredOption('--servers <hosts>', 'comma-separated server hosts (the first one starts the cluster)')
    .option('--agents <hosts>', 'comma-separated agent hosts')
    .option('--k3s-version <version>', 'K3s version, e.g. v1.30.4+k3s1 (default: the stable channel, or the air-gap binary)')
    .option('--user <user>', 'SSH user (default pi)')
    .option('--identity-file <path>', 'SSH private key on the control plane machine')
    .option('--airgap-install-script <path>', 'air-gap install: the K3s install script on the control plane machine')
    .option('--airgap-binary <path>', 'air-gap install: the k3s binary')
    .option('--airgap-images <paths>', 'air-gap install: comma-separated image tarballs')
    .option(
      '--profile <profile>',
      'K3s flags for the hardware: pi (smaller API server, kubelet and controller footprints; see README) or default',
    )
    .option('--agent-image <dir>', 'install our agent on every node as a systemd unit from this image layout (npm run image)')
    .option('--agent-sim', 'with --agent-image: the agents run on the simulated register model (nodes that are not Pis)')
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(
      async (
        name: string,
        o: {
          servers: string;
          profile?: string;
          agents?: string;
          k3sVersion?: string;
          user?: string;
          identityFile?: string;
          airgapInstallScript?: string;
          airgapBinary?: string;
          airgapImages?: string;
          agentImage?: string;
          agentSim?: boolean;
          follow?: boolean;
          interval: string;
        },
      ) => {
        const c = ctx.creds();
        const body: Record<string, unknown> = { servers: hosts(o.servers), agents: hosts(o.agents), ...agentUnitBody(o) };
        if (o.k3sVersion) body.version = o.k3sVersion;
        if (o.profile !== undefined) {
          if (o.profile !== 'pi' && o.profile !== 'default')
            throw new CliError(`--profile must be pi or default, not ${JSON.stringify(o.profile)}`, EXIT.USAGE);
          body.profile = o.profile;
        }
        if (o.user) body.user = o.user;
        if (o.identityFile) body.identityFile = resolve(o.identityFile);
        if (o.airgapBinary || o.airgapInstallScript || o.airgapImages) {
          if (!o.airgapBinary || !o.airgapInstallScript)
            throw new CliError('an air-gap install needs --airgap-binary and --airgap-install-script', EXIT.USAGE);
          body.airgap = {
            installScript: resolve(o.airgapInstallScript),
            binary: resolve(o.airgapBinary),
            images: hosts(o.airgapImages).map((p) => resolve(p)),
          };
        }
        const list = (await call(c, 'GET', '/api/v1/clusters?limit=1000')).body as { items: { name: string }[] };
        if (!list.items.some((x) => x.name === name))
          await call(c, 'POST', '/api/v1/clusters', { name, ...(o.k3sVersion ? { k3sVersion: o.k3sVersion } : {}) });
        const job = (await call(c, 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/provision`, body)).body as Job;
        ctx.print(job, () => `${job.id}\n`);
        if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
      },
    );
  cluster
    .command('add-node <name> <host>')
    .description('join a host to the cluster with its stored join token and wait for its Node to be Ready; prints the job id')
    .option('--role <role>', 'agent or server', 'agent')
    .option('--user <user>', "SSH user (default: the first server's)")
    .option('--identity-file <path>', "SSH private key on the control plane machine (default: the first server's)")
    .option(
      '--agent-image <dir>',
      "install our agent there as a systemd unit from this image layout (default: the cluster's, if it has one)",
    )
    .option('--agent-sim', 'with --agent-image: the agent runs on the simulated register model (a node that is not a Pi)')
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(
      async (
        name: string,
        host: string,
        o: {
          role: string;
          user?: string;
          identityFile?: string;
          agentImage?: string;
          agentSim?: boolean;
          follow?: boolean;
          interval: string;
        },
      ) => {
        if (o.role !== 'agent' && o.role !== 'server')
          throw new CliError(`--role must be agent or server, not ${JSON.stringify(o.role)}`, EXIT.USAGE);
        const body: Record<string, unknown> = { host, role: o.role, ...agentUnitBody(o) };
        if (o.user) body.user = o.user;
        if (o.identityFile) body.identityFile = resolve(o.identityFile);
        const job = (await call(ctx.creds(), 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/add-node`, body)).body as Job;
        ctx.print(job, () => `${job.id}\n`);
        if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
      },
    );
  cluster
    .command('remove-node <name> <host>')
    .description('remove an agent: cordon, drain, delete its Node, uninstall K3s on the host and check it is clean; prints the job id')
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(async (name: string, host: string, o: { follow?: boolean; interval: string }) => {
      const job = (await call(ctx.creds(), 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/remove-node`, { host })).body as Job;
      ctx.print(job, () => `${job.id}\n`);
      if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
    });
  cluster
    .command('reset <name>')
    .description('uninstall K3s from every host of the cluster (agents first), check them clean, forget its kubeconfig and join token')
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(async (name: string, o: { follow?: boolean; interval: string }) => {
      const job = (await call(ctx.creds(), 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/reset`)).body as Job;
      ctx.print(job, () => `${job.id}\n`);
      if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
    });
  cluster
    .command('upgrade <name>')
    .description(
      'rolling upgrade to a K3s release, servers first then agents, one node at a time (cordon, drain, install, wait Ready at the version, uncordon); stops at the first failure; prints the job id',
    )
    .requiredOption('--k3s-version <version>', 'the K3s release, e.g. v1.30.4+k3s1 (also --version <version>)')
    .option('--airgap-install-script <path>', "air-gap install: the K3s install script (default: the cluster's)")
    .option('--airgap-binary <path>', "air-gap install: the k3s binary of the release (default: the cluster's)")
    .option('--airgap-images <paths>', 'air-gap install: comma-separated image tarballs')
    .option('--allow-downgrade', 'install the release even where a node runs a newer one (else refused: DOWNGRADE_REFUSED)')
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(
      async (
        name: string,
        o: {
          k3sVersion: string;
          allowDowngrade?: boolean;
          airgapInstallScript?: string;
          airgapBinary?: string;
          airgapImages?: string;
          follow?: boolean;
          interval: string;
        },
      ) => {
        const body: Record<string, unknown> = { version: o.k3sVersion };
        if (o.allowDowngrade) body.allowDowngrade = true;
        if (o.airgapBinary || o.airgapInstallScript || o.airgapImages) {
          if (!o.airgapBinary || !o.airgapInstallScript)
            throw new CliError('an air-gap install needs --airgap-binary and --airgap-install-script', EXIT.USAGE);
          body.airgap = {
            installScript: resolve(o.airgapInstallScript),
            binary: resolve(o.airgapBinary),
            images: hosts(o.airgapImages).map((p) => resolve(p)),
          };
        }
        const job = (await call(ctx.creds(), 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/upgrade`, body)).body as Job;
        ctx.print(job, () => `${job.id}\n`);
        if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
      },
    );
  cluster
    .command('restore <name>')
    .description(
      "restore the cluster's etcd from a snapshot kept with a backup (admin): K3s stopped on every server, the snapshot restored on the first server (k3s server --cluster-reset --cluster-reset-restore-path), the other servers rejoin, every Node Ready again; prints the job id",
    )
    .requiredOption(
      '--etcd-snapshot <name>',
      "a backup's name holding an etcd snapshot of the cluster (as `backup --etcd-snapshot` made it), or that snapshot's file name",
    )
    .option('-f, --follow', "follow the job's log until it ends (exit 1 when it failed)")
    .option('--interval <ms>', 'how often to ask for new lines when following', '500')
    .action(async (name: string, o: { etcdSnapshot: string; follow?: boolean; interval: string }) => {
      const body = { etcdSnapshot: o.etcdSnapshot };
      const job = (await call(ctx.creds(), 'POST', `/api/v1/clusters/${encodeURIComponent(name)}/restore`, body)).body as Job;
      ctx.print(job, () => `${job.id}\n`);
      if (o.follow) await jobLogs(ctx, job.id, true, positiveInteger('--interval', o.interval, 50));
    });
  cluster
    .command('kubeconfig <name>')
    .description("print the cluster's admin kubeconfig, or with --merge add it to ~/.kube/config (or the first file of $KUBECONFIG)")
    .option('--merge', 'merge into the kubeconfig file instead of printing (entries of the same name are replaced)')
    .action(async (name: string, o: { merge?: boolean }) => {
      const r = (await call(ctx.creds(), 'GET', `/api/v1/clusters/${encodeURIComponent(name)}/kubeconfig`)).body as ClusterKubeconfig;
      if (!o.merge) {
        ctx.print(r, () => r.kubeconfig);
        return;
      }
      const file = (ctx.io.env.KUBECONFIG ?? '').split(':').find((f) => f !== '') ?? join(ctx.io.env.HOME ?? homedir(), '.kube', 'config');
      mergeKubeconfig(file, r.kubeconfig);
      ctx.print({ file, server: r.server }, () => `merged ${name} (${r.server}) into ${file}\n`);
    });
}

type KubeEntry = { name: string };
/** Adds the clusters, users and contexts of `text` to the kubeconfig `file` (same names replaced; mode 600). */
export function mergeKubeconfig(file: string, text: string): void {
  const add = parseYaml(text) as Record<string, KubeEntry[] | string | undefined>;
  const cur = existsSync(file)
    ? ((parseYaml(readFileSync(file, 'utf8')) as Record<string, KubeEntry[] | string | undefined> | null) ?? {})
    : { apiVersion: 'v1', kind: 'Config' };
  for (const key of ['clusters', 'users', 'contexts']) {
    const mine = (add[key] as KubeEntry[] | undefined) ?? [];
    const names = new Set(mine.map((e) => e.name));
    cur[key] = [...((cur[key] as KubeEntry[] | undefined) ?? []).filter((e) => !names.has(e.name)), ...mine];
  }
  if (!cur['current-context']) cur['current-context'] = add['current-context'];
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, stringifyYaml(cur), { mode: 0o600 });
  chmodSync(file, 0o600);
}

function discoveryRows(items: DiscoveryResult[]): string {
  return table(
    ['ADDRESS', 'MAC', 'PI', 'HOSTNAME', 'STATE', 'SOURCES', 'ID'],
    items.map((r) => [
      r.address,
      r.mac,
      r.raspberryPi ? 'yes' : 'no',
      r.hostname === null ? null : inert(r.hostname),
      r.state,
      r.sources.join(','),
      r.id,
    ]),
  );
}

function discoverCommand(program: Command, ctx: Ctx): void {
  program
    .command('discover')
    .description('find Raspberry Pis on the LAN (mDNS, SSH scan, DHCP leases) and list them')
    .option('--cidr <cidr>', 'also scan this IPv4 range for SSH (at most a /16; default: the configured one)')
    .option('--no-mdns', 'do not browse mDNS')
    .option('--no-leases', 'do not read the configured DHCP lease files')
    .option('--timeout <ms>', 'mDNS listening time and per-connect timeout')
    .option('--watch', 'keep running: print machines as they are found or change, and run again every --interval seconds')
    .option('--interval <seconds>', 'with --watch: seconds between runs (default 30)')
    .action(async (o: { cidr?: string; mdns: boolean; leases: boolean; timeout?: string; watch?: boolean; interval?: string }) => {
      const c = ctx.creds();
      const body = {
        ...(o.cidr !== undefined ? { cidr: o.cidr } : {}),
        ...(o.mdns === false ? { mdns: false } : {}),
        ...(o.leases === false ? { leases: false } : {}),
        ...(o.timeout !== undefined ? { timeoutMs: positiveInteger('--timeout', o.timeout, 100) } : {}),
      };
      const printErrors = (r: ScanReport) => {
        for (const e of r.errors) ctx.io.err(`warning: ${e.source}: ${e.code}: ${inert(e.message)}\n`);
      };
      if (!o.watch) {
        const r = (await call(c, 'POST', '/api/v1/discovery/scans', body)).body as ScanReport;
        printErrors(r);
        if (ctx.json()) ctx.io.out(inertJson(r, 2) + '\n');
        else ctx.io.out(discoveryRows(r.items) + `${r.seen} seen, ${r.found} new, ${r.lost} lost\n`);
        return;
      }
      const interval = o.interval === undefined ? 30 : positiveInteger('--interval', o.interval, 1);
      const u = new URL(c.url.replace(/^http/, 'ws') + '/api/v1/events');
      u.searchParams.set('types', 'discovery.*');
      await new Promise<void>((done, fail) => {
        let stopped = false;
        let timer: NodeJS.Timeout | undefined;
        const ws = new WebSocket(u, {
          headers: c.token ? { authorization: `Bearer ${c.token}` } : {},
          ...(c.ca ? { ca: readFileSync(c.ca) } : {}),
        });
        const runOnce = (): void => {
          if (stopped) return;
          call(c, 'POST', '/api/v1/discovery/scans', body).then(
            (res) => printErrors(res.body as ScanReport),
            (err: Error) => ctx.io.err(`warning: ${inert(err.message)}\n`),
          );
          timer = setTimeout(runOnce, interval * 1000);
        };
        ctx.io.onStop(() => {
          stopped = true;
          clearTimeout(timer);
          ws.close();
        });
        ws.on('open', runOnce);
        ws.on('error', (err) => fail(new CliError(`cannot reach ${c.url}: ${err.message}`, EXIT.UNREACHABLE)));
        ws.on('unexpected-response', (_req, res) =>
          fail(new CliError(`the server refused the stream: HTTP ${res.statusCode ?? 0}`, EXIT.ERROR)),
        );
        ws.on('message', (m) => {
          const e = JSON.parse(String(m)) as EventEnvelope;
          if (ctx.json()) return ctx.io.out(inertJson(e) + '\n');
          if (e.type === 'discovery.finished') {
            const f = e.data as ScanReport;
            return ctx.io.out(`${e.at}  run finished: ${f.seen} seen, ${f.found} new, ${f.lost} lost\n`);
          }
          const r = e.data as DiscoveryResult;
          const what = e.type === 'discovery.found' ? 'found' : r.state === 'lost' ? 'lost' : 'changed';
          ctx.io.out(
            `${e.at}  ${what.padEnd(7)}  ${r.address}  ${r.mac ?? '-'}  ${r.hostname === null ? '-' : inert(r.hostname)}  [${r.sources.join(',')}]\n`,
          );
        });
        ws.on('close', () => {
          clearTimeout(timer);
          done();
        });
      });
    });
}

function catalogCommands(program: Command, ctx: Ctx): void {
  const catalog = program
    .command('catalog')
    .description("base services for the cluster (Prometheus + Grafana, MinIO, PostgreSQL); --cluster default is serve's kubeconfig");
  const clusterQuery = (c?: string) => (c ? `?cluster=${encodeURIComponent(c)}` : '');
  const installRows = (items: CatalogInstall[]) =>
    table(
      ['NAME', 'VERSION', 'CLUSTER', 'NAMESPACE', 'STATE', 'WORKLOADS', 'STORAGE', 'INSTALLED'],
      items.map((i) => [
        i.name,
        i.version,
        i.cluster,
        i.namespace,
        i.state,
        i.workloads.map((w) => `${w.name} ${w.ready}/${w.desired}${w.affinity ? ` [${w.affinity.join(',')}]` : ''}`).join('; '),
        i.storage,
        i.installedAt,
      ]),
    );
  catalog
    .command('list')
    .description('list the catalog entries and their images')
    .action(async () => {
      const r = (await call(ctx.creds(), 'GET', '/api/v1/catalog')).body as { items: CatalogItem[] };
      ctx.print(r.items, () =>
        table(
          ['NAME', 'VERSION', 'DATA', 'IMAGES', 'DESCRIPTION'],
          r.items.map((e) => [e.name, e.version, e.storage ? 'yes' : 'no', e.images.join(' '), e.description]),
        ),
      );
    });
  catalog
    .command('install <name>')
    .description("install an entry; its images' platforms are checked against the cluster's nodes first (admin)")
    .option('--cluster <cluster>', "the cluster (default: the one of the control plane's kubeconfig)")
    .addOption(new Option('--storage <kind>', 'data volumes: a local-path PVC or an emptyDir').choices(['local-path', 'emptyDir']))
    .action(async (name: string, o: { cluster?: string; storage?: string }) => {
      const body = { name, ...(o.cluster ? { cluster: o.cluster } : {}), ...(o.storage ? { storage: o.storage } : {}) };
      const r = (await call(ctx.creds(), 'POST', '/api/v1/catalog/installs', body)).body as InstallResult;
      ctx.print(r, () => {
        const lines = [`installed ${r.install.name} ${r.install.version} on ${r.install.cluster} in namespace ${r.install.namespace}`];
        for (const i of r.images)
          lines.push(
            `  ${i.image}: ${i.platforms.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')).join(', ')}` +
              (i.excluded.length ? ` (not on ${i.excluded.join(', ')}: node affinity added)` : ''),
          );
        if (r.notes) lines.push('', r.notes.trimEnd());
        return lines.join('\n') + '\n';
      });
    });
  catalog
    .command('status [name]')
    .description('installs on a cluster and their workloads')
    .option('--cluster <cluster>', "the cluster (default: the one of the control plane's kubeconfig)")
    .action(async (name: string | undefined, o: { cluster?: string }) => {
      const c = ctx.creds();
      const items = name
        ? [(await call(c, 'GET', `/api/v1/catalog/installs/${encodeURIComponent(name)}${clusterQuery(o.cluster)}`)).body as CatalogInstall]
        : ((await call(c, 'GET', `/api/v1/catalog/installs${clusterQuery(o.cluster)}`)).body as { items: CatalogInstall[] }).items;
      ctx.print(name ? items[0] : items, () => installRows(items));
    });
  catalog
    .command('remove <name>')
    .description('remove an install: exactly the objects it created, then its namespace (admin)')
    .option('--cluster <cluster>', "the cluster (default: the one of the control plane's kubeconfig)")
    .action(async (name: string, o: { cluster?: string }) => {
      const r = (await call(ctx.creds(), 'DELETE', `/api/v1/catalog/installs/${encodeURIComponent(name)}${clusterQuery(o.cluster)}`))
        .body as RemoveResult;
      ctx.print(r, () => `removed ${r.name} from ${r.cluster}: ${r.deleted.join(', ')}\n`);
    });
}

/** The request's `agent` from --agent-image and --agent-sim (a usage error for --agent-sim alone). */
function agentUnitBody(o: { agentImage?: string; agentSim?: boolean }): { agent?: { image: string; sim?: boolean } } {
  if (o.agentSim && !o.agentImage) throw new CliError('--agent-sim needs --agent-image', EXIT.USAGE);
  return o.agentImage ? { agent: { image: resolve(o.agentImage), ...(o.agentSim ? { sim: true } : {}) } } : {};
}

/** A decimal integer option of at least `min`, else a usage error. */
function positiveInteger(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new CliError(`${flag} must be an integer >= ${min}, not ${JSON.stringify(v)}`, EXIT.USAGE);
  return n;
}

function backupCommands(program: Command, ctx: Ctx): void {
  program
    .command('backup')
    .description('take an online backup now (the server keeps serving)')
    .option('--label <label>', 'added to the file name')
    .option(
      '--etcd-snapshot <cluster>',
      'also take an etcd snapshot of a provisioned cluster (k3s etcd-snapshot save on its first server), kept beside it',
    )
    .action(async (o: { label?: string; etcdSnapshot?: string }) => {
      const body = { ...(o.label ? { label: o.label } : {}), ...(o.etcdSnapshot ? { etcdSnapshot: o.etcdSnapshot } : {}) };
      const b = (await call(ctx.creds(), 'POST', '/api/v1/backups', body)).body as BackupInfo;
      ctx.print(
        b,
        () =>
          `backup ${b.file} (${b.bytes} bytes, schema ${b.schemaVersion})\n` +
          (b.etcdSnapshots ?? []).map((e) => `etcd snapshot ${e.file} of ${e.cluster} (${e.bytes} bytes, sha256 ${e.sha256})\n`).join(''),
      );
    });
  program
    .command('restore <file>')
    .description('replace the database with a backup (stop the server first)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .action((file: string, o: { dataDir?: string }) => {
      const dataDir = resolve(ctx.io.cwd, o.dataDir ?? ctx.io.env.PI_CONTROLLER_DATA_DIR ?? 'data');
      const pid = recordedServerAlive(resolve(dataDir, PID_FILE));
      if (pid !== undefined) throw new CliError(`a control plane (pid ${pid}) is serving ${dataDir}: stop it first`, EXIT.CONFLICT);
      const source = resolve(ctx.io.cwd, file);
      if (!existsSync(source)) throw new CliError(`cannot restore ${source}: no such file`, EXIT.NOT_FOUND);
      let r: ReturnType<typeof restoreBackup>;
      try {
        r = restoreBackup({ dataDir, source });
      } catch (err) {
        // Not ours, newer or corrupt: said as such, with its own exit code (checked before anything is written).
        if (err instanceof SchemaError)
          throw new CliError(`${err.code}: ${err.message}; nothing was changed`, EXIT.BAD_DATABASE, { cause: err });
        throw err;
      }
      ctx.print(
        r,
        () =>
          `restored ${file} (schema ${r.schemaVersion}) into ${dataDir}${r.replaced ? `; the previous database is kept as ${r.replaced}` : ''}\n`,
      );
    });
}

/**
 * Adds a group of commands to the program. The binary (main.ts) hands in groups that live outside
 * src/cli, such as the node agent's command, so the program imports none of them.
 */
export type CommandGroup = (program: Command, io: Io) => void;

/** Builds the program. Commands throw CliError (or typed errors); `run` maps them to exit codes. */
export function buildProgram(io: Io, groups: readonly CommandGroup[] = []): Command {
  const program = new Command('pi-controller')
    .description('Run a Raspberry Pi Kubernetes cluster and drive its GPIO, PWM and I2C hardware.')
    .version(packageVersion())
    .option('--url <url>', 'control plane URL (PI_CONTROLLER_URL; default http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (PI_CONTROLLER_TOKEN)')
    .option('--token-file <file>', 'read the API token from a file')
    .option('--ca <file>', "the server's certificate (PEM) for HTTPS (PI_CONTROLLER_CA)")
    .option('--json', 'machine-readable output')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .showHelpAfterError();
  const g = () => program.opts<GlobalOpts>();
  const ctx: Ctx = {
    io,
    creds: () => {
      const o = g();
      return resolveCredentials(io, {
        ...(o.url ? { url: o.url } : {}),
        ...(o.token ? { token: o.token } : {}),
        ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
      });
    },
    json: () => g().json === true,
    print: (data, human) => io.out(g().json ? JSON.stringify(data, null, 2) + '\n' : human()),
  };
  serveCommand(program, io);
  for (const add of groups) add(program, io);
  loginCommands(program, ctx);
  tokenCommands(program, ctx);
  nodeCommands(program, ctx);
  eventsCommand(program, ctx);
  backupCommands(program, ctx);
  discoverCommand(program, ctx);
  jobCommands(program, ctx);
  clusterCommands(program, ctx);
  catalogCommands(program, ctx);
  logsCommand(program, ctx);
  return program;
}

/** Runs the CLI and returns the exit code (never calls process.exit itself). */
/**
 * `cluster upgrade NAME --version V`: the program's own --version (print pi-controller's version) is
 * recognised anywhere on the line, so after `cluster upgrade` it is read as --k3s-version.
 */
function upgradeVersionFlag(argv: string[]): string[] {
  const at = argv.findIndex((a, i) => a === 'cluster' && argv[i + 1] === 'upgrade');
  if (at < 0) return argv;
  const end = argv.indexOf('--', at);
  return argv.map((a, i) =>
    i <= at + 1 || (end >= 0 && i > end)
      ? a
      : a === '--version'
        ? '--k3s-version'
        : a.startsWith('--version=')
          ? `--k3s-version=${a.slice(10)}`
          : a,
  );
}

export async function run(argv: string[], io: Io, groups: readonly CommandGroup[] = []): Promise<number> {
  const program = buildProgram(io, groups);
  try {
    await program.parseAsync(upgradeVersionFlag(argv), { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    if (err instanceof CliError) {
      io.err(`error: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      io.err(`error: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof ControllerError) {
      io.err(`error: ${err.code}: ${err.message}\n`);
      if (err instanceof SchemaError) return EXIT.BAD_DATABASE;
      return err.code === 'ALREADY_RUNNING' ? EXIT.CONFLICT : err.status === 409 ? EXIT.CONFLICT : EXIT.ERROR;
    }
    io.err(`error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.ERROR;
  }
}
