/**
 * Registers the control plane's nodes in a cluster as Node objects labelled with their
 * capabilities, so workloads can pick them with node selectors:
 *
 * - `pi-controller.io/managed=true` on every node we know;
 * - `pi-controller.io/gpio=true` when the node has an agent link (enrolled or connected);
 * - `pi-controller.io/model=<model>` from the stored model (made into a label value);
 * - `pi-controller.io/<key>=<value>` for each stored node label (discovery and probing store
 *   `soc`, `i2c-buses`, ... there), e.g. `pi-controller.io/soc=bcm2711`.
 *
 * A node that already exists (K3s registered it through its kubelet) only gets the labels
 * merged in. One that does not is created here, and no kubelet posts its status, which
 * `kubectl get nodes` would show as STATUS `Unknown`. Such a node (annotated
 * `pi-controller.io/kubelet: none`) gets instead:
 *
 * - the taint `pi-controller.io/no-kubelet=true:NoSchedule`, so no pod is scheduled where nothing
 *   would run it (DaemonSets tolerate `unschedulable`, not this taint);
 * - a `Ready` condition kept by the control plane: False with reason `NoKubelet` (STATUS
 *   `NotReady`, which is the truth for pods), and a `PiControllerAgent` condition True/False
 *   with reason `AgentConnected`/`AgentOffline` and the agent's last health report (SoC
 *   temperature, under-voltage or throttling). Both carry a heartbeat refreshed by every
 *   registration pass (the reconciler runs one every `nodeHeartbeatMs`), so the node lifecycle
 *   controller does not turn them into `Unknown`.
 *
 * The SoC an agent reports in its hello is stored as the node's `soc` label when it has none
 * (see {@link rememberSoc}), so an enrolled node gets `pi-controller.io/soc` too; the board
 * model a real Pi's agent detects, its `pi-model` label (`pi-controller.io/pi-model`, see
 * {@link rememberPiModel}). The architecture is the kubelet's own `kubernetes.io/arch` (from
 * its `nodeInfo`), which the control plane leaves as it is.
 *
 * With several clusters on one control plane, a scope (see {@link NodeScope}) says which stored
 * nodes a cluster gets: the daemon writes a node only into the cluster it belongs to, and labels
 * a node that belongs to none only where that cluster's kubelet registered it.
 *
 * Every node whose agent has sent a health report, with or without a kubelet, also gets three
 * conditions from it (see {@link piHealthConditions}): `PiUnderVoltage`, `PiThrottled` and
 * `PiSocHot`, written with a strategic merge patch that leaves the kubelet's own conditions as
 * they are. With `taint` on (the default), a node under-voltage now gets the taint
 * `pi-controller.io/under-voltage:NoSchedule`, and one too hot `pi-controller.io/soc-hot:NoSchedule`;
 * each is removed when the condition clears. Nothing is evicted: running pods stay.
 */
import type { Logger } from 'pino';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Node } from '../api/nodes.js';
import type { EventBus } from '../events/bus.js';
import type { AgentPresence } from '../core/ports.js';
import type { Store } from '../store/index.js';
import { rawRequest } from './raw.js';
import { LABEL_PREFIX, labelValue } from '../api/common.js';

export { LABEL_PREFIX, labelValue };

/** The labels a node carries in the cluster. */
export function nodeLabels(node: Node, hasAgent: boolean): Record<string, string> {
  const out: Record<string, string> = { [`${LABEL_PREFIX}managed`]: 'true' };
  if (hasAgent) out[`${LABEL_PREFIX}gpio`] = 'true';
  if (node.model) out[`${LABEL_PREFIX}model`] = labelValue(node.model);
  for (const [k, v] of Object.entries(node.labels)) {
    const key = k.startsWith(LABEL_PREFIX) ? k : `${LABEL_PREFIX}${k}`;
    // A label name is at most 63 characters after the prefix.
    if (key.length - LABEL_PREFIX.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key.slice(LABEL_PREFIX.length)))
      out[key] = labelValue(v);
  }
  return out;
}

