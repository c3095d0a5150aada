/**
 * The service catalog: entries shipped with the package (the top-level `catalog/` folder, one
 * YAML file per entry), what an install asks for, and what status and remove report. An entry
 * describes its workloads in a small form of its own (image, ports, environment, resources,
 * storage, mounted files) from which src/catalog builds the Kubernetes objects, so every entry
 * gets the same labels, the same storage choice and the same node affinity rules.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, Obj, StringEnum, Timestamp } from './common.js';

/** Quantities as Kubernetes writes them (`250m`, `256Mi`, `1Gi`). */
const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$', maxLength: 32 });
const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 });
const MountPath = Type.String({ pattern: '^/[^\\u0000]*$', maxLength: 512 });
/** A ConfigMap data key (a file name). */
const FileName = Type.String({ pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253 });

export const Resources = Obj({
  requests: Obj({ cpu: Quantity, memory: Quantity }),
  limits: Obj({ cpu: Type.Optional(Quantity), memory: Quantity }),
});

export const EnvVar = Obj({
  name: EnvName,
  value: Type.Optional(Type.String({ maxLength: 4096 })),
  /** A key of one of the entry's generated secrets. */
  secret: Type.Optional(Obj({ name: Name, key: EnvName })),
});

export const CatalogComponent = Obj({
  name: Name,
  /** A pinned image reference with a tag (or digest), e.g. `docker.io/prom/prometheus:v2.53.2`. */
  image: Type.String({ minLength: 1, maxLength: 512 }),
  command: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 })),
  args: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 })),
  env: Type.Optional(Type.Array(EnvVar, { maxItems: 64 })),
  ports: Type.Array(Obj({ name: Name, port: Type.Integer({ minimum: 1, maximum: 65535 }) }), { maxItems: 16 }),
  resources: Resources,
  /** The data directory: a local-path PVC of `size`, or an emptyDir, as the install chooses. */
  storage: Type.Optional(Obj({ mountPath: MountPath, size: Quantity })),
  /**
   * Files mounted into the container: one of the entry's ConfigMaps, or a Secret the user makes
   * in the install's namespace (optional: the pod starts without it).
   */
  mounts: Type.Optional(
    Type.Array(
      Obj({ configMap: Type.Optional(Name), secret: Type.Optional(Name), mountPath: MountPath, subPath: Type.Optional(FileName) }),
      { maxItems: 16 },
    ),
  ),
  /** Run as this user and group, and own the data volume with this group (images that do not run as root). */
  runAsUser: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  fsGroup: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** An HTTP GET readiness probe. */
  readiness: Type.Optional(
    Obj({ path: Type.String({ pattern: '^/', maxLength: 256 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  ),
});
export type CatalogComponent = Static<typeof CatalogComponent>;

export const CatalogEntry = Obj({
  name: Name,
  /** The entry's own version: the upstream version it pins, then `-N` for changes of the entry. */
  version: Type.String({ pattern: '^[0-9A-Za-z][-.+0-9A-Za-z]*$', maxLength: 64 }),
  description: Type.String({ maxLength: 1024 }),
  /** Secrets made at install time, each key a random value (passwords, keys). */
  secrets: Type.Optional(Type.Array(Obj({ name: Name, keys: Type.Array(EnvName, { minItems: 1, maxItems: 16 }) }), { maxItems: 8 })),
  configMaps: Type.Optional(
    Type.Array(Obj({ name: Name, data: Type.Record(FileName, Type.String({ maxLength: 512 * 1024 })) }), { maxItems: 16 }),
  ),
  components: Type.Array(CatalogComponent, { minItems: 1, maxItems: 8 }),
  /** Notes for the user after install (how to reach it, where the secret is). */
  notes: Type.Optional(Type.String({ maxLength: 4096 })),
});
export type CatalogEntry = Static<typeof CatalogEntry>;

export const StorageChoice = StringEnum(['local-path', 'emptyDir'], {
  description: "local-path: a PersistentVolumeClaim of K3s's local-path class; emptyDir: data lives as long as the pod",
});
export type StorageChoice = Static<typeof StorageChoice>;

/** One entry as `catalog list` shows it. */
export const CatalogItem = Obj({
  name: Name,
  version: Type.String(),
  description: Type.String(),
  images: Type.Array(Type.String()),
  storage: Type.Boolean({ description: 'whether some component keeps data (and so asks for a storage choice)' }),
});
export type CatalogItem = Static<typeof CatalogItem>;

export const CatalogNameParams = Obj({ name: Name });
export const ClusterQuery = Obj({
  cluster: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 63,
      description: 'a provisioned cluster (name or id); default: the cluster of the configured kubeconfig',
    }),
  ),
});

export const InstallRequest = Obj({
  /** The entry (in REST bodies; the CLI's argument). */
  name: Type.Optional(Name),
  cluster: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 63,
      description: 'a provisioned cluster (name or id); default: the cluster of the configured kubeconfig',
    }),
  ),
  storage: Type.Optional(StorageChoice),
});
export type InstallRequest = Static<typeof InstallRequest>;

export const Platform = Obj({ os: Type.String(), architecture: Type.String(), variant: Type.Optional(Type.String()) });

/** What the platform check decided for one image. */
export const ImageCheck = Obj({
  image: Type.String(),
  digest: Type.String(),
  platforms: Type.Array(Platform),
  /** Nodes that can run it (all of them: no affinity). */
  nodes: Type.Array(Type.String()),
  /** Nodes that cannot. */
  excluded: Type.Array(Type.String()),
});
export type ImageCheck = Static<typeof ImageCheck>;

export const WorkloadStatus = Obj({
  kind: Type.String(),
  name: Type.String(),
  desired: Type.Integer(),
  ready: Type.Integer(),
  /** Node affinity the install added (architectures, with arm variants), or null. */
  affinity: Type.Union([Type.Array(Type.String()), Type.Null()]),
});

export const InstallState = StringEnum(['ready', 'progressing', 'missing']);

export const CatalogInstall = Obj({
  name: Name,
  version: Type.String(),
  cluster: Type.String(),
  namespace: Type.String(),
  storage: StorageChoice,
  installedAt: Timestamp,
  state: InstallState,
  workloads: Type.Array(WorkloadStatus),
  /** Every object the install created, as `kind/name` (the namespace itself last). */
  objects: Type.Array(Type.String()),
});
export type CatalogInstall = Static<typeof CatalogInstall>;

export const InstallResult = Obj({
  install: CatalogInstall,
  images: Type.Array(ImageCheck),
  notes: Type.String(),
});
export type InstallResult = Static<typeof InstallResult>;

export const RemoveResult = Obj({ name: Name, cluster: Type.String(), deleted: Type.Array(Type.String()) });
export type RemoveResult = Static<typeof RemoveResult>;
