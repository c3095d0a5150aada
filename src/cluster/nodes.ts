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
 * merged in; one that does not is created, as a kubelet would, and stays NotReady until one runs.
 */
import type { Logger } from 'pino';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Node } from '../api/nodes.js';
import type { AgentGateway } from '../server/deps.js';
import type { Store } from '../store/index.js';

export const LABEL_PREFIX = 'pi-controller.io/';

/** A string made into a label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

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

/** Creates or labels one Node object per stored node; returns the names written. */
export async function registerNodes(kc: KubeConfig, store: Store, agents: AgentGateway | undefined, log?: Logger): Promise<string[]> {
  const api = kc.makeApiClient(CoreV1Api);
  const withAgent = new Set((agents?.list?.() ?? []).map((a) => a.node));
  const written: string[] = [];
  for (const node of store.nodes.list({ limit: 1000 }).items) {
    if (node.state === 'retired') continue;
    const labels = nodeLabels(node, withAgent.has(node.name) || (agents?.status(node.id).connected ?? false));
    try {
      const cur = await api.readNode({ name: node.name });
      const ops = Object.entries(labels)
        .filter(([k, v]) => cur.metadata?.labels?.[k] !== v)
        .map(([k, v]) => ({ op: 'add', path: `/metadata/labels/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v }));
      if (!cur.metadata?.labels) ops.unshift({ op: 'add', path: '/metadata/labels', value: {} as unknown as string });
      if (ops.length) await api.patchNode({ name: node.name, body: ops });
    } catch (err) {
      if (status(err) !== 404) throw new Error(`registering node ${node.name} failed`, { cause: err });
      const body: V1Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels } };
      await api.createNode({ body });
    }
    written.push(node.name);
    log?.debug({ node: node.name, labels }, 'node registered');
  }
  return written;
}