function status(err: unknown): number {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : 0;
}

/** Marks a Node object this control plane created (no kubelet runs there). */
export const NO_KUBELET_ANNOTATION = `${LABEL_PREFIX}kubelet`;
export const NO_KUBELET_TAINT = { key: `${LABEL_PREFIX}no-kubelet`, value: 'true', effect: 'NoSchedule' };

interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

const iso = (d = new Date()) => d.toISOString().replace(/\.\d+Z$/, 'Z');

type PrevCondition = { type?: string; status?: string; reason?: string; lastTransitionTime?: unknown };

/**
 * Makes conditions stamped `now`, each keeping its lastTransitionTime from `prev` while its
 * status and reason stay the same.
 */
function conditionMaker(prev: PrevCondition[], now: Date) {
  return (type: string, status: NodeCondition['status'], reason: string, message: string): NodeCondition => {
    const p = prev.find((c) => c.type === type);
    // client-node reads times as Date objects; a raw answer has strings.
    const was = p?.lastTransitionTime instanceof Date ? iso(p.lastTransitionTime) : p?.lastTransitionTime;
    const same = p && p.status === status && p.reason === reason && typeof was === 'string';
    return { type, status, reason, message, lastHeartbeatTime: iso(now), lastTransitionTime: same ? was : iso(now) };
  };
}

/** What the agent's last health report says, in a few words (for the condition message). */
function healthText(health: Record<string, unknown> | null): string {
  if (!health) return 'no health report yet';
  const parts: string[] = [];
  if (typeof health.socTempC === 'number') parts.push(`SoC ${health.socTempC.toFixed(1)} °C`);
  const th = health.throttled as Record<string, unknown> | undefined;
  if (th && typeof th === 'object') {
    const now = Object.entries(th).filter(
      ([k, v]) => v === true && !k.toLowerCase().includes('occurred') && !k.toLowerCase().includes('since'),
    );
    parts.push(now.length ? `now: ${now.map(([k]) => k).join(', ')}` : 'no under-voltage or throttling');
  }
  return parts.length ? parts.join('; ') : 'health reported';
}

/**
 * The conditions of a Node object with no kubelet: Ready=False (NoKubelet) and the agent's
 * state, keeping each one's lastTransitionTime while its status and reason stay the same.
 */
export function nodeConditions(
  agent: { connected: boolean; since: string | null; health: Record<string, unknown> | null } | undefined,
  prev: PrevCondition[] = [],
  now = new Date(),
): NodeCondition[] {
  const connected = agent?.connected ?? false;
  const make = conditionMaker(prev, now);
  return [
    make('Ready', 'False', 'NoKubelet', 'no kubelet runs on this node (registered by pi-controller): pods are not scheduled here'),
    connected
      ? make(
          'PiControllerAgent',
          'True',
          'AgentConnected',
          `the pi-controller agent is connected since ${agent?.since ?? '?'}; ${healthText(agent?.health ?? null)}`,
        )
      : make(
          'PiControllerAgent',
          'False',
          'AgentOffline',
          'the pi-controller agent is not connected; GPIO, PWM and I2C objects wait for it',
        ),
  ];
}

/** Pi health as node conditions and taints (see the module comment). */
export interface PiHealthOptions {
  /** SoC temperature from which `PiSocHot` is True (°C; default 80, where a Pi 4 starts to throttle). */
  hotC?: number;
  /** Taint a node while under-voltage or too hot (default true). */
  taint?: boolean;
}

