/**
 * The composition root: running the control plane as a process. It opens the data directory
 * and database, makes sure an admin token exists (created on first start, printed once,
 * written 0600), builds every service and hands each its dependencies (the event bus, the
 * store, the cert manager, the agent link, the Kubernetes runner, the backup manager and the
 * Koa app), starts HTTP on loopback or HTTPS beyond it, and shuts down cleanly.
 * `pi-controller serve` (and `npm start`) call `startControlPlane`. No other module builds
 * services for the others: they depend on the ports in src/core.
 */
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { BackupManager, DB_FILE } from '../backup/index.js';
import { isLoopback, type Config } from '../config/index.js';
import { ConfigError, ControllerError } from '../api/errors.js';
import type { AgentGateway } from '../core/ports.js';
import { recordingBus } from '../events/bus.js';
import { createLogging, type Logging } from '../log/index.js';
import { openStore, type Store } from '../store/index.js';
import { createApp, type ControlPlaneApp } from '../server/app.js';
import { ensureServerCert } from '../server/tls.js';
import { discoveryDefaults } from '../discovery/config.js';
import { discoveryPort } from '../discovery/port.js';
import { DiscoveryService } from '../discovery/service.js';
import { parseProbe, probeCommand } from '../discovery/probe.js';
import { CertManager, openSecretBox } from '../certs/index.js';
import { AgentHub } from '../link/hub.js';
// Types only: the Kubernetes client (about a second of module loading) is imported below only
// when a kubeconfig is configured, so a control plane without a cluster starts without it.
import type { KubeConfigSource } from '../cluster/kubeconfig.js';
import type { ClusterRunner as ClusterRunnerClass, ClusterRunnerOptions } from '../cluster/runner.js';
import type { NodeScope } from '../cluster/nodes.js';
import { loadCatalog, SHIPPED_CATALOG } from '../catalog/entries.js';
import { RegistryClient } from '../catalog/registry.js';
import { CatalogService } from '../catalog/service.js';
import { kubeApi } from '../cluster/raw.js';
import { catalogClusters } from './catalog.js';
import { configuredScope, ManagedClusters, managedScope, nodeHomes } from './managed.js';
import { KUBERNETES_OFF } from '../api/kubernetes.js';
import { LOCAL_AGENT_NODE, spawnLocalAgent, stopLocalAgent } from './local-agent.js';
import { PID_FILE, recordedServerAlive, removePidFile, writePidFile } from './pidfile.js';
import { JobRunner, type JobRunnerDeps } from '../provision/jobs.js';
import { clusterCreateKind, provisionPort } from '../provision/k3s.js';
import { addNodeKind, lifecyclePort, memberHosts, removeNodeKind, resetKind } from '../provision/k3s-lifecycle.js';
import { upgradeKind, upgradePort } from '../provision/k3s-upgrade.js';
import { restoreKind, restorePort } from '../provision/k3s-restore.js';
import { prepareKind } from '../provision/pi-prep.js';
import { ProvisionError } from '../provision/errors.js';
import { k3sOps, type K3sOps } from '../provision/k3s-ops.js';

export { LOCAL_AGENT_NODE } from './local-agent.js';
export { PID_FILE, recordedServerAlive } from './pidfile.js';
export const ADMIN_TOKEN_FILE = 'admin-token';

export interface RunningControlPlane {
  url: string;
  store: Store;
  app: ControlPlaneApp;
  server: Server;
  logging: Logging;
  /** Set when this start created the admin token (first start). */
  adminToken: string | undefined;
  adminTokenFile: string;
  /** The provisioned clusters' hosts over SSH (journal, etcd snapshots), as the REST API reaches them. */
  k3sOps: K3sOps;
  /** Stops accepting connections, closes stream clients and the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  version: string;
  logging?: Logging;
  /** Where the first-start banner (admin token, how to authenticate) is written. */
  out?: (text: string) => void;
  /** Seam for the agent link: by default an {@link AgentHub} is started when `config.agents.enabled`. */
  agents?: AgentGateway;
  /** Secret for the CA key's encryption (PI_CONTROLLER_CA_SECRET); default: a random master.key in the data directory. */
  caSecret?: string;
  /** Start one simulated agent (node `local-sim`) beside the control plane, enrolled over the same mTLS path. */
  localAgent?: boolean;
  /**
   * The cluster whose custom resources are reconciled; by default read from
   * `config.kubernetes.kubeconfig` (none: reconciliation is off).
   */
  kubernetes?: KubeConfigSource;
  /** The built web UI served at `/` (default: dist/web beside this build, written by `npm run build:web`). */
  webRoot?: string;
  /** Provisioning seams (tests): SSH over the lab's namespaces, and each lab host's fake root. */
  provision?: Pick<JobRunnerDeps, 'transport' | 'retry'> & { roots?: Record<string, string> };
  /** Backoff and probe settings of the reconciler's runner (tests). */
  kubernetesRunner?: Pick<ClusterRunnerOptions, 'backoff' | 'probeMs' | 'reconciler'>;
}

