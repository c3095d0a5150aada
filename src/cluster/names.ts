/** The store object names of custom resources. */
import { createHash } from 'node:crypto';

/**
 * The store object name for a custom resource: a DNS-1123 label, stable, prefixed `k8s-`, and
 * always ending in a hash of `namespace/name` (12 hex digits), so two objects never share one
 * stored name even where their readable parts are the same (`coll.x` and `coll-x`, or `a-b/c`
 * and `a/b-c`). The readable part is `<namespace>-<name>` with characters outside [a-z0-9-]
 * made `-`, cut to fit 63 characters.
 */
export function hwNameFor(namespace: string, name: string): string {
  const h = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 12);
  const plain = `k8s-${namespace}-${name}`.replace(/[^a-z0-9-]/g, '-');
  return `${plain.slice(0, 50).replace(/-+$/, '')}-${h}`;
}

/**
 * The name earlier releases gave a custom resource's store object. It is not injective, so it is
 * kept only to find such objects and rename them (the reconciler's name migration at start).
 */
export function legacyHwNameFor(namespace: string, name: string): string {
  const plain = `k8s-${namespace}-${name}`.replace(/[^a-z0-9-]/g, '-');
  if (plain.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return plain;
  const h = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 10);
  return `${plain.slice(0, 52).replace(/-+$/, '')}-${h}`;
}