export const PI_HEALTH_CONDITIONS = ['PiUnderVoltage', 'PiThrottled', 'PiSocHot'] as const;
export const UNDER_VOLTAGE_TAINT = { key: `${LABEL_PREFIX}under-voltage`, value: 'true', effect: 'NoSchedule' };
export const SOC_HOT_TAINT = { key: `${LABEL_PREFIX}soc-hot`, value: 'true', effect: 'NoSchedule' };
const HEALTH_TAINT_KEYS = new Set([UNDER_VOLTAGE_TAINT.key, SOC_HOT_TAINT.key]);

interface PiHealthState {
  underVoltage: boolean;
  throttled: boolean;
  hot: boolean;
}

type ThrottledBits = { underVoltage?: boolean; throttled?: boolean; frequencyCapped?: boolean; softTempLimit?: boolean } & Record<
  string,
  unknown
>;

/** The three states a health report gives, or undefined when it gives none (no report, no firmware file, no sensor). */
export function piHealthState(health: Record<string, unknown> | null | undefined, hotC = 80): PiHealthState | undefined {
  if (!health) return undefined;
  const th = (health.throttled ?? null) as ThrottledBits | null;
  const temp = typeof health.socTempC === 'number' ? health.socTempC : null;
  if (th === null && temp === null) return undefined;
  return {
    underVoltage: th?.underVoltage === true,
    throttled: th?.throttled === true || th?.frequencyCapped === true,
    hot: (temp !== null && temp >= hotC) || th?.softTempLimit === true,
  };
}

/**
 * `PiUnderVoltage`, `PiThrottled` and `PiSocHot` from an agent's last health report: True with
 * reasons `UnderVoltage`, `Throttled`/`FrequencyCapped`, `SocHot`/`SoftTempLimit`; False with
 * `VoltageNormal`, `NotThrottled`, `SocTemperatureNormal`; Unknown with `NoHealthReport` when the
 * agent has not reported (or the firmware gives nothing). Each keeps its lastTransitionTime while
 * its status and reason stay.
 */
export function piHealthConditions(
  health: Record<string, unknown> | null | undefined,
  prev: PrevCondition[] = [],
  now = new Date(),
  hotC = 80,
): NodeCondition[] {
  const st = piHealthState(health, hotC);
  const th = (health?.throttled ?? null) as ThrottledBits | null;
  const temp = typeof health?.socTempC === 'number' ? `SoC ${health.socTempC.toFixed(1)} °C` : 'no SoC temperature';
  const at = typeof health?.at === 'string' ? ` (report of ${health.at})` : '';
  const condition = conditionMaker(prev, now);
  const make = (type: string, status: NodeCondition['status'], reason: string, message: string) =>
    condition(type, status, reason, message + at);
  if (!st) {
    const msg = health
      ? 'the agent reports neither the firmware throttle bits nor a SoC temperature'
      : 'no health report from the agent yet';
    return PI_HEALTH_CONDITIONS.map((type) => make(type, 'Unknown', 'NoHealthReport', msg));
  }
  return [
    st.underVoltage
      ? make('PiUnderVoltage', 'True', 'UnderVoltage', 'the firmware reports under-voltage now: check the power supply and cable')
      : make(
          'PiUnderVoltage',
          'False',
          'VoltageNormal',
          th?.underVoltageOccurred === true ? 'voltage normal now; under-voltage has occurred since boot' : 'voltage normal',
        ),
    st.throttled
      ? make(
          'PiThrottled',
          'True',
          th?.throttled === true ? 'Throttled' : 'FrequencyCapped',
          `the firmware reports ${th?.throttled === true ? 'throttling' : 'the ARM frequency capped'} now; ${temp}`,
        )
      : make('PiThrottled', 'False', 'NotThrottled', `not throttled; ${temp}`),
    st.hot
      ? make(
          'PiSocHot',
          'True',
          th?.softTempLimit === true ? 'SoftTempLimit' : 'SocHot',
          `${temp}; ${th?.softTempLimit === true ? 'the soft temperature limit is active' : `at or above ${hotC} °C`}`,
        )
      : make('PiSocHot', 'False', 'SocTemperatureNormal', `${temp}; below ${hotC} °C`),
  ];
}