/** Starts the control plane with `config`. */
export async function startControlPlane(opts: StartOptions): Promise<RunningControlPlane> {
  const { config } = opts;
  const logging = opts.logging ?? createLogging({ level: config.log.level, format: config.log.format, components: config.log.components });
  const log = logging.child('serve');
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const dataDir = config.dataDir;
  // A bad kubeconfig is a configuration error: refused before anything is opened or written.
  const kube =
    opts.kubernetes ??
    (config.kubernetes.kubeconfig
      ? await (await import('../cluster/kubeconfig.js')).loadKubeConfigFile(config.kubernetes.kubeconfig)
      : undefined);
  const { ClusterRunner } = kube ? await import('../cluster/runner.js') : { ClusterRunner: undefined };
  // A bad catalog entry (of the operator's folder) is a configuration error, refused at start.
  let catalogEntries;
  try {
    catalogEntries = loadCatalog(config.catalog.dir ? [SHIPPED_CATALOG, config.catalog.dir] : [SHIPPED_CATALOG]);
  } catch (err) {
    throw new ConfigError([{ path: '/catalog/dir', code: 'catalog', message: `catalog: ${(err as Error).message}` }]);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  // One server per data directory: a second would corrupt nothing (SQLite locks) but would confuse everyone.
  const pidFile = join(dataDir, PID_FILE);
  const running = recordedServerAlive(pidFile);
  if (running !== undefined)
    throw new ControllerError('ALREADY_RUNNING', 409, `a control plane (pid ${running}) is already serving ${dataDir}`);
  writePidFile(pidFile);

  const store = openStore({ file: join(dataDir, DB_FILE), log: logging.child('store'), eventRetention: config.events.retain });
  let adminToken: string | undefined;
  const adminTokenFile = join(dataDir, ADMIN_TOKEN_FILE);
  if (!store.tokens.list().some((t) => t.role === 'admin')) {
    adminToken = store.tokens.create('admin', 'admin', 'first-start').token;
    writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
    log.info({ file: adminTokenFile }, 'created the admin token');
  }

  // One bus for every service: events are recorded in the store and delivered after commit.
  const bus = recordingBus(store, logging.root.child({ component: 'events' }));

  // The agent endpoint: its own HTTPS listener with mutual TLS and the data directory's CA.
  let hub: AgentHub | undefined;
  if (!opts.agents && config.agents.enabled) {
    const certs = await CertManager.open({
      dir: join(dataDir, 'ca'),
      agentDays: config.agents.certDays,
      ...(opts.caSecret ? { secret: opts.caSecret } : {}),
    });
    hub = new AgentHub({ store, bus, certs, log: logging.child('agents'), host: config.agents.host, port: config.agents.port });
  }
  const agents = opts.agents ?? hub;
  // One reconciler's runner per cluster: the configured kubeconfig's, and each provisioned cluster's.
  // Each node goes into the cluster it belongs to (its record's cluster, or the provisioned cluster
  // whose hosts include it); the configured kubeconfig's cluster gets every node no other reconciler has.
  const homes = () => nodeHomes(store, (id) => memberHosts(store, id));
  const runnerFor = (Runner: typeof ClusterRunnerClass, k: KubeConfigSource, cluster?: { id: string; name: string }): ClusterRunnerClass =>
    new Runner({
      kube: k,
      store,
      bus,
      agents,
      log: cluster === undefined ? logging.child('kubernetes') : logging.child('kubernetes').child({ cluster: cluster.name }),
      ...opts.kubernetesRunner,
      reconciler: {
        piHealth: { taint: config.kubernetes.healthTaint, hotC: config.kubernetes.socHotC },
        nodeScope: (): NodeScope => (cluster ? managedScope(homes(), cluster.id) : configuredScope(homes(), (id) => managed.runs(id))),
        ...opts.kubernetesRunner?.reconciler,
      },
    });
  const runner = kube && ClusterRunner ? runnerFor(ClusterRunner, kube) : undefined;

  // Provisioning jobs (Pi prep, K3s clusters); secrets and kubeconfigs sealed with the CA key's encryption.
  const secrets = openSecretBox(join(dataDir, 'ca'), opts.caSecret);
  // Agents installed as units by provisioning enrol at this daemon's agent endpoint (read when a job runs:
  // the endpoint listens only later, and may have failed to).
  const endpoint = () => opts.agents ?? hub;
  const enrolment = {
    mint: (node: string) => {
      const gate = endpoint();
      if (!gate) throw new ProvisionError('AGENTS_OFF', 'the control plane runs no agent endpoint: agents cannot enrol');
      const t = gate.createJoinToken(node);
      return { token: t.token, server: t.server };
    },
    connected: (node: string) =>
      endpoint()
        ?.list()
        .some((a) => a.node === node && a.connected) ?? false,
    revoke: (node: string) => endpoint()?.revokeNode(node) ?? [],
  };
  // The install reads each host's facts with discovery's probe command, for its node labels.
  const k3sDeps = {
    store,
    secrets,
    probe: { command: probeCommand, parse: parseProbe },
    ...(opts.provision?.roots ? { roots: opts.provision.roots } : {}),
    ...((opts.agents ?? config.agents.enabled) ? { enrolment } : {}),
  };
  const jobs = new JobRunner({
    store,
    bus,
    log: logging.child('provision'),
    secrets,
    kinds: [
      prepareKind(),
      clusterCreateKind(k3sDeps),
      addNodeKind(k3sDeps),
      removeNodeKind(k3sDeps),
      resetKind(k3sDeps),
      upgradeKind(k3sDeps),
      restoreKind(k3sDeps),
    ],
    ...(opts.provision?.transport ? { transport: opts.provision.transport } : {}),
    ...(opts.provision?.retry ? { retry: opts.provision.retry } : {}),
  });
  jobs.resume();
  const provision = {
    ...provisionPort({ ...k3sDeps, runner: jobs }),
    ...lifecyclePort({ ...k3sDeps, runner: jobs }),
    ...upgradePort({ ...k3sDeps, runner: jobs }),
    // The backups' etcd snapshots, found by name when a restore asks (the backup manager is built below).
    ...restorePort({ ...k3sDeps, runner: jobs, snapshots: (ref) => backups.findEtcdSnapshots(ref) }),
  };
  const ops = k3sOps({ ...k3sDeps, runner: jobs });
  const managed = new ManagedClusters({
    store,
    bus,
    log: logging.child('kubernetes'),
    stored: (id) => provision.kubeconfig(id),
    makeRunner: async (k, cluster) => runnerFor((await import('../cluster/runner.js')).ClusterRunner, k, cluster),
    configuredServer: runner?.server,
  });

  const catalog = new CatalogService({
    entries: catalogEntries,
    registry: new RegistryClient({ timeoutMs: config.catalog.registryTimeoutMs }),
    // The configured kubeconfig's cluster is `default`; provisioned clusters by name, through their sealed kubeconfig.
    clusters: catalogClusters(store, kube ? kubeApi(kube.kubeConfig) : undefined, (id) => provision.kubeconfig(id)),
    log: logging.child('catalog'),
  });
  const backups = new BackupManager({
    store,
    dataDir,
    keep: config.backup.keep,
    log: logging.child('backup'),
    etcdSnapshot: (cluster, dir, file) => ops.etcdSnapshot(cluster, dir, file),
  });
  backups.schedule(config.backup.intervalMinutes);
  let ready = false;
  const webRoot = opts.webRoot ?? fileURLToPath(new URL('../../web/', import.meta.url));
  const app = createApp({
    store,
    bus,
    log: logging.root,
    version: opts.version,
    webRoot,
    backups,
    ready: () => ready,
    limits: { streamBufferBytes: config.events.streamBufferBytes },
    ...(agents ? { agents } : {}),
    kubernetes: {
      status: () => {
        const m = managed.status();
        return { ...(runner?.status() ?? KUBERNETES_OFF), ...(m.length > 0 ? { managed: m } : {}) };
      },
    },
    provision,
    k3sOps: ops,
    catalog,
    discovery: discoveryPort(
      new DiscoveryService({ store: store.discovery, bus, log: logging.child('discovery') }),
      discoveryDefaults(config.discovery),
    ),
  });
  let agentUrl: string | undefined;
  let agentProblem: string | undefined;
  if (hub) {
    try {
      agentUrl = await hub.listen();
    } catch (err) {
      // The REST API stays useful without the agent link; the agents routes then answer 503.
      agentProblem = `${(err as Error).message}${(err as { code?: string }).code === 'EADDRINUSE' ? ' (choose another with --agent-port or agents.port)' : ''}`;
      log.error({ err, port: config.agents.port }, 'the agent endpoint could not listen; running without it');
      await hub.close();
      hub = undefined;
    }
  }

  const { host, port } = config.http;
  const tls = config.http.tls === 'on' || (config.http.tls === 'auto' && !isLoopback(host));
  let server: Server;
  if (tls) {
    const cert = await ensureServerCert(dataDir, host);
    log.info(
      { certFile: cert.certFile, sha256: cert.fingerprint256, generated: cert.generated },
      'HTTPS with a self-signed certificate (clients: pass --ca with this file)',
    );
    server = createHttps({ cert: cert.cert, key: cert.key }, app.callback()) as unknown as Server;
  } else {
    server = createHttp(app.callback());
  }
  app.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  ready = true;
  log.info({ url, dataDir }, 'control plane listening');
  // After the agent link listens, so a stored change reaches the agents either way.
  if (runner) runner.start();
  await managed.start();
  if (!runner && managed.status().length === 0)
    log.info('Kubernetes reconciliation is off (no kubeconfig and no provisioned cluster: pass --kubeconfig or cluster create)');

  const lines = [`\npi-controller control plane at ${url}  (data: ${dataDir})`];
  if (adminToken) {
    lines.push(
      'An admin token was created on first start. It is shown once here and kept in a 0600 file:',
      `  ${adminToken}`,
      `  file: ${adminTokenFile}`,
    );
  } else {
    lines.push(`Admin token: in ${adminTokenFile} (if you kept it), or create one with 'pi-controller token create'.`);
  }
  lines.push(
    'Authenticate:',
    `  curl -H "Authorization: Bearer $(cat ${adminTokenFile})" ${url}/api/v1/nodes`,
    `  npx pi-controller login --url ${url} --token-file ${adminTokenFile}${tls ? ` --ca ${join(dataDir, 'server-cert.pem')}` : ''}`,
    '',
  );
  if (existsSync(join(webRoot, 'index.html'))) lines.push(`Web UI: ${url}/ (sign in with a token)`);
  if (agentUrl)
    lines.push(`Agent endpoint (mutual TLS) at ${agentUrl}; enrol a Pi with a join token from POST /api/v1/agents/join-tokens.`);
  if (agentProblem) lines.push(`Agent endpoint NOT running: ${agentProblem}`);
  if (runner)
    lines.push(
      `Kubernetes: reconciling GPIOPin/PWMController/I2CDevice on ${runner.server} (${kube!.source}); state at ${url}/api/v1/kubernetes`,
    );
  for (const m of managed.status())
    lines.push(`Kubernetes: reconciling provisioned cluster ${m.cluster} on ${m.server ?? '?'}; state at ${url}/api/v1/kubernetes`);
  let child: ChildProcess | undefined;
  if (opts.localAgent && hub && agentUrl) {
    const stateDir = join(dataDir, 'local-agent');
    const h = hub;
    child = spawnLocalAgent(agentUrl, stateDir, () => h.createJoinToken(LOCAL_AGENT_NODE).token);
    const auth = `-H "Authorization: Bearer $(cat ${adminTokenFile})"`;
    lines.push(
      `Local simulated node '${LOCAL_AGENT_NODE}' (agent pid ${child.pid ?? '?'}, behavioural register model, state in ${stateDir}):`,
      `  set a pin:    curl -X PUT ${auth} -H 'content-type: application/json' ${url}/api/v1/nodes/${LOCAL_AGENT_NODE}/gpio/17 -d '{"spec":{"pin":17,"mode":"output","value":1}}'`,
      `  applied state: curl ${auth} ${url}/api/v1/nodes/${LOCAL_AGENT_NODE}/gpio/17    (status.actual)`,
      `  agent health:  curl ${auth} ${url}/api/v1/agents/${LOCAL_AGENT_NODE}`,
      '',
    );
  }
  out(lines.join('\n') + '\n');

  let closed = false;
  return {
    url,
    store,
    app,
    server,
    logging,
    adminToken,
    adminTokenFile,
    k3sOps: ops,
    async close() {
      if (closed) return;
      closed = true;
      ready = false;
      // The reconciler first: nothing new is stored or sent while the rest shuts down.
      await Promise.all([runner?.stop(), managed.stop()]);
      jobs.stop();
      backups.stop();
      if (child) await stopLocalAgent(child);
      await hub?.close();
      app.close();
      server.closeIdleConnections?.();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => {
          server.closeAllConnections?.();
        }, 2000).unref();
      });
      store.close();
      removePidFile(pidFile);
      log.info('control plane stopped');
    },
  };
}
