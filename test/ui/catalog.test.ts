/**
 * The Catalog page in Debian's Chromium against the real `pi-controller serve --kubeconfig` on a
 * real kube-apiserver (one arm64 Node made by the test) with an operator's catalog folder whose
 * images are in a real local registry: the entries listed; an entry whose only image is amd64
 * refused with PLATFORM_UNSUPPORTED naming the image and its platform (nothing created); an entry
 * installed with emptyDir storage, its status (`progressing`: no kubelet runs its pods) with the
 * workloads, then removed after a confirmation, its objects gone from the API server. A viewer
 * sees the lists without install or remove buttons. axe, 375 px, screenshots at 1280 and 375 px.
 */
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { k8sUnavailable, startK8s } from '../support/k8s/cluster.js';
import { pushTestImage, registryMissing, startRegistry } from '../support/oci-registry.js';
import { startServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

const skip = k8sUnavailable() ?? registryMissing();
if (skip) {
  console.log(`# skipping the catalog browser test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else await withBrowser(t, main);

async function main() {
  const [k, reg] = await Promise.all([startK8s(t), startRegistry(t)]);
  await pushTestImage(reg, 'pic/both', 'v1', [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux' },
  ]);
  await pushTestImage(reg, 'pic/amd', 'v1', [{ architecture: 'amd64', os: 'linux' }]);
  const node = await k.api('POST', '/api/v1/nodes', {
    metadata: { name: 'pi5-1', labels: { 'kubernetes.io/arch': 'arm64', 'kubernetes.io/os': 'linux' } },
  });
  if (node.status !== 201) throw new Error(`creating the Node: ${node.status}`);
  const dir = tempDir(t);
  const entries = join(dir, 'entries');
  mkdirSync(entries);
  const entry = (name: string, image: string) =>
    [
      `name: ${name}`,
      'version: 1.0.0-1',
      `description: ${name} for the browser test`,
      'components:',
      `  - name: web`,
      `    image: ${image}`,
      `    ports: [{ name: http, port: 8080 }]`,
      `    resources: { requests: { cpu: 50m, memory: 32Mi }, limits: { memory: 64Mi } }`,
      `    storage: { mountPath: /data, size: 1Gi }`,
      `notes: ${name} is up`,
      '',
    ].join('\n');
  writeFileSync(join(entries, 'demo.yaml'), entry('demo', `${reg.host}/pic/both:v1`));
  writeFileSync(join(entries, 'amdonly.yaml'), entry('amdonly', `${reg.host}/pic/amd:v1`));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `catalog:\n  dir: ${entries}\n`);
  const data = join(dir, 'data');
  const serve = await startServe(data, {
    args: ['--port', '0', '--host', '127.0.0.1', '--agent-port', '0', '--kubeconfig', k.kubeconfig, '-c', config],
    timeoutMs: 120_000,
    stderr: 'collect',
  });
  t.teardown(() => {
    serve.child.kill('SIGTERM');
  });
  const admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const viewerRes = await fetch(`${serve.url}/api/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ name: 'ui-viewer', role: 'viewer' }),
  });
  const viewer = ((await viewerRes.json()) as { token: string }).token;
  const browser = await launch(t);
  const wait = { timeout: scaled(30_000) };

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(serve.url);
    await page.getByLabel('Token').fill(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor(wait);
    await page.getByRole('link', { name: 'Catalog' }).click();
    await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor(wait);
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = guard(page, [admin, viewer]);
  await signIn(page, admin);

  t.test('entries listed; an image no node can run is refused with the image and its platform', async (t) => {
    await page.getByRole('rowheader', { name: /amdonly/ }).waitFor(wait);
    t.ok(await page.getByRole('rowheader', { name: /^demo/ }).count(), 'demo is listed');
    t.ok(await page.getByRole('rowheader', { name: /prometheus-grafana/ }).count(), 'the shipped entries are listed');
    await page.getByText('Nothing installed.').waitFor(wait);
    await page.getByRole('button', { name: 'Install amdonly' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'PLATFORM_UNSUPPORTED' });
    await alert.waitFor(wait);
    const text = (await alert.textContent()) ?? '';
    t.match(text, /^PLATFORM_UNSUPPORTED: /, 'the code');
    t.match(text, `image ${reg.host}/pic/amd:v1`, 'the image');
    t.match(text, /built for linux\/amd64/, 'its platform');
    t.match(text, /nodes: linux\/arm64/, "the nodes' platform");
    t.equal((await k.api('GET', '/api/v1/namespaces/pic-amdonly')).status, 404, 'nothing was created');
    checkAxe(t, 'the catalog page with a refusal', await axe(page));
    await fitsWidth(t, page, 'the catalog page');
    await screenshots(page, 'catalog-refused');
  });

  t.test('install with a storage choice, status, remove after a confirmation', async (t) => {
    await page.getByLabel('Storage for demo').selectOption('emptyDir');
    await page.getByRole('button', { name: 'Install demo' }).click();
    await page.getByRole('status').filter({ hasText: 'Installed demo 1.0.0-1 on default in namespace pic-demo. demo is up' }).waitFor(wait);
    const row = page.getByRole('row', { name: /demo.*progressing/ });
    await row.waitFor(wait);
    t.match(await row.textContent(), /emptyDir/, 'the storage chosen');
    t.match(await row.textContent(), /web 0\/1/, 'the workload, not ready (no kubelet)');
    const dep = await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/web');
    t.equal(dep.status, 200, 'the Deployment is in the API server');
    checkAxe(t, 'the catalog page with an install', await axe(page));
    await screenshots(page, 'catalog-installed');
    await page.getByRole('button', { name: 'Remove demo' }).click();
    t.equal(
      (await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/web')).status,
      200,
      'nothing removed before the confirmation',
    );
    await page.getByRole('button', { name: 'Yes, remove demo' }).click();
    await page.getByRole('status').filter({ hasText: 'Removed demo from default' }).waitFor(wait);
    t.equal((await k.api('GET', '/apis/apps/v1/namespaces/pic-demo/deployments/web')).status, 404, 'the Deployment is gone');
    await page.getByText('Nothing installed.').waitFor(wait);
  });

  t.test('a viewer: the lists, no install or remove', async (t) => {
    const vp = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const vproblems = guard(vp, [viewer]);
    await signIn(vp, viewer);
    await vp.getByRole('rowheader', { name: /amdonly/ }).waitFor(wait);
    t.equal(await vp.getByRole('button', { name: /Install|Remove/ }).count(), 0, 'no install or remove button');
    t.same(vproblems, []);
    await vp.close();
  });

  t.test('no CSP violation, no script error, no token in a URL', async (t) => {
    t.same(problems, []);
    await page.close();
  });
}