/** The node's taints with the health taints set as `state` wants (others kept in order). */
export function withHealthTaints<T extends { key?: string }>(
  taints: T[],
  state: PiHealthState | undefined,
): (T | typeof UNDER_VOLTAGE_TAINT)[] {
  const out: (T | typeof UNDER_VOLTAGE_TAINT)[] = taints.filter((x) => !HEALTH_TAINT_KEYS.has(x.key ?? ''));
  if (state?.underVoltage) out.push(UNDER_VOLTAGE_TAINT);
  if (state?.hot) out.push(SOC_HOT_TAINT);
  return out;
}

/** Whether two condition lists say the same (type, status, reason, message), heartbeats aside. */
function sameConditions(a: { type?: string; status?: string; reason?: string; message?: string }[], b: NodeCondition[]): boolean {
  return b.every((c) => a.some((x) => x.type === c.type && x.status === c.status && x.reason === c.reason && x.message === c.message));
}

/**
 * Stores the SoC an agent reported as the node's `soc` label when the node has none (probing
 * may have stored one already; a different report is logged and the stored label kept). Emits
 * `node.updated` when it wrote.
 */
export function rememberSoc(store: Store, bus: EventBus, nodeId: string, soc: string | undefined, log?: Logger): void {
  rememberReported(store, bus, nodeId, 'soc', soc, log);
}

/**
 * Stores the board model an agent detected on a real Pi ('4B', 'Zero 2 W', '5': its revision
 * code) as the node's `pi-model` label, shown as `pi-controller.io/pi-model` (e.g. `Zero-2-W`),
 * as {@link rememberSoc} does for the SoC. A simulated agent reports none, and a machine that is
 * not a Pi gets no such label.
 */
export function rememberPiModel(store: Store, bus: EventBus, nodeId: string, model: string | undefined, log?: Logger): void {
  rememberReported(store, bus, nodeId, 'pi-model', model, log);
}

/** Stores `value` as the node's label `key` when it has none; a different stored value is kept (and logged). */
function rememberReported(store: Store, bus: EventBus, nodeId: string, key: string, value: string | undefined, log?: Logger): void {
  if (!value) return;
  const node = store.nodes.get(nodeId);
  if (!node) return;
  const cur = node.labels[key];
  if (cur === value) return;
  if (cur !== undefined) {
    log?.warn(
      { node: node.name, label: key, stored: cur, reported: value },
      'the agent reports another value than the node label; the label is kept',
    );
    return;
  }
  const next = store.nodes.update(nodeId, { labels: { ...node.labels, [key]: value } });
  bus.emit('node.updated', next);
}

/**
 * What one registration pass does with a stored node in this cluster: `write` (create its Node, or
 * label the one there), `label` (label its Node only where the cluster already has one, e.g. one
 * its kubelet registered; never create it) or `skip` (the node is another cluster's).
 */
export type NodePlacement = 'write' | 'label' | 'skip';
export type NodeScope = (node: Node) => NodePlacement;

