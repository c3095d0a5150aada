/**
 * /api/v1/catalog without a cluster to talk to (no API server needed): the entries are listed;
 * an install without a kubeconfig is 503 KUBERNETES_OFF, a cluster record without a kubeconfig
 * 409 CLUSTER_NOT_CONNECTED, an unknown cluster 404 CLUSTER_NOT_FOUND, a body without a name
 * 422; roles; and without the catalog at all, 503.
 */
import t from 'tap';
import { loadCatalog } from '../../src/catalog/entries.js';
import { RegistryClient } from '../../src/catalog/registry.js';
import { CatalogService } from '../../src/catalog/service.js';
import { catalogClusters } from '../../src/daemon/catalog.js';
import { startServer } from '../support/server.js';

t.test('catalog routes', async (t) => {
  const s = await startServer(t, (store) => ({
    catalog: new CatalogService({ entries: loadCatalog(), registry: new RegistryClient(), clusters: catalogClusters(store, undefined) }),
  }));
  const list = await s.req('GET', '/api/v1/catalog', { token: s.viewer });
  t.equal(list.status, 200);
  t.equal(list.body.total, 3);
  t.same(list.body.items.find((e: { name: string }) => e.name === 'minio').images, ['quay.io/minio/minio:RELEASE.2024-08-17T01-24-54Z']);

  t.equal((await s.req('POST', '/api/v1/catalog/installs', { token: s.operator, body: { name: 'minio' } })).status, 403, 'admin only');
  const off = await s.req('POST', '/api/v1/catalog/installs', { body: { name: 'minio' } });
  t.match(off, { status: 503, body: { error: { code: 'KUBERNETES_OFF' } } });
  await s.req('POST', '/api/v1/clusters', { body: { name: 'home' } });
  t.match(await s.req('POST', '/api/v1/catalog/installs', { body: { name: 'minio', cluster: 'home' } }), {
    status: 409,
    body: { error: { code: 'CLUSTER_NOT_CONNECTED' } },
  });
  t.match(await s.req('GET', '/api/v1/catalog/installs?cluster=nowhere', { token: s.viewer }), {
    status: 404,
    body: { error: { code: 'CLUSTER_NOT_FOUND' } },
  });
  t.match(await s.req('DELETE', '/api/v1/catalog/installs/minio?cluster=nowhere'), {
    status: 404,
    body: { error: { code: 'CLUSTER_NOT_FOUND' } },
  });
  t.match(await s.req('POST', '/api/v1/catalog/installs', { body: {} }), {
    status: 422,
    body: { error: { problems: [{ path: '/body/name' }] } },
  });
  t.match(await s.req('POST', '/api/v1/catalog/installs', { body: { name: 'minio', storage: 'nfs' } }), { status: 422 });
  t.match(await s.req('POST', '/api/v1/catalog/installs', { body: { name: 'nope', cluster: 'home' } }), {
    status: 404,
    body: { error: { code: 'CATALOG_ENTRY_NOT_FOUND' } },
  });
});

t.test('no catalog: 503', async (t) => {
  const s = await startServer(t);
  t.match(await s.req('GET', '/api/v1/catalog'), { status: 503, body: { error: { code: 'CATALOG_UNAVAILABLE' } } });
});
