/**
 * The Kubernetes objects of one install, built from a catalog entry: a namespace of its own
 * (`pic-<entry>`), the entry's generated Secrets and its ConfigMaps, per component a Deployment
 * (one replica, Recreate: its volume is ReadWriteOnce), a Service, and a PersistentVolumeClaim of
 * K3s's `local-path` class or an emptyDir, as the install chose. Every object carries the labels
 * by which status and remove find it; the namespace records the list of objects, so remove
 * deletes exactly those.
 */
import { randomBytes } from 'node:crypto';
import type { CatalogComponent, CatalogEntry, StorageChoice } from '../api/catalog.js';
import type { NodeSelectorTerm, Placement } from './platforms.js';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'pi-controller';
export const ENTRY_LABEL = 'catalog.pi-controller.io/entry';
export const ANN = {
  objects: 'catalog.pi-controller.io/objects',
  storage: 'catalog.pi-controller.io/storage',
  version: 'catalog.pi-controller.io/version',
  installedAt: 'catalog.pi-controller.io/installed-at',
} as const;
export const STORAGE_CLASS = 'local-path';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

const KINDS: Record<string, { base: string; plural: string; namespaced: boolean }> = {
  Namespace: { base: '/api/v1', plural: 'namespaces', namespaced: false },
  Secret: { base: '/api/v1', plural: 'secrets', namespaced: true },
  ConfigMap: { base: '/api/v1', plural: 'configmaps', namespaced: true },
  PersistentVolumeClaim: { base: '/api/v1', plural: 'persistentvolumeclaims', namespaced: true },
  Service: { base: '/api/v1', plural: 'services', namespaced: true },
  Deployment: { base: '/apis/apps/v1', plural: 'deployments', namespaced: true },
};

/** The collection path of a kind (in a namespace), or with `name` the object's path. */
export function kindPath(kind: string, namespace: string, name?: string): string {
  const k = KINDS[kind];
  if (!k) throw new Error(`unknown kind ${kind}`);
  const coll = k.namespaced ? `${k.base}/namespaces/${namespace}/${k.plural}` : `${k.base}/${k.plural}`;
  return name === undefined ? coll : `${coll}/${encodeURIComponent(name)}`;
}

/** `Kind/name`, as the namespace's object list and remove's answer name objects. */
export const objectId = (o: { kind: string; metadata: { name: string } }): string => `${o.kind}/${o.metadata.name}`;

export const namespaceOf = (entry: string): string => `pic-${entry}`.slice(0, 63).replace(/-+$/, '');

export function installLabels(entry: CatalogEntry): Record<string, string> {
  return {
    [MANAGED_BY]: MANAGER,
    [ENTRY_LABEL]: entry.name,
    'app.kubernetes.io/instance': entry.name,
    'app.kubernetes.io/version': entry.version.slice(0, 63),
  };
}

export interface BuildOptions {
  storage: StorageChoice;
  placements: Placement[];
  /** When the install was made (recorded on the namespace). */
  now: string;
  /** Secret values (default: 24 random URL-safe characters each). */
  secretValue?: () => string;
}

/** Every object of the install, the namespace first. */
export function buildObjects(entry: CatalogEntry, opts: BuildOptions): KubeObject[] {
  const ns = namespaceOf(entry.name);
  const labels = installLabels(entry);
  const meta = (name: string, extra: Record<string, string> = {}) => ({ name, namespace: ns, labels: { ...labels, ...extra } });
  const secretValue = opts.secretValue ?? (() => randomBytes(18).toString('base64url'));
  const objs: KubeObject[] = [];
  for (const s of entry.secrets ?? [])
    objs.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(s.name),
      type: 'Opaque',
      stringData: Object.fromEntries(s.keys.map((k) => [k, secretValue()])),
    });
  for (const c of entry.configMaps ?? []) objs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(c.name), data: c.data });
  for (const c of entry.components) {
    const placement = opts.placements.find((p) => p.component === c.name);
    const compLabels = { 'app.kubernetes.io/name': c.name };
    if (c.storage && opts.storage === 'local-path')
      objs.push({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: meta(`${c.name}-data`, compLabels),
        spec: { accessModes: ['ReadWriteOnce'], storageClassName: STORAGE_CLASS, resources: { requests: { storage: c.storage.size } } },
      });
    objs.push(deployment(entry, c, meta(c.name, compLabels), opts.storage, placement?.terms ?? null));
    if (c.ports.length)
      objs.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(c.name, compLabels),
        spec: {
          selector: { 'app.kubernetes.io/instance': entry.name, 'app.kubernetes.io/name': c.name },
          ports: c.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
        },
      });
  }
  const namespace: KubeObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns,
      labels,
      annotations: {
        [ANN.objects]: JSON.stringify(objs.map(objectId)),
        [ANN.storage]: opts.storage,
        [ANN.version]: entry.version,
        [ANN.installedAt]: opts.now,
      },
    },
  };
  return [namespace, ...objs];
}

function deployment(
  entry: CatalogEntry,
  c: CatalogComponent,
  metadata: KubeObject['metadata'],
  storage: StorageChoice,
  terms: NodeSelectorTerm[] | null,
): KubeObject {
  const selector = { 'app.kubernetes.io/instance': entry.name, 'app.kubernetes.io/name': c.name };
  const volumes: unknown[] = [];
  const mounts: unknown[] = [];
  if (c.storage) {
    volumes.push(
      storage === 'local-path'
        ? { name: 'data', persistentVolumeClaim: { claimName: `${c.name}-data` } }
        : { name: 'data', emptyDir: { sizeLimit: c.storage.size } },
    );
    mounts.push({ name: 'data', mountPath: c.storage.mountPath });
  }
  const seen = new Set<string>();
  for (const m of c.mounts ?? []) {
    const vol = m.configMap !== undefined ? `cm-${m.configMap}` : `secret-${m.secret!}`;
    if (!seen.has(vol)) {
      seen.add(vol);
      volumes.push(
        m.configMap !== undefined
          ? { name: vol, configMap: { name: m.configMap } }
          : { name: vol, secret: { secretName: m.secret, optional: true } },
      );
    }
    mounts.push({ name: vol, mountPath: m.mountPath, readOnly: true, ...(m.subPath ? { subPath: m.subPath } : {}) });
  }
  const container = {
    name: c.name,
    image: c.image,
    imagePullPolicy: 'IfNotPresent',
    ...(c.command ? { command: c.command } : {}),
    ...(c.args ? { args: c.args } : {}),
    env: (c.env ?? []).map((v) =>
      v.secret
        ? { name: v.name, valueFrom: { secretKeyRef: { name: v.secret.name, key: v.secret.key } } }
        : { name: v.name, value: v.value },
    ),
    ports: c.ports.map((p) => ({ name: p.name, containerPort: p.port })),
    resources: c.resources,
    volumeMounts: mounts,
    ...(c.readiness ? { readinessProbe: { httpGet: { path: c.readiness.path, port: c.readiness.port }, periodSeconds: 10 } } : {}),
  };
  const security = {
    ...(c.runAsUser !== undefined ? { runAsUser: c.runAsUser, runAsGroup: c.runAsUser } : {}),
    ...(c.fsGroup !== undefined ? { fsGroup: c.fsGroup } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...metadata.labels } },
        spec: {
          ...(Object.keys(security).length ? { securityContext: security } : {}),
          ...(terms
            ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } }
            : {}),
          containers: [container],
          volumes,
        },
      },
    },
  };
}
