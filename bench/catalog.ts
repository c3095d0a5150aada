// Registry look-ups for the service catalog (`npm run bench:catalog`; needs Debian's docker-registry,
// scripts/setup/60-image.sh): time to resolve the platforms of a set of multi-arch images on a local
// token-auth registry (docker-registry on 127.0.0.1 with a token server in this process), cold (a new
// client: one token request per repository, then the manifest) and with the tokens cached, against a
// baseline from the same run: a bare GET of each manifest with a token already in hand (the least a
// client can do). The images are the shipped catalog's (catalog/*.yaml), pushed as small images under
// their own repository and tag with the platforms upstream publishes (MinIO: no 32-bit ARM), and each
// entry's platform check against a mixed cluster (amd64, arm64, arm/v7 nodes) is part of the time. Then the agent image's size per platform from dist/image (`npm run image`),
// against the Node binary alone (node:20-slim's layers are not known offline: it has the same Node
// binary, plus Debian's slim base).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { entryImages, loadCatalog } from '../src/catalog/entries.js';
import { placeComponents, type NodePlatform } from '../src/catalog/platforms.js';
import { parseImageRef, RegistryClient, type ResolvedImage } from '../src/catalog/registry.js';
import { repoRoot } from '../test/support/paths.js';
import { pushTestImage, registryMissing, startRegistry, startTokenServer } from '../test/support/oci-registry.js';

const ENTRIES = loadCatalog();
/** Repository and tag of every catalog image (the registry part is this bench's local one). */
const IMAGES = ENTRIES.flatMap(entryImages).map((i) => {
  const r = parseImageRef(i);
  return { image: i, repo: r.repository, tag: r.tag! };
});
const NODES: NodePlatform[] = [
  { name: 'x86', os: 'linux', architecture: 'amd64' },
  { name: 'pi5', os: 'linux', architecture: 'arm64' },
  { name: 'pi3', os: 'linux', architecture: 'arm', variant: 'v7' },
];
const THREE = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux' },
  { architecture: 'arm', os: 'linux', variant: 'v7' },
];
const ROUNDS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const skip = registryMissing();
  if (skip) {
    console.log(`bench catalog: skipped: ${skip}`);
    return;
  }
  const teardowns: (() => void | Promise<void>)[] = [];
  const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) };
  try {
    const tokens = await startTokenServer(t);
    const reg = await startRegistry(t, tokens);
    for (const { repo, tag } of IMAGES)
      await pushTestImage(reg, repo, tag, repo === 'minio/minio' ? THREE.slice(0, 2) : THREE, {
        auth: `Bearer ${tokens.pushToken(repo)}`,
      });
    const local = new Map(IMAGES.map((i) => [i.image, `${reg.host}/${i.repo}:${i.tag}`]));

    const time = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    // Resolve every image, then check each entry against the nodes, as an install does.
    const all = async (c: RegistryClient) => {
      const resolved = new Map<string, ResolvedImage>();
      await Promise.all(IMAGES.map(async (i) => resolved.set(i.image, await c.resolve(local.get(i.image)!))));
      return ENTRIES.map((e) => placeComponents(e.components, resolved, NODES));
    };
    const cold: number[] = [];
    const cached: number[] = [];
    const bare: number[] = [];
    const warm = new RegistryClient();
    await all(warm);
    // Tokens for the baseline, fetched once outside the timing.
    const pull = new Map<string, string>();
    for (const { repo } of IMAGES) {
      const r = await fetch(`${tokens.url}?service=${tokens.service}&scope=repository:${repo}:pull`);
      pull.set(repo, ((await r.json()) as { token: string }).token);
    }
    const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
    for (let i = 0; i < ROUNDS; i++) {
      cold.push(await time(() => all(new RegistryClient())));
      cached.push(await time(() => all(warm)));
      bare.push(
        await time(() =>
          Promise.all(
            IMAGES.map(async ({ repo, tag }) => {
              const r = await fetch(`${reg.base}/v2/${repo}/manifests/${tag}`, {
                headers: { accept, authorization: `Bearer ${pull.get(repo)}` },
              });
              await r.arrayBuffer();
            }),
          ),
        ),
      );
    }
    const [c, w, b] = [median(cold), median(cached), median(bare)];
    const minio = (await all(warm)).flat().find((p) => p.component === 'minio')!;
    console.log(
      `catalog: the ${IMAGES.length} images of ${ENTRIES.length} entries resolved and checked against 3 nodes (median of ${ROUNDS}, local docker-registry with token auth); minio placed on ${minio.nodes.join(', ')}:`,
    );
    console.log(`  cold (a token per repository, then the manifest): ${c.toFixed(1)} ms, ${(c / b).toFixed(2)}x the baseline`);
    console.log(`  tokens cached:                                   ${w.toFixed(1)} ms, ${(w / b).toFixed(2)}x the baseline`);
    console.log(`  baseline (bare GET of each manifest, token in hand): ${b.toFixed(1)} ms`);

    const layout = join(repoRoot(), 'dist/image');
    if (!existsSync(join(layout, 'index.json'))) {
      console.log('agent image: dist/image is absent (run npm run image first)');
      return;
    }
    const blob = (d: string) => JSON.parse(readFileSync(join(layout, 'blobs/sha256', d.slice(7)), 'utf8')) as Record<string, unknown>;
    const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const index = blob(top.manifests[0]!.digest) as {
      manifests: { digest: string; platform: { architecture: string; variant?: string } }[];
    };
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    console.log('agent image per platform (compressed, as pulled) against the Node binary alone:');
    for (const m of index.manifests) {
      const man = blob(m.digest) as { layers: { size: number }[] };
      const total = man.layers.reduce((n, l) => n + l.size, 0);
      const node = man.layers[1]!.size;
      console.log(
        `  linux/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}: ${mib(total)}; its Node layer ${mib(node)}, so ${(total / node).toFixed(2)}x the Node binary (node:20-slim adds Debian's slim base to the same binary)`,
      );
    }
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

await main();
