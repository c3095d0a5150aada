/**
 * The catalog service: list the entries; install one on a cluster (every image resolved against
 * its registry and checked against the cluster's nodes first, then the objects created in a
 * namespace of the install's own, rolled back if one fails); the status of installs from their
 * Deployments; remove exactly the objects an install created. Kubernetes is reached only
 * through {@link KubeApi} (src/core/ports.ts), which the composition root builds from the
 * cluster's kubeconfig.
 */
import type { Logger } from 'pino';
import type { CatalogEntry, CatalogInstall, CatalogItem, ImageCheck, InstallRequest, InstallResult, RemoveResult } from '../api/catalog.js';
import { ControllerError } from '../api/errors.js';
import type { CatalogPort, ClusterApis, KubeApi } from '../core/ports.js';
import { entryImages } from './entries.js';
import { ANN, buildObjects, ENTRY_LABEL, kindPath, MANAGED_BY, MANAGER, namespaceOf, objectId, type KubeObject } from './objects.js';
import { nodePlatform, placeComponents, termsText, type NodeObject } from './platforms.js';
import type { RegistryClient, ResolvedImage } from './registry.js';

export interface CatalogServiceOptions {
  entries: CatalogEntry[];
  registry: Pick<RegistryClient, 'resolve'>;
  clusters: ClusterApis;
  log?: Logger;
  /** Secret values (tests); default random. */
  secretValue?: () => string;
}

const SELECTOR = `${MANAGED_BY}=${MANAGER},${ENTRY_LABEL}`;

/** A cluster that could not be reached or refused a request: nothing more is done. */
function clusterError(api: KubeApi, what: string, cause: unknown, status?: number, body?: unknown): ControllerError {
  const msg = (body as { message?: string } | null | undefined)?.message;
  return status === undefined
    ? new ControllerError('CLUSTER_UNREACHABLE', 502, `${what}: ${api.server} is unreachable: ${(cause as Error).message}`, {
        cause,
        expose: true,
      })
    : new ControllerError('CLUSTER_REQUEST_FAILED', 502, `${what}: ${api.server} answered ${status}${msg ? `: ${msg}` : ''}`, {
        details: { httpStatus: status },
        expose: true,
      });
}

async function call(api: KubeApi, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  try {
    return await api.request(method, path, body);
  } catch (err) {
    throw clusterError(api, `${method} ${path}`, err);
  }
}

async function ok(api: KubeApi, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await call(api, method, path, body);
  if (r.status >= 300) throw clusterError(api, `${method} ${path}`, undefined, r.status, r.body);
  return r.body;
}

interface DeploymentObject {
  metadata: { name: string };
  spec?: {
    replicas?: number;
    template?: {
      spec?: { affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: never[] } } } };
    };
  };
  status?: { readyReplicas?: number };
}

export class CatalogService implements CatalogPort {
  readonly #entries: Map<string, CatalogEntry>;
  readonly #registry: Pick<RegistryClient, 'resolve'>;
  readonly #clusters: ClusterApis;
  readonly #log: Logger | undefined;
  readonly #secretValue: (() => string) | undefined;

  constructor(opts: CatalogServiceOptions) {
    this.#entries = new Map(opts.entries.map((e) => [e.name, e]));
    this.#registry = opts.registry;
    this.#clusters = opts.clusters;
    this.#log = opts.log;
    this.#secretValue = opts.secretValue;
  }

