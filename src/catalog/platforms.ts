/**
 * Which nodes can run which image. A node's platform is its `kubernetes.io/arch` label (else
 * `status.nodeInfo.architecture`) and, for 32-bit ARM, the variant from the label
 * `pi-controller.io/arch-variant` (Kubernetes records none; without the label an `arm` node is
 * taken as `v7`, the oldest ARM that K3s runs on). An image runs on a node when one of its
 * platforms has the node's OS and architecture and, for `arm`, a variant no newer than the
 * node's (a v6 build runs on a v7 CPU, not the reverse). A workload whose images some nodes
 * cannot run gets required node affinity on the architectures (and arm variants) that can; one
 * that no node can run is refused.
 */
import type { CatalogComponent } from '../api/catalog.js';
import { ControllerError } from '../api/errors.js';
import type { Platform, ResolvedImage } from './registry.js';

export const ARCH_LABEL = 'kubernetes.io/arch';
export const OS_LABEL = 'kubernetes.io/os';
export const VARIANT_LABEL = 'pi-controller.io/arch-variant';

export interface NodePlatform {
  name: string;
  os: string;
  architecture: string;
  /** For `arm` only: `v6`, `v7`, `v8`. */
  variant?: string;
}

/** The parts of a Node object read here. */
export interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { nodeInfo?: { architecture?: string; operatingSystem?: string } };
}

export function nodePlatform(n: NodeObject): NodePlatform {
  const labels = n.metadata?.labels ?? {};
  const architecture = labels[ARCH_LABEL] ?? n.status?.nodeInfo?.architecture ?? 'unknown';
  const os = labels[OS_LABEL] ?? n.status?.nodeInfo?.operatingSystem ?? 'linux';
  return {
    name: n.metadata?.name ?? '',
    os,
    architecture,
    ...(architecture === 'arm' ? { variant: labels[VARIANT_LABEL] ?? 'v7' } : {}),
  };
}

const rank = (v: string | undefined): number => (v && /^v\d+$/.test(v) ? Number(v.slice(1)) : 7);

/** Whether a build for `p` runs on `node`. */
export function runsOn(p: Platform, node: NodePlatform): boolean {
  if (p.os !== node.os || p.architecture !== node.architecture) return false;
  return p.architecture !== 'arm' || rank(p.variant) <= rank(node.variant);
}

/** `linux/arm/v7` */
export const platformText = (p: { os: string; architecture: string; variant?: string | undefined }): string =>
  [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** Kubernetes' required node affinity: terms are ORed, expressions in a term ANDed. */
export interface NodeSelectorTerm {
  matchExpressions: { key: string; operator: 'In'; values: string[] }[];
}

export interface Placement {
  component: string;
  /** Nodes that can run every image of the component. */
  nodes: string[];
  excluded: string[];
  /** Null when every node can run it. */
  terms: NodeSelectorTerm[] | null;
}

/** The affinity terms that admit exactly the architectures (and arm variants) of `ok`. */
export function affinityTerms(ok: readonly NodePlatform[], all: readonly NodePlatform[]): NodeSelectorTerm[] {
  const terms: NodeSelectorTerm[] = [];
  for (const arch of [...new Set(ok.map((n) => n.architecture))].sort()) {
    const expr: NodeSelectorTerm['matchExpressions'] = [{ key: ARCH_LABEL, operator: 'In', values: [arch] }];
    if (arch === 'arm') {
      const okVariants = new Set(ok.filter((n) => n.architecture === 'arm').map((n) => n.variant!));
      // Only when the arm nodes differ in what they can run: the variant label then decides.
      if (all.some((n) => n.architecture === 'arm' && !okVariants.has(n.variant!)))
        expr.push({ key: VARIANT_LABEL, operator: 'In', values: [...okVariants].sort() });
    }
    terms.push({ matchExpressions: expr });
  }
  return terms;
}

/** Terms as short text (`amd64`, `arm/v7`) for status and messages. */
export function termsText(terms: NodeSelectorTerm[] | null | undefined): string[] | null {
  if (!terms) return null;
  return terms.map((t) => {
    const arch = t.matchExpressions.find((e) => e.key === ARCH_LABEL)?.values.join(',') ?? '?';
    const variants = t.matchExpressions.find((e) => e.key === VARIANT_LABEL)?.values;
    return variants ? `${arch}/${variants.join(',')}` : arch;
  });
}

/**
 * Places each component on the nodes that can run all of its images.
 * @throws ControllerError `PLATFORM_UNSUPPORTED` (409) naming the image, its platforms and the
 *   nodes' platforms when no node can run a component (or the cluster has no nodes).
 */
export function placeComponents(
  components: readonly CatalogComponent[],
  resolved: ReadonlyMap<string, ResolvedImage>,
  nodes: readonly NodePlatform[],
): Placement[] {
  const nodeText = [...new Set(nodes.map(platformText))].sort();
  return components.map((c) => {
    const img = resolved.get(c.image)!;
    const ok = nodes.filter((n) => img.platforms.some((p) => runsOn(p, n)));
    if (ok.length === 0) {
      const platforms = img.platforms.map(platformText);
      throw new ControllerError(
        'PLATFORM_UNSUPPORTED',
        409,
        nodes.length === 0
          ? `no node can run ${c.image}: the cluster has no nodes`
          : `no node can run ${c.image} (built for ${platforms.join(', ') || 'no platform'}); the nodes are ${nodeText.join(', ')}`,
        { details: { image: c.image, component: c.name, platforms, nodePlatforms: nodeText }, expose: true },
      );
    }
    return {
      component: c.name,
      nodes: ok.map((n) => n.name),
      excluded: nodes.filter((n) => !ok.includes(n)).map((n) => n.name),
      terms: ok.length === nodes.length ? null : affinityTerms(ok, nodes),
    };
  });
}
