/**
 * `createApp(deps)`: the control plane's Koa application. It does not listen; the caller
 * (the `serve` command, or a test) creates the HTTP(S) server, calls `app.callback()` and
 * `app.attach(server)` for the WebSocket stream.
 *
 * Middleware order: error mapping → metrics → the web UI's static files (when built) →
 * authentication (everything but /healthz and /readyz) → audit → one router per resource (role check, validation, handler) → 404/405.
 */
import type { Server } from 'node:http';
import Koa from 'koa';
import { Router } from '@koa/router';
import type { Logger } from 'pino';
import { Validator } from '../api/validate.js';
import { recordingBus, type EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import { auditMiddleware, authMiddleware } from './auth.js';
import type {
  AgentGateway,
  BackupService,
  CatalogPort,
  DiscoveryPort,
  K3sOpsPort,
  KubernetesGateway,
  ProvisionPort,
} from '../core/ports.js';
import type { ResourceDeps } from './deps.js';
import { errorBody, errorMiddleware } from './errors.js';
import { handleClientErrors } from './client-error.js';
import { Metrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { buildRouter, requireRole, route, type AppState, type Resource } from './routes.js';
import { clustersResource } from './resources/clusters.js';
import { discoveryResource } from './resources/discovery.js';
import { hardwareResource } from './resources/hardware.js';
import { jobsResource } from './resources/jobs.js';
import { nodesResource } from './resources/nodes.js';
import { healthResource } from './resources/health.js';
import { backupsResource, systemResource } from './resources/system.js';
import { agentsResource } from './resources/agents.js';
import { kubernetesResource } from './resources/kubernetes.js';
import { catalogResource } from './resources/catalog.js';
import { tokensResource } from './resources/tokens.js';
import { EventStream } from './stream.js';
import { webMiddleware } from './web.js';
import { Type } from '@sinclair/typebox';

/** The REST API root. */
export const API_ROOT = '/api/v1';

export interface AppDeps {
  store: Store;
  log: Logger;
  /**
   * Event bus; by default one that records events in the store (sequence numbers survive
   * restarts) and delivers them after the emitting transaction commits.
   */
  bus?: EventBus;
  /** Metrics registry; by default a new one (with process metrics). */
  metrics?: Metrics;
  /** The agent link (absent: the /api/v1/agents routes answer 503 and every node's agent is offline). */
  agents?: AgentGateway;
  /** Backup manager behind /api/v1/backups (absent: those routes answer 503). */
  backups?: BackupService;
  /** Kubernetes reconciliation (absent: `GET /api/v1/kubernetes` says it is off). */
  kubernetes?: KubernetesGateway;
  /** Discovery runs and probes (absent: those routes answer 503; the stored records stay readable). */
  discovery?: DiscoveryPort;
  provision?: ProvisionPort;
  /** Journals of provisioned hosts over SSH (absent: those routes answer 503). */
  k3sOps?: K3sOpsPort;
  /** The service catalog (absent: /api/v1/catalog answers 503). */
  catalog?: CatalogPort;
  version?: string;
  /** The built web UI (dist/web), served at `/` without a token (absent: no UI; every path needs a token as before). */
  webRoot?: string;
  /** Extra readiness condition (e.g. start-up finished); the database is always checked. */
  ready?: () => boolean;
  limits?: {
    /** Largest request body in bytes (default 1 MiB; over it: 413). */
    bodyBytes?: number;
    /** Deepest nesting of objects and arrays in a request body (default 32; deeper: 422 `max-depth`). */
    bodyDepth?: number;
    streamBufferBytes?: number;
    streamMaxDropped?: number;
    streamHeartbeatMs?: number;
  };
}

/** The Koa app plus what tests and the server need to reach. */
export interface ControlPlaneApp extends Koa<AppState> {
  bus: EventBus;
  metrics: Metrics;
  resources: Resource[];
  /** Every router mounted (the route-table test walks their layers). */
  routers: Router<AppState>[];
  stream: EventStream;
  /** Adds the WebSocket event stream, and JSON answers to requests Node's parser refuses, to an HTTP(S) server built on `app.callback()`. */
  attach(server: Server): void;
  /** Closes stream clients and removes this app's bus listeners (does not close the store). */
  close(): void;
}

export function createApp(deps: AppDeps): ControlPlaneApp {
  const { store } = deps;
  const log = deps.log;
  const version = deps.version ?? '0.0.0';
  // Events are recorded in the emitting transaction and reach listeners only once it commits.
  const bus = deps.bus ?? recordingBus(store, log.child({ component: 'events' }));
  const metrics = deps.metrics ?? new Metrics(store);
  metrics.watch(bus);
  metrics.watchKubernetes(deps.kubernetes);
  metrics.watchAgents(deps.agents);
  const validator = new Validator();
  const rdeps: ResourceDeps = {
    store,
    bus,
    log,
    version,
    startedAt: new Date(),
    agents: deps.agents,
    backups: deps.backups,
    kubernetes: deps.kubernetes,
    provision: deps.provision,
    k3sOps: deps.k3sOps,
  };

  const resources: Resource[] = [
    nodesResource(rdeps),
    hardwareResource(rdeps),
    clustersResource(rdeps),
    jobsResource(rdeps),
    discoveryResource(rdeps, deps.discovery),
    tokensResource(rdeps),
    systemResource(rdeps),
    backupsResource(rdeps),
    agentsResource(rdeps),
    healthResource(rdeps),
    kubernetesResource(rdeps),
    catalogResource(deps.catalog),
  ];
  // The OpenAPI document is itself a route (viewer), generated once from the same list.
  let doc: unknown;
  resources.push({
    prefix: '',
    tag: 'system',
    routes: [
      route({
        method: 'GET',
        path: '/openapi.json',
        role: 'viewer',
        summary: 'This document',
        response: { status: 200, schema: Type.Object({}) },
        handler: () => ({ status: 200, body: (doc ??= openApiDocument(API_ROOT, resources, version)) }),
      }),
    ],
  });

  const app = new Koa<AppState>() as ControlPlaneApp;
  app.proxy = false;
  app.silent = true;
  const bodyLimits = { bytes: deps.limits?.bodyBytes ?? 1 << 20, depth: deps.limits?.bodyDepth ?? 32 };
  const routers = resources.map((r) => buildRouter(API_ROOT, r, { validator, bodyLimits, store }));

  // Health and metrics live outside /api/v1: the first two are public, /metrics needs a token.
  const ops = new Router<AppState>();
  ops.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  ops.get('/readyz', (ctx) => {
    let dbOk = false;
    try {
      dbOk = store.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      dbOk = false;
    }
    const ready = dbOk && (deps.ready?.() ?? true);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not ready', checks: { database: dbOk, startup: deps.ready?.() ?? true } };
  });
  ops.get('/metrics', requireRole('viewer'), async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  // The event stream is WebSocket only (src/server/stream.ts answers the upgrade); a plain GET is told so.
  ops.get(`${API_ROOT}/events`, requireRole('viewer'), (ctx) => {
    ctx.status = 426;
    ctx.set('Upgrade', 'websocket');
    ctx.body = errorBody(
      'UPGRADE_REQUIRED',
      `${API_ROOT}/events is a WebSocket stream only: connect with a WebSocket client (Upgrade: websocket), e.g. 'pi-controller events'`,
    );
  });
  routers.push(ops);

  app.use(errorMiddleware(log.child({ component: 'http' })));
  app.use(metrics.middleware());
  // The UI's static files only (exact paths, no data): before authentication.
  if (deps.webRoot) app.use(webMiddleware(deps.webRoot));
  app.use(authMiddleware(store));
  app.use(auditMiddleware(store, log.child({ component: 'audit' })));
  for (const r of routers) {
    app.use(r.routes());
    app.use(r.allowedMethods());
  }

  const stream = new EventStream({
    path: `${API_ROOT}/events`,
    store,
    bus,
    metrics,
    log: log.child({ component: 'stream' }),
    ...(deps.limits?.streamBufferBytes ? { maxBuffer: deps.limits.streamBufferBytes } : {}),
    ...(deps.limits?.streamMaxDropped ? { maxDropped: deps.limits.streamMaxDropped } : {}),
    ...(deps.limits?.streamHeartbeatMs ? { heartbeatMs: deps.limits.streamHeartbeatMs } : {}),
  });
  Object.assign(app, {
    bus,
    metrics,
    resources,
    routers,
    stream,
    attach: (server: Server) => {
      stream.attach(server);
      handleClientErrors(server);
    },
    close: () => {
      stream.close();
      bus.removeOwner('metrics');
    },
  });
  return app;
}
