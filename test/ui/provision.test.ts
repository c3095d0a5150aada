/**
 * Provisioning from the web UI against a real control plane (`startControlPlane`, a real SQLite
 * file, serving dist/web) and two lab hosts with real sshd and the stand-in K3s
 * (test/lab/k3s/README.md), in Debian's Chromium: an operator gives the two hosts (recorded by hand
 * in discovery, as an operator would) the roles server and agent, is refused with the API's code
 * for a bad K3s version (the form keeps its input, no job starts), creates the cluster, follows the
 * `cluster.create` job's page live to `succeeded`, and sees the cluster's two nodes. Then on the
 * cluster's page: add-node of a member refused with its code, remove-node of the agent followed to
 * its end, and (an admin, after a second confirmation) reset. A viewer sees none of the controls.
 * axe on each new page, screenshots at 1280 and 375 px. One cluster in the file (60-120 s).
 */
import t from 'tap';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { k3sLabSkipReason, killStandInAtTeardown, standInBundle, STAND_IN_VERSION } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const skip = labSkipReason() ?? k3sLabSkipReason();
if (skip) {
  console.log(`# skipping the provisioning browser test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else await withBrowser(t, main);

async function main() {
  const lab = labUp(t, 2);
  const [s1, a1] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
  killStandInAtTeardown(t, lab);
  const dir = tempDir(t, 'pic-ui-provision-');
  chmodSync(dir, 0o755);
  const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': join(dir, 'data'), '/http/port': 0 } });
  const cp = await startControlPlane({
    config,
    version: 'test',
    logging: quietLogging(),
    out: () => undefined,
    provision: {
      transport: (host, port) => labSock(lab, host, port),
      retry: { attempts: 3, baseMs: 500, maxMs: 2_000 },
      roots: { [s1.address]: s1.root, [a1.address]: a1.root },
    },
  });
  t.teardown(() => cp.close());
  const admin = cp.adminToken!;
  const operator = cp.store.tokens.create('ui-operator', 'operator', 'test').token;
  const viewer = cp.store.tokens.create('ui-viewer', 'viewer', 'test').token;
  const bundle = standInBundle(dir);
  const browser = await launch(t);
  const wait = { timeout: scaled(20_000) };
  const long = { timeout: scaled(300_000) };

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(cp.url);
    await page.getByLabel('Token').fill(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor(wait);
  }
  /** Waits for a job's page to show a finished state; returns it. */
  async function finished(page: Page): Promise<string> {
    const state = page.getByTestId('job-state').filter({ hasText: /^(succeeded|failed|cancelled)$/ });
    await state.waitFor(long);
    return (await state.textContent()) ?? '';
  }
  const jobLog = async (page: Page) => (await page.locator('.log').textContent()) ?? '';

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = guard(page, [admin, operator, viewer]);
  await signIn(page, operator);

  t.test('create a cluster from discovered hosts and follow its job to success', async (t) => {
    for (const h of [s1, a1]) {
      const r = await fetch(`${cp.url}/api/v1/discovery`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${operator}` },
        body: JSON.stringify({ address: h.address, hostname: h.hostname, mac: h.mac, source: 'manual' }),
      });
      t.equal(r.status, 201, `${h.hostname} recorded`);
    }
    await page.getByRole('link', { name: 'Discovery' }).click();
    await page.getByRole('heading', { level: 1, name: 'Discovery' }).waitFor(wait);
    const server = page.getByLabel(`Role of ${s1.hostname}`);
    await server.waitFor(wait);
    // By keyboard: focus the role picker, choose with the arrow keys.
    await server.focus();
    await server.selectOption('server');
    await page.getByLabel(`Role of ${a1.hostname}`).selectOption('agent');
    await page.getByText(`1 server (${s1.hostname} starts the cluster), 1 agent picked`).waitFor(wait);
    await page.getByLabel('Cluster name').fill('lab');
    await page.getByLabel('SSH key file on the control plane').fill(lab.clientKey);
    await page.getByLabel('K3s version').fill('1.20');
    await page.getByText('Air-gapped install').click();
    await page.getByLabel('Install script').fill(bundle.installScript);
    await page.getByLabel('K3s binary').fill(bundle.binary);
    await page.getByLabel('Image archives').fill(bundle.images.join(', '));
    await page.getByRole('button', { name: 'Create cluster' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /^VALIDATION_FAILED: /, 'the API says why, with its code');
    t.equal(cp.store.jobs.list({}).total, 0, 'no job started');
    t.equal(await page.getByLabel('Cluster name').inputValue(), 'lab', 'the form keeps its input');
    t.equal(await page.getByLabel('Install script').inputValue(), bundle.installScript);
    t.equal(await page.getByLabel(`Role of ${s1.hostname}`).inputValue(), 'server');
    checkAxe(t, 'the discovery page with the provisioning form', await axe(page));
    await fitsWidth(t, page, 'the discovery page with the provisioning form');
    await screenshots(page, 'provision-form');

    await page.getByLabel('K3s version').fill(STAND_IN_VERSION);
    await page.getByLabel('K3s version').press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Job cluster.create' }).waitFor(wait);
    const loads = await page.evaluate('performance.getEntriesByType("navigation").length');
    // Lines arrive while the job runs (the page follows the event stream).
    await page.getByTestId('job-state').filter({ hasText: 'running' }).waitFor(long);
    await page.locator('.log li').first().waitFor(long);
    const state = await finished(page);
    if (state !== 'succeeded') t.comment(`the job's log ends: ${(await jobLog(page)).slice(-3000)}`);
    t.equal(state, 'succeeded', 'the job succeeded');
    t.match(await jobLog(page), /all 2 nodes Ready/, 'the log shows the ready check');
    t.equal(await page.evaluate('performance.getEntriesByType("navigation").length'), loads, 'followed without a reload');
    t.equal(cp.store.clusters.require('lab').state, 'ready');
    checkAxe(t, 'the cluster.create job page', await axe(page));
    await fitsWidth(t, page, 'the cluster.create job page');
    await screenshots(page, 'provision-job');
  });

  t.test("the cluster's page: its nodes; add-node refused with a code; remove-node followed", async (t) => {
    await page.getByRole('link', { name: 'Clusters' }).click();
    await page.getByRole('link', { name: 'lab', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Cluster lab' }).waitFor(wait);
    await page.getByRole('rowheader', { name: s1.address }).waitFor(wait);
    t.match(await page.getByRole('row', { name: new RegExp(s1.address.replace(/\./g, '\\.')) }).textContent(), /server/);
    t.match(await page.getByRole('row', { name: new RegExp(a1.address.replace(/\./g, '\\.')) }).textContent(), /agent/);
    t.match(await page.getByTestId('cluster-state').textContent(), /ready/);
    t.equal(await page.getByRole('button', { name: /^Reset/ }).count(), 0, 'an operator has no reset button (admins only)');
    t.equal(await page.getByRole('button', { name: `Remove ${s1.address}` }).count(), 0, 'the only server has no remove button');
    checkAxe(t, "the cluster's page", await axe(page));
    await fitsWidth(t, page, "the cluster's page");
    await screenshots(page, 'cluster-page');

    await page.getByLabel('Host (name or address)').fill(a1.address);
    await page.getByRole('button', { name: 'Add node' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /^ALREADY_A_MEMBER: /, 'refused with the API code');
    t.equal(await page.getByLabel('Host (name or address)').inputValue(), a1.address, 'the form keeps its input');
    const jobs = cp.store.jobs.list({}).total;
    t.equal(jobs, 1, 'no job started');

    await page.getByRole('button', { name: `Remove ${a1.address}` }).click();
    await page.getByRole('heading', { level: 1, name: 'Job cluster.remove-node' }).waitFor(wait);
    const removed = await finished(page);
    if (removed !== 'succeeded') t.comment(`the job's log ends: ${(await jobLog(page)).slice(-3000)}`);
    t.equal(removed, 'succeeded', 'remove-node succeeded');
    await page.goto(`${cp.url}/#/clusters/lab`);
    await page.getByRole('heading', { level: 2, name: 'Nodes (1)' }).waitFor(wait);
    t.equal(await page.getByRole('rowheader', { name: a1.address }).count(), 0, 'the agent is gone from the list');
  });

  t.test('a viewer sees no provisioning controls', async (t) => {
    const vp = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const vproblems = guard(vp, [viewer]);
    await signIn(vp, viewer);
    await vp.goto(`${cp.url}/#/clusters/lab`);
    await vp.getByRole('rowheader', { name: s1.address }).waitFor(wait);
    t.equal(
      await vp
        .getByRole('button')
        .filter({ hasText: /Remove|Reset|Add node/ })
        .count(),
      0,
      'no add, remove or reset',
    );
    t.equal(await vp.locator('main form').count(), 0, 'no form');
    await vp.goto(`${cp.url}/#/discovery`);
    await vp.getByRole('rowheader', { name: new RegExp(s1.hostname) }).waitFor(wait);
    t.equal(await vp.getByLabel(/^Role of/).count(), 0, 'no role pickers');
    t.equal(await vp.getByRole('button', { name: 'Create cluster' }).count(), 0, 'no provisioning form');
    t.same(vproblems, []);
    await vp.close();
  });

  t.test('an admin resets the cluster after a second confirmation', async (t) => {
    const ap = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const aproblems = guard(ap, [admin]);
    await signIn(ap, admin);
    await ap.goto(`${cp.url}/#/clusters/lab`);
    const before = cp.store.jobs.list({}).total;
    await ap.getByRole('button', { name: 'Reset lab' }).click();
    await ap.getByRole('button', { name: 'Yes, reset lab' }).waitFor(wait);
    t.equal(cp.store.jobs.list({}).total, before, 'nothing starts before the confirmation');
    checkAxe(t, "the cluster's page asking to confirm a reset", await axe(ap));
    await ap.getByRole('button', { name: 'Yes, reset lab' }).click();
    await ap.getByRole('heading', { level: 1, name: 'Job cluster.reset' }).waitFor(wait);
    const reset = await finished(ap);
    if (reset !== 'succeeded') t.comment(`the job's log ends: ${(await jobLog(ap)).slice(-3000)}`);
    t.equal(reset, 'succeeded', 'reset succeeded');
    t.equal(cp.store.clusters.require('lab').state, 'pending', 'the cluster is pending again');
    t.same(aproblems, []);
    await ap.close();
  });

  t.test('no CSP violation, no script error, no token in a URL', async (t) => {
    t.same(problems, []);
    await page.close();
  });
}
