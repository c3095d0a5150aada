/**
 * What the reconciler writes to the Kubernetes API server: the CRDs (installed or upgraded),
 * `status` through the status subresource, and the finalizer that holds a deleted object until
 * its hardware is released (added and removed with JSON patches that test what they change).
 */
import type { Logger } from 'pino';
import type { KubeConfig } from '@kubernetes/client-node';
import { HW_KINDS, type HwKind } from '../api/hardware.js';
import { API_VERSION, FINALIZER, GROUP, KINDS, VERSION, crdFor } from './crds.js';
import { ApiStatusError, rawOk, rawRequest } from './raw.js';
import type { HwResource } from './status.js';

/** How a status write ended: written, the object is gone, or it changed meanwhile (`fresh`: read again, undefined if unreadable). */
export type StatusWrite = { result: 'written' } | { result: 'gone' } | { result: 'conflict'; fresh: HwResource | undefined };

export class KubeWriter {
  readonly #kc: KubeConfig;
  readonly #log: Logger;

  constructor(kubeConfig: KubeConfig, log: Logger) {
    this.#kc = kubeConfig;
    this.#log = log;
  }

  /** The object's path. */
  path(hw: HwKind, namespace: string, name: string): string {
    return `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${KINDS[hw].plural}/${name}`;
  }

  /** Replaces the status of `obj` (as read) through `/status`. */
  async putStatus(hw: HwKind, namespace: string, name: string, obj: HwResource, status: Record<string, unknown>): Promise<StatusWrite> {
    const path = this.path(hw, namespace, name);
    const body = { apiVersion: API_VERSION, kind: KINDS[hw].kind, metadata: { ...obj.metadata }, spec: obj.spec, status };
    const r = await rawRequest(this.#kc, 'PUT', `${path}/status`, body);
    if (r.status === 200) return { result: 'written' };
    if (r.status === 404) return { result: 'gone' };
    if (r.status !== 409) throw new ApiStatusError('PUT', `${path}/status`, r.status, r.body);
    // Someone changed the object since we read it: read it again.
    const fresh = await rawRequest(this.#kc, 'GET', path);
    return { result: 'conflict', fresh: fresh.status === 200 ? (fresh.body as HwResource) : undefined };
  }

  async addFinalizer(hw: HwKind, obj: HwResource): Promise<void> {
    const fins = obj.metadata?.finalizers;
    const body = fins
      ? [
          { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
          { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
        ]
      : [{ op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }];
    await this.#patch(hw, obj, body);
  }

  async dropFinalizer(hw: HwKind, obj: HwResource): Promise<void> {
    const i = (obj.metadata?.finalizers ?? []).indexOf(FINALIZER);
    if (i < 0) return;
    await this.#patch(hw, obj, [
      { op: 'test', path: `/metadata/finalizers/${i}`, value: FINALIZER },
      { op: 'remove', path: `/metadata/finalizers/${i}` },
    ]);
  }

  async #patch(hw: HwKind, obj: HwResource, body: unknown[]): Promise<void> {
    const path = this.path(hw, obj.metadata?.namespace ?? 'default', obj.metadata?.name ?? '');
    const r = await rawRequest(this.#kc, 'PATCH', path, body, 'application/json-patch+json');
    if (r.status === 200) return;
    // 404: already gone; 409/422: the object changed under us (a failed test op): its watch event queues it again.
    if (r.status === 404 || r.status === 409 || r.status === 422) {
      this.#log.debug({ name: obj.metadata?.name, code: r.status }, 'patch not applied; the object changed or is gone');
      return;
    }
    throw new ApiStatusError('PATCH', path, r.status, r.body);
  }
}

/** Creates or upgrades the three CRDs and waits (at most 30 s) until the API server serves them. */
export async function installCrds(kc: KubeConfig, log?: Logger): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const hw of HW_KINDS) {
    const body = crdFor(hw) as { metadata: { name: string; resourceVersion?: string } };
    const name = body.metadata.name;
    const cur = await rawRequest(kc, 'GET', `${base}/${name}`);
    if (cur.status === 404) {
      await rawOk(kc, 'POST', base, body);
      log?.info({ crd: name }, 'CRD installed');
    } else if (cur.status === 200) {
      const rv = (cur.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
      await rawOk(kc, 'PUT', `${base}/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: rv } });
      log?.info({ crd: name }, 'CRD upgraded');
    } else {
      throw new ApiStatusError('GET', `${base}/${name}`, cur.status, cur.body);
    }
  }
  const deadline = Date.now() + 30_000;
  for (const hw of HW_KINDS) {
    const name = `${KINDS[hw].plural}.${GROUP}`;
    for (;;) {
      const crd = (await rawOk(kc, 'GET', `${base}/${name}`)) as { status?: { conditions?: { type: string; status: string }[] } };
      if ((crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established within 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
