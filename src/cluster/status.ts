/**
 * The status a custom resource should have, computed from what the reconciler decided and what
 * the store holds: a pure function of its inputs (no API server, no store, no clock unless
 * given), so each Ready reason is unit-tested on its own (test/cluster/status.test.ts).
 *
 * Ready reasons, in the order they are decided:
 * - the reconciler's own outcome when it refused or could not store the spec (InvalidSpec,
 *   NodeNotFound, PinBusy, PinReserved, ...);
 * - `Applying` while nothing is stored yet;
 * - `AgentOffline` while the node's agent is not connected;
 * - `Applying` while the agent has not reported on the stored generation;
 * - `Applied` (Ready=True) when it has applied it;
 * - otherwise what the agent reported (HardwareError when it gave no reason).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { HwKind, HwObject } from '../api/hardware.js';
import { i2cDisplay, type Condition, type Phase } from './crds.js';

/** A custom resource as the informers hold it. */
export interface HwResource extends KubernetesObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { observedGeneration?: number; phase?: Phase; conditions?: Condition[] };
}

/** What the reconciler decided when it could not store the spec (null: stored). */
export interface Outcome {
  phase: Phase;
  reason: string;
  message: string;
}

export interface StatusInput {
  hw: HwKind;
  /** The object as the API server has it (its spec, generation and current conditions). */
  obj: HwResource;
  outcome: Outcome | null;
  /** The stored desired state with the agent's report (undefined: not stored). */
  stored: HwObject | undefined;
  /** Whether the node's agent is connected. */
  connected: boolean;
  /** Counted edges of a watched GPIO input, and when the last was seen. */
  edges: number;
  lastEdge: string | null;
  /** Now (for a new lastTransitionTime); default the clock. */
  now?: Date;
}

/** The status an object should have now (see the module comment). */
export function statusFor(i: StatusInput): Record<string, unknown> {
  const { hw, obj } = i;
  const generation = obj.metadata?.generation ?? 1;
  const extra: Record<string, unknown> = {};
  let outcome: Outcome;
  if (i.outcome) {
    outcome = i.outcome;
  } else {
    const cur = i.stored;
    outcome = readyOf(cur, i.connected, obj);
    if (cur?.status.actual && cur.status.observedGeneration === cur.generation) Object.assign(extra, actualFields(hw, cur.status.actual));
    if (cur?.status.updatedAt) extra.updatedAt = cur.status.updatedAt;
  }
  const { phase, reason, message } = outcome;
  if (hw === 'gpio' && i.edges > 0) {
    extra.edgeCount = i.edges;
    if (i.lastEdge) extra.lastEdgeTime = i.lastEdge;
  }
  if (hw === 'i2c') Object.assign(extra, i2cDisplay(obj.spec, extra.readings)); // for kubectl get's columns
  const prev = (obj.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const status = phase === 'Ready' ? 'True' : 'False';
  const ready: Condition = {
    type: 'Ready',
    status,
    reason,
    message,
    // Kept while the condition's status and reason stay; a change is stamped now (whole seconds).
    lastTransitionTime:
      prev && prev.status === status && prev.reason === reason
        ? prev.lastTransitionTime
        : (i.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    observedGeneration: generation,
  };
  return { phase, observedGeneration: generation, conditions: [ready], message, ...extra };
}

/** Phase, Ready reason and message of a stored object from the agent's link and report. */
function readyOf(cur: HwObject | undefined, connected: boolean, obj: HwResource): Outcome {
  if (!cur) return { phase: 'Pending', reason: 'Applying', message: 'waiting for the desired state to be stored' };
  if (!connected)
    return {
      phase: 'Pending',
      reason: 'AgentOffline',
      message: `the agent of node ${String(obj.spec?.nodeName)} is not connected; the desired state is applied when it returns`,
    };
  if (cur.status.observedGeneration !== cur.generation || cur.status.phase === 'Pending')
    return { phase: 'Pending', reason: 'Applying', message: 'sent to the node; waiting for its report' };
  if (cur.status.phase === 'Applied') return { phase: 'Ready', reason: 'Applied', message: 'applied on the node' };
  const reason = cur.status.reason || 'HardwareError';
  const m = (cur.status.actual as { message?: unknown } | undefined)?.message;
  return { phase: 'Failed', reason, message: typeof m === 'string' ? m : `the node reported ${reason}` };
}

/** The status fields a kind shows from what the agent reported in `actual`. */
export function actualFields(hw: HwKind, actual: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pick = (from: string, to = from, test: (v: unknown) => boolean = (v) => typeof v === 'number') => {
    if (test(actual[from])) out[to] = actual[from];
  };
  if (hw === 'gpio') {
    pick('value');
    pick('level');
    pick('mode', 'mode', (v) => v === 'input' || v === 'output');
    pick('pull', 'pull', (v) => typeof v === 'string');
  } else if (hw === 'pwm') {
    pick('frequencyHz', 'achievedFrequencyHz');
    pick('achievedFrequencyHz');
    pick('dutyCycle', 'achievedDutyCycle');
    pick('achievedDutyCycle');
    pick('implementation', 'implementation', (v) => typeof v === 'string');
    pick('channel', 'channel', (v) => typeof v === 'string');
  } else {
    if (actual.readings && typeof actual.readings === 'object') out.readings = actual.readings;
    pick('readAt', 'lastReadTime', (v) => typeof v === 'string');
  }
  return out;
}

/** Status fields that change with readings and edges alone (written at most once per minReportIntervalMs). */
const REPORT_BLANK = { edgeCount: undefined, lastEdgeTime: undefined, readings: undefined, lastReadTime: undefined, updatedAt: undefined };
const blankTimes = (cs: Condition[]) => cs.map((c) => ({ ...c, lastTransitionTime: '' }));

/**
 * Two statuses as compared for "did it change": the transition times and `updatedAt` left out
 * (`reportsToo` false also leaves out readings and edge counts), in canonical JSON, since the
 * API server sends keys sorted.
 */
export function comparable(status: Record<string, unknown>, canonical: (v: unknown) => string, reportsToo = true): string {
  const conditions = blankTimes((status.conditions as Condition[] | undefined) ?? []);
  return reportsToo ? canonical({ ...status, conditions, updatedAt: undefined }) : canonical({ ...status, ...REPORT_BLANK, conditions });
}
