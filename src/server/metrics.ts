/**
 * Prometheus metrics on a registry owned by the app (no global default registry): HTTP
 * requests and latency by route, events by type, and gauges of jobs and nodes by state
 * read from the store at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Middleware } from 'koa';
import type { Store } from '../store/index.js';
import type { EventBus } from '../events/bus.js';
import { KUBERNETES_OFF } from '../api/kubernetes.js';
import type { AgentInfo } from '../api/agent.js';
import type { AgentPresence, KubernetesGateway } from '../core/ports.js';

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  readonly events: Counter<'type'>;
  readonly wsClients: Gauge;
  readonly wsDropped: Counter;

  constructor(store: Store, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'pi_controller_' });
    this.requests = new Counter({
      name: 'pi_controller_http_requests_total',
      help: 'HTTP requests',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'pi_controller_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.events = new Counter({ name: 'pi_controller_events_total', help: 'Events emitted on the bus', labelNames: ['type'], registers });
    this.wsClients = new Gauge({ name: 'pi_controller_event_stream_clients', help: 'Connected event-stream clients', registers });
    this.wsDropped = new Counter({
      name: 'pi_controller_event_stream_dropped_total',
      help: 'Events dropped for slow stream clients',
      registers,
    });
    new Gauge({
      name: 'pi_controller_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(store.jobs.countByState())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'pi_controller_nodes',
      help: 'Nodes by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(store.nodes.countByState())) this.set({ state }, n);
      },
    });
  }

  /**
   * Gauges of Kubernetes reconciliation, read at scrape time: connected (the API server answers),
   * synced (first list done) and queue depth; 0 when serve has no kubeconfig.
   */
  watchKubernetes(source: KubernetesGateway | undefined): void {
    const registers = [this.registry];
    const read = () => source?.status() ?? KUBERNETES_OFF;
    const gauge = (name: string, help: string, value: (s: typeof KUBERNETES_OFF) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    gauge('pi_controller_kubernetes_connected', 'Kubernetes API server answers (1) or not (0)', (s) => Number(s.connected));
    gauge('pi_controller_kubernetes_synced', 'Custom resources listed and watched (1) or not (0)', (s) => Number(s.synced));
    gauge('pi_controller_kubernetes_queue_depth', 'Custom resources queued or being reconciled', (s) => s.queueDepth);
  }

  /**
   * Each agent node's Pi health from its last report, read at scrape time (the catalog's Grafana
   * dashboard draws these): SoC temperature, the firmware's throttling bits now (1/0) and
   * under-voltage since boot, and whether the agent is connected. A node without a report, or
   * without the firmware file, has no sample for what it did not report.
   */
  watchAgents(agents: AgentPresence | undefined): void {
    const registers = [this.registry];
    type Throttled = NonNullable<NonNullable<AgentInfo['health']>['throttled']>;
    const gauge = (name: string, help: string, value: (a: AgentInfo) => number | null | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['node'],
        registers,
        collect() {
          this.reset();
          for (const a of agents?.list() ?? []) {
            const v = value(a);
            if (typeof v === 'number') this.set({ node: a.node }, v);
          }
        },
      });
    const bit = (k: keyof Throttled) => (a: AgentInfo) => {
      const t = a.health?.throttled;
      return t ? Number(t[k]) : null;
    };
    gauge('pi_controller_node_agent_connected', "Node's agent connected (1) or not (0)", (a) => Number(a.connected));
    gauge('pi_controller_node_soc_temperature_celsius', 'SoC temperature in the last health report', (a) => a.health?.socTempC);
    gauge('pi_controller_node_under_voltage', 'Under-voltage now (1) or not (0)', bit('underVoltage'));
    gauge('pi_controller_node_under_voltage_occurred', 'Under-voltage since boot (1) or not (0)', bit('underVoltageOccurred'));
    gauge('pi_controller_node_throttled', 'Throttled now (1) or not (0)', bit('throttled'));
    gauge('pi_controller_node_frequency_capped', 'ARM frequency capped now (1) or not (0)', bit('frequencyCapped'));
    gauge('pi_controller_node_soft_temp_limit', 'Soft temperature limit active now (1) or not (0)', bit('softTempLimit'));
  }

  /** Counts every event emitted on `bus`. */
  watch(bus: EventBus): void {
    bus.onAny('metrics', (e) => this.events.inc({ type: e.type }));
  }

  /** Request counter and latency histogram, labelled by the matched route pattern (bounded label set). */
  middleware(): Middleware {
    return async (ctx, next) => {
      const start = process.hrtime.bigint();
      try {
        await next();
      } finally {
        const route = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
        const label = typeof route === 'string' ? route : ctx.status === 404 ? 'unmatched' : ctx.path === '/metrics' ? '/metrics' : 'other';
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        this.latency.observe({ method: ctx.method, route: label }, seconds);
        this.requests.inc({ method: ctx.method, route: label, status: String(ctx.status) });
      }
    };
  }
}
