/**
 * The catalog's registry client (src/catalog/registry.ts) against a real registry (Debian's
 * docker-registry on 127.0.0.1, images pushed by the test): OCI indexes, Docker manifest lists
 * and single manifests resolve to their platforms; the anonymous Bearer token flow against a real
 * token-auth registry; timeouts, unreachable registries, missing images and bad references give
 * their codes.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseBearerChallenge, parseImageRef, RegistryClient, RegistryError } from '../../src/catalog/registry.js';
import { freePort, pushTestImage, registryMissing, startRegistry, startTokenServer } from '../support/oci-registry.js';

const THREE = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux' },
  { architecture: 'arm', os: 'linux', variant: 'v7' },
];

t.test('image references', async (t) => {
  t.same(parseImageRef('postgres'), { registry: 'registry-1.docker.io', repository: 'library/postgres', tag: 'latest' });
  t.same(parseImageRef('grafana/grafana:11.2.0'), { registry: 'registry-1.docker.io', repository: 'grafana/grafana', tag: '11.2.0' });
  t.same(parseImageRef('ghcr.io/o/r/img:v1'), { registry: 'ghcr.io', repository: 'o/r/img', tag: 'v1' });
  t.same(parseImageRef('localhost:5000/x'), { registry: 'localhost:5000', repository: 'x', tag: 'latest' });
  const d = `sha256:${'a'.repeat(64)}`;
  t.same(parseImageRef(`quay.io/minio/minio@${d}`), { registry: 'quay.io', repository: 'minio/minio', digest: d });
  for (const bad of ['UPPER/case', 'x@sha256:12', 'x:bad tag', '', 'a//b'])
    t.throws(() => parseImageRef(bad), { code: 'IMAGE_REF_INVALID' }, `"${bad}" is refused`);
  t.same(
    parseBearerChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"'),
    {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/x:pull',
    },
  );
  t.equal(parseBearerChallenge('Basic realm="x"'), null);
});

t.test('against a real registry', { skip: registryMissing() ?? false }, async (t) => {
  const reg = await startRegistry(t);
  const client = new RegistryClient({ timeoutMs: 10_000 });

  t.test('an OCI index lists its platforms, arm with its variant', async (t) => {
    const digest = await pushTestImage(reg, 'pic/multi', 'v1', THREE);
    const r = await client.resolve(`${reg.host}/pic/multi:v1`);
    t.equal(r.mediaType, 'application/vnd.oci.image.index.v1+json');
    t.equal(r.digest, digest, 'the digest of the index the tag names');
    t.same(r.platforms, THREE);
    const byDigest = await client.resolve(`${reg.host}/pic/multi@${digest}`);
    t.same(byDigest.platforms, THREE, 'also by digest');
  });

  t.test('a Docker manifest list', async (t) => {
    await pushTestImage(reg, 'pic/dockerlist', 'v1', THREE.slice(0, 2), { docker: true });
    const r = await client.resolve(`${reg.host}/pic/dockerlist:v1`);
    t.equal(r.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    t.same(r.platforms, THREE.slice(0, 2));
  });

  t.test('a single-platform image: the platform from its config blob', async (t) => {
    await pushTestImage(reg, 'pic/single', 'v1', [{ architecture: 'amd64', os: 'linux' }]);
    const r = await client.resolve(`${reg.host}/pic/single:v1`);
    t.equal(r.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    t.same(r.platforms, [{ os: 'linux', architecture: 'amd64' }]);
    await pushTestImage(reg, 'pic/single-docker', 'v1', [{ architecture: 'arm', os: 'linux', variant: 'v6' }], { docker: true });
    t.same((await client.resolve(`${reg.host}/pic/single-docker:v1`)).platforms, [{ os: 'linux', architecture: 'arm', variant: 'v6' }]);
  });

  t.test('a missing tag or repository is IMAGE_NOT_FOUND', async (t) => {
    await t.rejects(client.resolve(`${reg.host}/pic/multi:absent`), { code: 'IMAGE_NOT_FOUND', status: 404 });
    await t.rejects(client.resolve(`${reg.host}/pic/nothing:v1`), { code: 'IMAGE_NOT_FOUND' });
  });
});

t.test('the anonymous Bearer token flow against a token-auth registry', { skip: registryMissing() ?? false }, async (t) => {
  const tokens = await startTokenServer(t);
  const reg = await startRegistry(t, tokens);
  // Without a token the registry says where to get one.
  const bare = await fetch(`${reg.base}/v2/pic/auth/manifests/v1`);
  t.equal(bare.status, 401);
  t.match(
    bare.headers.get('www-authenticate'),
    /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="pic-registry",scope="repository:pic\/auth:pull"/,
  );
  await pushTestImage(reg, 'pic/auth', 'v1', THREE, { auth: `Bearer ${tokens.pushToken('pic/auth')}` });

  const client = new RegistryClient();
  const r = await client.resolve(`${reg.host}/pic/auth:v1`);
  t.same(r.platforms, THREE, 'resolved with an anonymous token');
  t.equal(tokens.requests.length, 1, 'one token request');
  t.equal(tokens.requests[0]!.get('scope'), 'repository:pic/auth:pull');
  t.equal(tokens.requests[0]!.get('service'), 'pic-registry');
  await client.resolve(`${reg.host}/pic/auth:v1`);
  t.equal(tokens.requests.length, 1, 'the token is kept for the next resolve');

  tokens.allow = false;
  await t.rejects(new RegistryClient().resolve(`${reg.host}/pic/auth:v1`), { code: 'REGISTRY_AUTH_FAILED' }, 'a refused token request');
});

t.test('timeouts and unreachable registries', async (t) => {
  // Accepts connections and never answers.
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const err = await new RegistryClient({ timeoutMs: 300 }).resolve(`${host}/pic/x:v1`).catch((e: unknown) => e);
  t.ok(err instanceof RegistryError);
  t.match(err, { code: 'REGISTRY_TIMEOUT', status: 504, details: { image: `${host}/pic/x:v1` } });
  const closed = await freePort();
  await t.rejects(new RegistryClient().resolve(`127.0.0.1:${closed}/pic/x:v1`), { code: 'REGISTRY_UNREACHABLE', message: /ECONNREFUSED/ });
});