  list(): CatalogItem[] {
    return [...this.#entries.values()].map((e) => ({
      name: e.name,
      version: e.version,
      description: e.description,
      images: entryImages(e),
      storage: e.components.some((c) => c.storage !== undefined),
    }));
  }

  #entry(name: string): CatalogEntry {
    const e = this.#entries.get(name);
    if (!e)
      throw new ControllerError('CATALOG_ENTRY_NOT_FOUND', 404, `no catalog entry ${JSON.stringify(name)}`, {
        details: { name, entries: [...this.#entries.keys()] },
      });
    return e;
  }

  async install(name: string, req: InstallRequest): Promise<InstallResult> {
    const entry = this.#entry(name);
    const { name: cluster, api } = await this.#clusters(req.cluster);
    const storage = req.storage ?? 'local-path';
    const ns = namespaceOf(entry.name);

    const existing = await call(api, 'GET', kindPath('Namespace', ns, ns));
    if (existing.status === 200) {
      const cur = existing.body as KubeObject & { metadata: { deletionTimestamp?: string } };
      if (cur.metadata.deletionTimestamp)
        throw new ControllerError(
          'CATALOG_REMOVING',
          409,
          `${entry.name} is being removed from ${cluster} (namespace ${ns}); try again shortly`,
          {
            details: { name: entry.name, cluster, namespace: ns },
          },
        );
      const ours = cur.metadata.labels?.[ENTRY_LABEL] === entry.name;
      throw new ControllerError(
        'CATALOG_ALREADY_INSTALLED',
        409,
        ours
          ? `${entry.name} is already installed on ${cluster} (namespace ${ns})`
          : `namespace ${ns} exists on ${cluster} and is not a catalog install`,
        { details: { name: entry.name, cluster, namespace: ns } },
      );
    }
    if (existing.status !== 404) throw clusterError(api, `GET namespace ${ns}`, undefined, existing.status, existing.body);

    // Nodes and images before anything is written: a registry error or an image no node can run
    // leaves the cluster untouched.
    const nodes = ((await ok(api, 'GET', '/api/v1/nodes')) as { items?: NodeObject[] }).items!.map(nodePlatform);
    const images = entryImages(entry);
    const resolved = new Map<string, ResolvedImage>();
    await Promise.all(images.map(async (i) => resolved.set(i, await this.#registry.resolve(i))));
    const placements = placeComponents(entry.components, resolved, nodes);

    const objs = buildObjects(entry, {
      storage,
      placements,
      now: new Date().toISOString(),
      ...(this.#secretValue ? { secretValue: this.#secretValue } : {}),
    });
    const created: KubeObject[] = [];
    try {
      for (const o of objs) {
        await ok(api, 'POST', kindPath(o.kind, ns), o);
        created.push(o);
      }
    } catch (err) {
      this.#log?.warn({ err, entry: entry.name, cluster, created: created.map(objectId) }, 'install failed; removing what it created');
      await this.#deleteAll(api, ns, created.slice(1).map(objectId), created.length > 0);
      throw new ControllerError('CATALOG_INSTALL_FAILED', 502, `installing ${entry.name} on ${cluster} failed: ${(err as Error).message}`, {
        cause: err,
        expose: true,
      });
    }
    this.#log?.info({ entry: entry.name, version: entry.version, cluster, namespace: ns, objects: objs.length }, 'catalog entry installed');
    const checks: ImageCheck[] = images.map((image) => {
      const r = resolved.get(image)!;
      const users = placements.filter((p) => entry.components.some((c) => c.name === p.component && c.image === image));
      const okNodes = nodes.filter((n) => users.every((p) => p.nodes.includes(n.name))).map((n) => n.name);
      return {
        image,
        digest: r.digest,
        platforms: r.platforms.map((p) => ({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) })),
        nodes: okNodes,
        excluded: nodes.map((n) => n.name).filter((n) => !okNodes.includes(n)),
      };
    });
    const [install] = await this.status(req.cluster, entry.name);
    return { install: install!, images: checks, notes: entry.notes ?? '' };
  }

  async status(clusterName: string | undefined, name?: string): Promise<CatalogInstall[]> {
    if (name !== undefined) this.#entry(name);
    const { name: cluster, api } = await this.#clusters(clusterName);
    const sel = name === undefined ? SELECTOR : `${MANAGED_BY}=${MANAGER},${ENTRY_LABEL}=${name}`;
    const nss = ((await ok(api, 'GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(sel)}`)) as { items: KubeObject[] }).items;
    const out: CatalogInstall[] = [];
    for (const n of nss) {
      // A removed install whose namespace is still being finalized is gone already.
      if ((n.metadata as { deletionTimestamp?: string }).deletionTimestamp) continue;
      const ns = n.metadata.name;
      const ann = n.metadata.annotations ?? {};
      const objects = parseObjects(ann[ANN.objects]);
      const deps = (
        (await ok(api, 'GET', `${kindPath('Deployment', ns)}?labelSelector=${encodeURIComponent(SELECTOR)}`)) as {
          items: DeploymentObject[];
        }
      ).items;
      const wanted = objects.filter((o) => o.startsWith('Deployment/')).map((o) => o.slice('Deployment/'.length));
      const workloads = deps.map((d) => ({
        kind: 'Deployment',
        name: d.metadata.name,
        desired: d.spec?.replicas ?? 1,
        ready: d.status?.readyReplicas ?? 0,
        affinity: termsText(
          d.spec?.template?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
        ),
      }));
      const missing = wanted.some((w) => !deps.some((d) => d.metadata.name === w));
      out.push({
        name: n.metadata.labels?.[ENTRY_LABEL] ?? ns,
        version: ann[ANN.version] ?? '',
        cluster,
        namespace: ns,
        storage: ann[ANN.storage] === 'emptyDir' ? 'emptyDir' : 'local-path',
        installedAt: ann[ANN.installedAt] ?? new Date(0).toISOString(),
        state: missing ? 'missing' : workloads.every((w) => w.ready >= w.desired) ? 'ready' : 'progressing',
        workloads,
        objects: [...objects, `Namespace/${ns}`],
      });
    }
    if (name !== undefined && out.length === 0) throw notInstalled(name, cluster);
    return out;
  }

  async remove(name: string, clusterName: string | undefined): Promise<RemoveResult> {
    const { name: cluster, api } = await this.#clusters(clusterName);
    const ns = namespaceOf(name);
    const r = await call(api, 'GET', kindPath('Namespace', ns, ns));
    const cur = r.body as KubeObject & { metadata: { deletionTimestamp?: string } };
    if (r.status === 404 || (r.status === 200 && (cur.metadata.labels?.[ENTRY_LABEL] !== name || cur.metadata.deletionTimestamp)))
      throw notInstalled(name, cluster);
    if (r.status !== 200) throw clusterError(api, `GET namespace ${ns}`, undefined, r.status, r.body);
    const objects = parseObjects((r.body as KubeObject).metadata.annotations?.[ANN.objects]);
    const deleted = await this.#deleteAll(api, ns, objects, true);
    this.#log?.info({ entry: name, cluster, deleted }, 'catalog install removed');
    return { name, cluster, deleted };
  }

  /** Deletes the listed objects (last first; already gone is fine), then the namespace. */
  async #deleteAll(api: KubeApi, ns: string, objects: string[], namespace: boolean): Promise<string[]> {
    const deleted: string[] = [];
    for (const id of [...objects].reverse()) {
      const [kind, objName] = id.split('/') as [string, string];
      const r = await call(api, 'DELETE', kindPath(kind, ns, objName), { propagationPolicy: 'Background' });
      if (r.status >= 300 && r.status !== 404) throw clusterError(api, `DELETE ${id}`, undefined, r.status, r.body);
      deleted.push(id);
    }
    if (namespace) {
      const r = await call(api, 'DELETE', kindPath('Namespace', ns, ns));
      if (r.status >= 300 && r.status !== 404) throw clusterError(api, `DELETE namespace ${ns}`, undefined, r.status, r.body);
      deleted.push(`Namespace/${ns}`);
    }
    return deleted;
  }
}

function notInstalled(name: string, cluster: string): ControllerError {
  return new ControllerError('CATALOG_NOT_INSTALLED', 404, `${name} is not installed on ${cluster}`, { details: { name, cluster } });
}

/** The namespace's list of `Kind/name`, keeping only kinds the catalog makes. */
function parseObjects(text: string | undefined): string[] {
  try {
    const v = JSON.parse(text ?? '[]') as unknown;
    return Array.isArray(v)
      ? v.filter(
          (x): x is string =>
            typeof x === 'string' && /^(Secret|ConfigMap|PersistentVolumeClaim|Service|Deployment)\/[a-z0-9][-a-z0-9.]*$/.test(x),
        )
      : [];
  } catch {
    return [];
  }
}
