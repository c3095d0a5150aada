/**
 * The reconciler's side of the store: the desired state of custom resources kept in the same
 * `hw_desired` rows the REST API writes, each change published as `hw.changed` (so the agent link
 * sends it to the node's agent exactly as for a REST change), and released when the resource
 * goes or moves. Also the start-up passes: store objects under the old, non-injective names are
 * renamed, and `k8s-` objects no custom resource owns are released.
 */
import type { Logger } from 'pino';
import { HW_KINDS, type HwKind, type HwObject, type HwSpecs } from '../api/hardware.js';
import type { Validator } from '../api/validate.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/index.js';
import { sameSpec } from '../store/hardware.js';
import { hwNameFor, legacyHwNameFor } from './names.js';
import type { HwResource } from './status.js';
import { checkSpec } from './validate.js';

/** A custom resource as the start-up passes see it. */
export interface Owned {
  hw: HwKind;
  obj: HwResource;
}

export class DesiredState {
  readonly #store: Store;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #v: Validator;

  constructor(opts: { store: Store; bus: EventBus; log: Logger; validator: Validator }) {
    this.#store = opts.store;
    this.#bus = opts.bus;
    this.#log = opts.log;
    this.#v = opts.validator;
  }

  /** The stored object, or undefined. */
  find(nodeId: string, hw: HwKind, name: string): HwObject | undefined {
    try {
      return this.#store.hardware.require(nodeId, hw, name);
    } catch {
      return undefined;
    }
  }

  /**
   * Stores `spec` as `hwName` on `nodeId`, released first from `fromNodeId` when it moved; one
   * savepoint. Throws the store's ConflictError when another object holds the pin or address.
   */
  put(nodeId: string, fromNodeId: string | null, hw: HwKind, hwName: string, spec: HwSpecs[HwKind]): void {
    const store = this.#store;
    store.tx(() => {
      if (fromNodeId && fromNodeId !== nodeId) this.release(fromNodeId, hw, hwName);
      const cur = this.find(nodeId, hw, hwName);
      const next = cur ? store.hardware.replace(nodeId, hw, hwName, spec) : store.hardware.create(nodeId, hw, hwName, spec);
      if (!cur || cur.generation !== next.generation) {
        this.#bus.emit('hw.changed', { nodeId, kind: hw, name: hwName, generation: next.generation, deleted: false });
      }
    });
  }

  /** Deletes the stored object (when there is one), which releases its pin, channel or address. */
  release(nodeId: string, hw: HwKind, hwName: string): void {
    const store = this.#store;
    store.tx(() => {
      const cur = this.find(nodeId, hw, hwName);
      if (!cur) return;
      store.hardware.delete(nodeId, hw, hwName);
      this.#bus.emit('hw.changed', { nodeId, kind: hw, name: hwName, generation: cur.generation, deleted: true });
    });
  }

  /** Releases `hwName` on every node (the resource's node is not known). */
  releaseEverywhere(hw: HwKind, hwName: string): void {
    for (const n of this.#store.nodes.list({ limit: 1000 }).items) this.release(n.id, hw, hwName);
  }

  /**
   * Renames store objects made under {@link legacyHwNameFor} to {@link hwNameFor}, keeping their
   * spec, generation and status, so an upgraded control plane takes over what the agents drive
   * instead of releasing it and claiming it again. An old name that several custom resources
   * map to (`coll.x` and `coll-x`) goes to the one whose current spec is the stored one on that
   * node; when none or more than one matches, it is left to the sweep (released) and each
   * object is applied afresh under its own name.
   */
  migrateNames(resources: Iterable<Owned>): void {
    const store = this.#store;
    const owners = new Map<string, { hw: HwKind; namespace: string; name: string; obj: HwResource }[]>();
    for (const { hw, obj } of resources) {
      const namespace = obj.metadata?.namespace ?? 'default';
      const name = obj.metadata?.name ?? '';
      const old = `${hw}/${legacyHwNameFor(namespace, name)}`;
      owners.set(old, [...(owners.get(old) ?? []), { hw, namespace, name, obj }]);
    }
    if (owners.size === 0) return;
    for (const node of store.nodes.list({ limit: 1000 }).items) {
      for (const hw of HW_KINDS) {
        for (const row of store.hardware.list(node.id, hw)) {
          const cands = owners.get(`${hw}/${row.name}`);
          if (!cands) continue;
          const same = (c: (typeof cands)[number]) => {
            const checked = checkSpec(this.#v, hw, c.obj.spec);
            return checked.ok && checked.value.nodeName === node.name && sameSpec(checked.value.spec, row.spec);
          };
          const pick = cands.length === 1 ? cands[0]! : cands.filter(same).length === 1 ? cands.filter(same)[0]! : undefined;
          if (!pick) continue;
          const to = hwNameFor(pick.namespace, pick.name);
          if (to === row.name || this.find(node.id, hw, to)) continue;
          store.tx(() => {
            const next = store.hardware.rename(node.id, hw, row.name, to);
            this.#bus.emit('hw.changed', { nodeId: node.id, kind: hw, name: row.name, generation: row.generation, deleted: true });
            this.#bus.emit('hw.changed', { nodeId: node.id, kind: hw, name: to, generation: next.generation, deleted: false });
          });
          this.#log.info({ node: node.name, kind: hw, from: row.name, to }, 'stored object renamed to its injective name');
        }
      }
    }
  }

  /** Store objects made for custom resources that no longer exist are released. */
  sweep(resources: Iterable<Owned>): void {
    const wanted = new Set<string>();
    for (const { obj } of resources) wanted.add(hwNameFor(obj.metadata?.namespace ?? 'default', obj.metadata?.name ?? ''));
    const store = this.#store;
    for (const node of store.nodes.list({ limit: 1000 }).items) {
      for (const hw of HW_KINDS) {
        for (const obj of store.hardware.list(node.id, hw)) {
          if (obj.name.startsWith('k8s-') && !wanted.has(obj.name)) this.release(node.id, hw, obj.name);
        }
      }
    }
  }
}
