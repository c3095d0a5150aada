/**
 * A cluster's page offers Remove for each agent and, while another server stays, for each server
 * (the job takes the server's etcd member out first); never for the only server (reset is the way).
 * Against the real app with provisioning whose runner stores jobs without running them (no host
 * exists here: the removal itself runs in test/lab/k3s-lifecycle.test.ts): the hosts are what a
 * succeeded `cluster.create` job left, and confirming a server's removal starts a
 * `cluster.remove-node` job for that server. The add-node form's agent unit (image directory,
 * simulated hardware): a directory with no image is refused by code beside the form with no job,
 * an image layout starts the job with both. A route change made as the first page is drawn after
 * sign-in is followed (its hashchange came before a listener added after the paint, and was lost).
 * Real Chromium through playwright-core.
 */
import t from 'tap';
import { join } from 'node:path';
import { CLUSTER_CREATE_KIND } from '../../src/provision/k3s.js';
import { CLUSTER_ADD_NODE_KIND, CLUSTER_REMOVE_NODE_KIND } from '../../src/provision/k3s-lifecycle.js';
import { openSecretBox } from '../../src/certs/index.js';
import { fakeLayout } from '../support/image.js';
import { finished, login, storedJobsOnly, unusedEnrolment } from '../support/finished-jobs.js';
import { repoRoot } from '../support/paths.js';
import { startServer } from '../support/server.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

await withBrowser(t, async () => {
  // Jobs are stored, not run: the agent endpoint is never asked for a token here, only said to exist.
  const stored = storedJobsOnly({ enrolment: unusedEnrolment });
  const srv = await startServer(t, (store, dir) => ({ ...stored(store, dir), webRoot: join(repoRoot(), 'dist/web') }));
  const browser = await launch(t);
  const wait = { timeout: scaled(20_000) };
  const ha = srv.store.clusters.create({ name: 'ha' });
  finished(srv.store, CLUSTER_CREATE_KIND, { clusterId: ha.id, servers: [login('s1'), login('s2')], agents: [login('a1')] });
  const one = srv.store.clusters.create({ name: 'solo' });
  finished(srv.store, CLUSTER_CREATE_KIND, { clusterId: one.id, servers: [login('t1')], agents: [login('b1')] });

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = guard(page, [srv.admin, srv.operator, srv.viewer]);
  await page.goto(srv.url);
  await page.getByLabel('Token').fill(srv.admin);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor(wait);

  t.test('two servers: Remove for each server and the agent', async (t) => {
    await page.goto(`${srv.url}/#/clusters/ha`);
    await page.getByRole('heading', { level: 2, name: 'Nodes (3)' }).waitFor(wait);
    for (const h of ['s1', 's2', 'a1'])
      t.equal(await page.getByRole('button', { name: `Remove ${h}`, exact: true }).count(), 1, `Remove ${h}`);
    const jobs = srv.store.jobs.list({}).total;
    await page.getByRole('button', { name: 'Remove s1', exact: true }).focus();
    await page.keyboard.press('Enter');
    const yes = page.getByRole('button', { name: 'Yes, remove s1' });
    await yes.waitFor(wait);
    t.equal(
      await page.evaluate('document.activeElement && document.activeElement.textContent'),
      'Yes, remove s1',
      'the confirmation has the focus',
    );
    t.equal(srv.store.jobs.list({}).total, jobs, 'nothing starts before the confirmation');
    checkAxe(t, "the page asking to confirm a server's removal", await axe(page));
    await fitsWidth(t, page, "the page asking to confirm a server's removal");
    await screenshots(page, 'cluster-remove-server-confirm');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Job cluster.remove-node' }).waitFor(wait);
    const job = srv.store.jobs.list({ kind: CLUSTER_REMOVE_NODE_KIND }).items[0];
    t.match(
      job?.params,
      { clusterId: ha.id, host: { host: 's1' }, role: 'server', via: { host: 's2' } },
      "the server's removal, through the server that stays",
    );
  });

  t.test('one server: Remove for the agent only', async (t) => {
    await page.goto(`${srv.url}/#/clusters/solo`);
    await page.getByRole('heading', { level: 2, name: 'Nodes (2)' }).waitFor(wait);
    await page.getByRole('button', { name: 'Remove b1', exact: true }).waitFor(wait);
    t.equal(await page.getByRole('button', { name: 'Remove t1', exact: true }).count(), 0, 'no Remove for the only server');
  });

  t.test('add a node with our agent as a systemd unit: the form sends the image directory and the simulation choice', async (t) => {
    const image = join(srv.dir, 'agent-image');
    fakeLayout(image, [{ architecture: 'arm64' }]);
    srv.store.clusters.setJoinToken(one.id, openSecretBox(join(srv.dir, 'secrets')).seal(Buffer.from('K10abc::server:secret')));
    const form = page.locator('form[aria-labelledby=add-h]');
    await form.getByLabel('Host (name or address)').fill('b2');
    await form.getByText('pi-controller agent as a systemd unit (optional)').click();
    // A directory without an image: the API's code, and the input kept.
    await form.getByLabel('Agent image directory (on the control plane)').fill(join(srv.dir, 'nothing'));
    await form.getByLabel('Simulated hardware', { exact: false }).check();
    const jobs = srv.store.jobs.list({}).total;
    await form.getByRole('button', { name: 'Add node' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /^INVALID_ARGUMENT: .*is not an agent image layout/, 'the code and the reason, beside the form');
    t.equal(srv.store.jobs.list({}).total, jobs, 'no job started');
    checkAxe(t, 'the add-node form with the agent unit open and a refusal', await axe(page));
    await fitsWidth(t, page, 'the add-node form with the agent unit');
    await screenshots(page, 'cluster-add-node-agent-unit');
    await form.getByLabel('Agent image directory (on the control plane)').fill(image);
    await form.getByRole('button', { name: 'Add node' }).click();
    await page.getByRole('heading', { level: 1, name: 'Job cluster.add-node' }).waitFor(wait);
    const job = srv.store.jobs.list({ kind: CLUSTER_ADD_NODE_KIND }).items[0];
    t.match(
      job?.params,
      { clusterId: one.id, host: { host: 'b2' }, role: 'agent', agentUnit: { image, sim: true } },
      'the job installs the unit',
    );
  });

  t.test('a route change made as the first page shows after sign-in is not lost', async (t) => {
    const early = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // The moment the Dashboard heading enters the document (a mutation observer's callback runs before
    // the browser paints), the page goes to the clusters: as a link followed at once would.
    await early.addInitScript(
      `new MutationObserver((_, mo) => {
        const h = document.querySelector('h1');
        if (!h || h.textContent !== 'Dashboard') return;
        mo.disconnect();
        location.hash = '#/clusters/ha';
      }).observe(document, { subtree: true, childList: true, characterData: true });`,
    );
    await early.goto(srv.url);
    await early.getByLabel('Token').fill(srv.admin);
    await early.keyboard.press('Enter');
    await early.getByRole('heading', { level: 1, name: 'Cluster ha' }).waitFor(wait);
    t.pass('the cluster page, not the Dashboard');
    await early.getByRole('button', { name: 'Reset ha' }).waitFor(wait);
    t.pass("with an admin's Reset on it");
    await early.close();
  });

  t.test('no CSP violation or script error', async (t) => {
    t.same(problems, []);
  });
});