/** Creates or labels one Node object per stored node that `scope` places here; returns the names written. */
export async function registerNodes(
  kc: KubeConfig,
  store: Store,
  agents: AgentPresence | undefined,
  log?: Logger,
  piHealth: PiHealthOptions = {},
  scope: NodeScope = () => 'write',
): Promise<string[]> {
  const hotC = piHealth.hotC ?? 80;
  const api = kc.makeApiClient(CoreV1Api);
  const withAgent = new Set((agents?.list() ?? []).map((a) => a.node));
  const written: string[] = [];
  for (const node of store.nodes.list({ limit: 1000 }).items) {
    if (node.state === 'retired') continue;
    const place = scope(node);
    if (place === 'skip') continue;
    const hasAgent = withAgent.has(node.name) || (agents?.status(node.id).connected ?? false);
    const labels = nodeLabels(node, hasAgent);
    let cur: V1Node;
    try {
      cur = await api.readNode({ name: node.name });
      const ops = Object.entries(labels)
        .filter(([k, v]) => cur.metadata?.labels?.[k] !== v)
        .map(([k, v]) => ({ op: 'add', path: `/metadata/labels/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v }));
      if (!cur.metadata?.labels) ops.unshift({ op: 'add', path: '/metadata/labels', value: {} as unknown as string });
      // Each write returns the object as stored: the taint write below is guarded by its resourceVersion.
      if (ops.length) cur = await api.patchNode({ name: node.name, body: ops });
    } catch (err) {
      if (status(err) !== 404) throw new Error(`registering node ${node.name} failed`, { cause: err });
      if (place === 'label') continue;
      const body: V1Node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: node.name, labels, annotations: { [NO_KUBELET_ANNOTATION]: 'none' } },
        spec: { taints: [NO_KUBELET_TAINT] },
      };
      cur = await api.createNode({ body });
    }
    const agent = agents?.status(node.id);
    const prev = cur.status?.conditions ?? [];
    const pi = hasAgent ? piHealthConditions(agent?.health, prev, new Date(), hotC) : [];
    if (cur.metadata?.annotations?.[NO_KUBELET_ANNOTATION] === 'none') {
      // No kubelet: the status is ours to keep (see the module comment).
      const conditions = [...nodeConditions(agent, prev), ...pi];
      const r = await rawRequest(
        kc,
        'PATCH',
        `/api/v1/nodes/${node.name}/status`,
        { status: { conditions } },
        'application/merge-patch+json',
      );
      if (r.status !== 200) log?.warn({ node: node.name, status: r.status }, 'node status not written');
      else cur = r.body as V1Node;
    } else if (pi.length && !sameConditions(prev, pi)) {
      // A kubelet's node: a strategic merge patch merges conditions by type, so the kubelet's stay.
      const r = await rawRequest(
        kc,
        'PATCH',
        `/api/v1/nodes/${node.name}/status`,
        { status: { conditions: pi } },
        'application/strategic-merge-patch+json',
      );
      if (r.status !== 200) log?.warn({ node: node.name, status: r.status }, 'Pi health conditions not written');
      else cur = r.body as V1Node;
    }
    if (hasAgent && (piHealth.taint ?? true)) await setHealthTaints(kc, cur, piHealthState(agent?.health, hotC), log);
    written.push(node.name);
    log?.debug({ node: node.name, labels }, 'node registered');
  }
  return written;
}

/**
 * Sets the node's health taints as `state` wants. A report that says nothing (no firmware file,
 * no report yet) changes nothing. The write is guarded by the object's resourceVersion: when
 * someone else wrote the node in between, it is left to the next pass.
 */
async function setHealthTaints(kc: KubeConfig, cur: V1Node, state: PiHealthState | undefined, log?: Logger): Promise<void> {
  if (!state) return;
  const taints = cur.spec?.taints ?? [];
  const want = withHealthTaints(taints, state);
  const keys = (l: { key?: string }[]) => l.map((x) => x.key ?? '').join(',');
  if (keys(want) === keys(taints)) return;
  const name = cur.metadata?.name ?? '';
  const r = await rawRequest(
    kc,
    'PATCH',
    `/api/v1/nodes/${name}`,
    [
      { op: 'test', path: '/metadata/resourceVersion', value: cur.metadata?.resourceVersion },
      { op: cur.spec?.taints ? 'replace' : 'add', path: '/spec/taints', value: want },
    ],
    'application/json-patch+json',
  );
  if (r.status !== 200)
    log?.info({ node: name, status: r.status }, 'health taints not written (the node changed meanwhile); the next pass tries again');
  else log?.info({ node: name, taints: want.filter((x) => HEALTH_TAINT_KEYS.has(x.key ?? '')).map((x) => x.key) }, 'health taints set');
}
