/** Which nodes run which image builds, arm variants included, and the node affinity that follows (src/catalog/platforms.ts). */
import t from 'tap';
import { affinityTerms, nodePlatform, placeComponents, runsOn, termsText, VARIANT_LABEL } from '../../src/catalog/platforms.js';
import type { CatalogComponent } from '../../src/api/catalog.js';
import type { ResolvedImage } from '../../src/catalog/registry.js';

const node = (name: string, arch: string, variant?: string) =>
  nodePlatform({
    metadata: { name, labels: { 'kubernetes.io/arch': arch, ...(variant ? { [VARIANT_LABEL]: variant } : {}) } },
  });

t.test('node platforms and builds', async (t) => {
  t.same(node('a', 'arm'), { name: 'a', os: 'linux', architecture: 'arm', variant: 'v7' }, 'an arm node without the label is v7');
  t.same(nodePlatform({ metadata: { name: 'b' }, status: { nodeInfo: { architecture: 'arm64', operatingSystem: 'linux' } } }), {
    name: 'b',
    os: 'linux',
    architecture: 'arm64',
  });
  const v6 = node('zero', 'arm', 'v6');
  const v7 = node('pi3', 'arm', 'v7');
  t.ok(runsOn({ os: 'linux', architecture: 'arm', variant: 'v6' }, v7), 'a v6 build runs on a v7 CPU');
  t.notOk(runsOn({ os: 'linux', architecture: 'arm', variant: 'v7' }, v6), 'not the reverse');
  t.notOk(runsOn({ os: 'linux', architecture: 'arm64' }, v7));
  t.notOk(runsOn({ os: 'windows', architecture: 'amd64' }, node('x', 'amd64')));
});

t.test('affinity: by architecture, and by variant only where arm nodes differ', async (t) => {
  const all = [node('x', 'amd64'), node('zero', 'arm', 'v6'), node('pi3', 'arm', 'v7')];
  const terms = affinityTerms([all[0]!, all[2]!], all);
  t.same(terms, [
    { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] },
    {
      matchExpressions: [
        { key: 'kubernetes.io/arch', operator: 'In', values: ['arm'] },
        { key: VARIANT_LABEL, operator: 'In', values: ['v7'] },
      ],
    },
  ]);
  t.same(termsText(terms), ['amd64', 'arm/v7']);

  const comp = (name: string, image: string) => ({ name, image }) as CatalogComponent;
  const img = (...platforms: ResolvedImage['platforms']): ResolvedImage => ({
    ref: { registry: 'r', repository: 'x' },
    digest: 'sha256:0',
    mediaType: 'm',
    platforms,
  });
  const resolved = new Map([
    ['everywhere', img({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm', variant: 'v6' })],
    ['v7only', img({ os: 'linux', architecture: 'arm', variant: 'v7' })],
    ['s390x', img({ os: 'linux', architecture: 's390x' })],
  ]);
  const p = placeComponents([comp('a', 'everywhere'), comp('b', 'v7only')], resolved, all);
  t.equal(p[0]!.terms, null, 'every node: no affinity');
  t.same(p[1]!.nodes, ['pi3']);
  t.same(termsText(p[1]!.terms), ['arm/v7']);
  t.throws(() => placeComponents([comp('c', 's390x')], resolved, all), {
    code: 'PLATFORM_UNSUPPORTED',
    details: { image: 's390x', platforms: ['linux/s390x'], nodePlatforms: ['linux/amd64', 'linux/arm/v6', 'linux/arm/v7'] },
  });
  t.throws(() => placeComponents([comp('a', 'everywhere')], resolved, []), { code: 'PLATFORM_UNSUPPORTED', message: /no nodes/ });
});
