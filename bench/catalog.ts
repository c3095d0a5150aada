// Registry look-ups for the service catalog (`npm run bench:catalog`; needs Debian's docker-registry,
// scripts/setup/60-image.sh): time to resolve the platforms of a set of multi-arch images on a local
// token-auth registry (docker-registry on 127.0.0.1 with a token server in this process), cold (a new
// client: one token request per repository, then the manifest) and with the tokens cached, against a
// baseline from the same run: a bare GET of each manifest with a token already in hand (the least a
// client can do). The images are small ones this bench pushes, named after the base services the
// catalog will carry. Then the agent image's size per platform from dist/image (`npm run image`),
// against the Node binary alone (node:20-slim's layers are not known offline: it has the same Node
// binary, plus Debian's slim base).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../src/catalog/registry.js';
import { repoRoot } from '../test/support/paths.js';
import { pushTestImage, registryMissing, startRegistry, startTokenServer } from '../test/support/oci-registry.js';

const IMAGES = ['prometheus', 'grafana', 'minio', 'postgres', 'node-exporter', 'alertmanager', 'kube-state-metrics', 'loki'];
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
    for (const [i, name] of IMAGES.entries())
      await pushTestImage(reg, `catalog/${name}`, 'v1', i % 3 === 2 ? THREE.slice(0, 2) : THREE, {
        auth: `Bearer ${tokens.pushToken(`catalog/${name}`)}`,
      });
    const refs = IMAGES.map((n) => `${reg.host}/catalog/${n}:v1`);

    const time = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const all = (c: RegistryClient) => Promise.all(refs.map((r) => c.resolve(r)));
    const cold: number[] = [];
    const cached: number[] = [];
    const bare: number[] = [];
    const warm = new RegistryClient();
    await all(warm);
    // Tokens for the baseline, fetched once outside the timing.
    const pull = new Map<string, string>();
    for (const n of IMAGES) {
      const r = await fetch(`${tokens.url}?service=${tokens.service}&scope=repository:catalog/${n}:pull`);
      pull.set(n, ((await r.json()) as { token: string }).token);
    }
    const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
    for (let i = 0; i < ROUNDS; i++) {
      cold.push(await time(() => all(new RegistryClient())));
      cached.push(await time(() => all(warm)));
      bare.push(
        await time(() =>
          Promise.all(
            IMAGES.map(async (n) => {
              const r = await fetch(`${reg.base}/v2/catalog/${n}/manifests/v1`, {
                headers: { accept, authorization: `Bearer ${pull.get(n)}` },
              });
              await r.arrayBuffer();
            }),
          ),
        ),
      );
    }
    const [c, w, b] = [median(cold), median(cached), median(bare)];
    console.log(`catalog: ${IMAGES.length} images, platforms resolved (median of ${ROUNDS}, local docker-registry with token auth):`);
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
