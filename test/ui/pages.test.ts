/**
 * The web UI's pages for clusters, jobs, tokens and backups in a real browser (Debian's Chromium,
 * headless, driven by playwright-core) against the real app (createApp on a temporary SQLite file,
 * serving dist/web, with the event stream and a backup manager). Each page by keyboard, at 375 px
 * (no sideways scroll), axe-core with no serious or critical violation, screenshots at 1280 and
 * 375 px. The dashboard's health sparklines. A job's log follows the event stream: lines the job writes appear without a reload.
 * A cluster's upgrade form shows a refusal's code and fields and keeps its input; a host's journal
 * page shows the API's code (PROVISION_UNAVAILABLE here); a backup with an etcd
 * snapshot is refused by code when provisioning does not run, leaving no backup.
 * A viewer sees no control that would fail, and no admin page, upgrade form or journal.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Job } from '../../src/api/jobs.js';
import { BackupManager } from '../../src/backup/index.js';
import { silentLogger } from '../../src/log/index.js';
import { health } from '../support/health.js';
import { repoRoot } from '../support/paths.js';
import { startServer } from '../support/server.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

await withBrowser(t, main);

async function main() {
  const srv = await startServer(t, (store, dir) => ({
    webRoot: join(repoRoot(), 'dist/web'),
    backups: new BackupManager({ store, dataDir: dir, keep: 5, log: silentLogger() }),
  }));
  const browser = await launch(t);
  const wait = { timeout: scaled(20_000) };

  /** Signs in by keyboard: Tab to the token field, type, Enter; waits for the dashboard. */
  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(srv.url);
    for (let i = 0; i < 6 && (await page.evaluate('document.activeElement && document.activeElement.id')) !== 'token'; i++)
      await page.keyboard.press('Tab');
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor(wait);
  }

  /** Moves focus with Tab until `name` (an accessible name) has it; fails after 40 presses. */
  async function tabTo(page: Page, selector: string): Promise<boolean> {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(`document.activeElement === document.querySelector(${JSON.stringify(selector)})`)) return true;
    }
    return false;
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = guard(page, [srv.admin, srv.operator, srv.viewer]);
  await signIn(page, srv.admin);

  t.test("the dashboard draws each Pi's health history: temperature line, under-voltage marks", async (t) => {
    const node = srv.store.nodes.create({ name: 'pi-health' }, 'ready');
    const end = Date.now();
    for (let i = 0; i < 10; i++) srv.store.health.record(node.id, health(45 + i, { underVoltage: i === 6 }), end - (9 - i) * 30_000);
    // Signing in showed the dashboard before the samples existed: load it again (the tab keeps the token).
    await page.reload();
    const spark = page.getByTestId('sparkline');
    await spark.waitFor(wait);
    t.match(
      await spark.getAttribute('aria-label'),
      /45\.0 to 54\.0 °C; under-voltage or throttled in 1 of them/,
      'the picture says what it shows',
    );
    t.equal(await spark.locator('.badmark').count(), 1, 'one red mark');
    t.match(await page.getByRole('row', { name: /pi-health/ }).textContent(), /under-voltage in 1 of the last 10 samples/);
    checkAxe(t, 'the dashboard with health history', await axe(page));
    await fitsWidth(t, page, 'the dashboard');
    await screenshots(page, 'dashboard-health');
  });

  t.test('clusters: declared from the form by keyboard; a refused version is shown and changes nothing', async (t) => {
    await page.getByRole('link', { name: 'Clusters' }).click();
    await page.getByRole('heading', { level: 1, name: 'Clusters' }).waitFor(wait);
    t.ok(await tabTo(page, 'form input'), 'the name field is reached with Tab');
    await page.keyboard.type('edge');
    await page.keyboard.press('Tab');
    await page.keyboard.type('1.30');
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /VALIDATION/, 'the API says why (its code)');
    t.match(await alert.textContent(), /\/body\/k3sVersion/, 'and which field');
    t.equal(srv.store.clusters.count(), 0, 'nothing was created');
    await page.getByLabel('K3s version').fill('v1.30.4+k3s1');
    await page.getByLabel('Highly available').check();
    await page.getByLabel('K3s version').press('Enter');
    await page.getByRole('status').filter({ hasText: 'Cluster edge declared' }).waitFor(wait);
    await page.getByRole('rowheader', { name: /edge/ }).waitFor(wait);
    const c = srv.store.clusters.require('edge');
    t.match(c, { name: 'edge', k3sVersion: 'v1.30.4+k3s1', ha: true });
    checkAxe(t, 'the clusters page', await axe(page));
    await fitsWidth(t, page, 'the clusters page');
    await screenshots(page, 'clusters');
  });

  t.test("jobs: the list, and a job's log following the event stream", async (t) => {
    const job = (await srv.req('POST', '/api/v1/jobs', { token: srv.operator, body: { kind: 'node.prepare', params: { host: 'pi-1' } } }))
      .body as Job;
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor(wait);
    const link = page.getByRole('link', { name: 'node.prepare' });
    await link.waitFor(wait);
    checkAxe(t, 'the jobs page', await axe(page));
    await fitsWidth(t, page, 'the jobs page');
    await screenshots(page, 'jobs');
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Job node.prepare' }).waitFor(wait);
    t.equal(await page.getByTestId('job-state').textContent(), 'queued');
    const loads = await page.evaluate('performance.getEntriesByType("navigation").length');
    // What the job runner does as a job runs: store the state and the lines, announce them on the bus.
    const bus = srv.app.bus;
    bus.emit('job.updated', srv.store.jobs.setState(job.id, 'running'));
    for (const [stream, text] of [
      ['info', 'step apt-update: running'],
      ['stdout', 'Hit:1 http://deb.debian.org/debian bookworm InRelease'],
      ['stderr', 'W: an example warning'],
    ] as const)
      bus.emit('job.log', { jobId: job.id, line: srv.store.jobs.appendLog(job.id, stream, text) });
    await page.getByText('W: an example warning').waitFor(wait);
    t.equal(await page.getByTestId('job-state').textContent(), 'running', 'the state followed job.updated');
    t.equal(await page.locator('.log li').count(), 3, 'three lines, in order, once each');
    t.match(await page.locator('.log li').first().textContent(), /step apt-update/);
    t.equal(await page.evaluate('performance.getEntriesByType("navigation").length'), loads, 'without a reload');
    checkAxe(t, "a job's page with its log", await axe(page));
    await fitsWidth(t, page, "a job's page");
    await screenshots(page, 'job-log');
    // An operator's cancel from the page.
    await page.getByRole('button', { name: 'Cancel this job' }).click();
    await page.getByTestId('job-state').filter({ hasText: 'cancelled' }).waitFor(wait);
    t.equal(srv.store.jobs.require(job.id).state, 'cancelled');
  });

  t.test('tokens: created with the secret shown once, and revoked after a confirmation', async (t) => {
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tokens' }).waitFor(wait);
    // Focused in the commit that drew the page, so a key pressed now cannot be taken away later.
    t.equal(
      await page.evaluate('document.activeElement && document.activeElement.tagName'),
      'H1',
      'the new page has its heading focused as it shows',
    );
    t.ok(await tabTo(page, 'form input'), 'the name field is reached with Tab');
    await page.keyboard.type('kiosk');
    await page.keyboard.press('Enter');
    const secret = page.getByTestId('token-secret');
    await secret.waitFor(wait);
    const token = await secret.inputValue();
    t.match(token, /^pct_/, 'the secret is shown');
    const who = await srv.req('GET', '/api/v1/whoami', { token });
    t.match(who.body, { name: 'kiosk', role: 'viewer' }, 'and it is a working viewer token');
    checkAxe(t, 'the tokens page with a new secret', await axe(page));
    await fitsWidth(t, page, 'the tokens page');
    await screenshots(page, 'tokens');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    t.equal(await secret.count(), 0, 'the secret is gone from the page');
    await page.getByRole('button', { name: 'Revoke kiosk' }).click();
    t.equal((await srv.req('GET', '/api/v1/whoami', { token })).status, 200, 'nothing is revoked before the confirmation');
    await page.getByRole('button', { name: 'Yes, revoke kiosk' }).click();
    await page.getByRole('status').filter({ hasText: 'Token kiosk revoked' }).waitFor(wait);
    t.equal((await srv.req('GET', '/api/v1/whoami', { token })).status, 401, 'the token is refused now');
  });

  t.test('backups: one taken from the page is listed', async (t) => {
    await page.getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('heading', { level: 1, name: 'Backups' }).waitFor(wait);
    t.ok(await tabTo(page, 'form input'), 'the label field is reached with Tab');
    await page.keyboard.type('before-upgrade');
    await page.keyboard.press('Enter');
    // The form's outcome: the status line, or the alert that says why it failed (shown in the
    // assertion, so a failure says what the page said).
    const outcome = page.locator('p.said, p.error[role=alert]').filter({ hasText: /\S/ }).first();
    await outcome.waitFor(wait).catch(async (err: unknown) => {
      t.comment(`the page said: ${(await page.locator('main').textContent())?.slice(0, 2000)}`);
      throw err;
    });
    t.match(await outcome.textContent(), /Backup .*before-upgrade.* written/, 'the page says the backup was written');
    await page.getByRole('rowheader', { name: /before-upgrade/ }).waitFor(wait);
    const listed = (await srv.req('GET', '/api/v1/backups')).body as { items: { file: string }[] };
    t.ok(
      listed.items.some((b) => b.file.includes('before-upgrade')),
      'the API lists it',
    );
    checkAxe(t, 'the backups page', await axe(page));
    await fitsWidth(t, page, 'the backups page');
    await screenshots(page, 'backups');
  });

  t.test('backups: an etcd snapshot of a cluster is offered; refused here with its code, no backup left', async (t) => {
    // This control plane runs without provisioning (no SSH to any cluster): the API says so.
    const before = ((await srv.req('GET', '/api/v1/backups')).body as { items: unknown[] }).items.length;
    const choice = page.getByLabel('With an etcd snapshot of cluster');
    await choice.locator('option', { hasText: 'edge' }).waitFor({ state: 'attached', ...wait });
    await choice.selectOption('edge');
    await page.getByRole('button', { name: 'Create backup' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /^UNAVAILABLE: etcd snapshots need provisioning/, 'the code and the message');
    t.equal(await choice.inputValue(), 'edge', 'the choice is kept');
    const after = ((await srv.req('GET', '/api/v1/backups')).body as { items: unknown[] }).items.length;
    t.equal(after, before, 'no backup left behind');
    await choice.selectOption('');
  });

  t.test(
    "a cluster's page: the upgrade form shows a refusal's code and fields and keeps its input; a journal error by its code",
    async (t) => {
      await page.goto(`${srv.url}/#/clusters/edge`);
      await page.getByRole('heading', { level: 1, name: 'Cluster edge' }).waitFor(wait);
      const version = page.getByLabel('K3s version');
      await version.waitFor(wait);
      await version.fill('v1.30.5+k3s1');
      await page.getByText('Air-gapped install').click();
      // An air-gap set without its binary: the API names the field.
      await page.getByLabel('Install script').fill('/srv/k3s/install.sh');
      const jobs = srv.store.jobs.list({}).total;
      await version.press('Enter');
      const alert = page.locator('form[aria-labelledby=upgrade-h] [role=alert]');
      await alert.waitFor(wait);
      t.match(await alert.textContent(), /^VALIDATION_FAILED: .*\/body\/airgap\/binary/, 'the code, the message and the field');
      t.equal(await version.inputValue(), 'v1.30.5+k3s1', 'the version is kept');
      t.equal(await page.getByLabel('Install script').inputValue(), '/srv/k3s/install.sh', 'and the air-gap file');
      t.equal(srv.store.jobs.list({}).total, jobs, 'no job started');
      t.match(page.url(), /#\/clusters\/edge$/, 'the page stays');
      checkAxe(t, "a cluster's page with a refused upgrade", await axe(page));
      await fitsWidth(t, page, "a cluster's page with the upgrade form");
      await screenshots(page, 'cluster-upgrade-refused');

      // By address (a provisioned cluster's hosts link here): without provisioning the API says so by code.
      await page.goto(`${srv.url}/#/clusters/edge/hosts/pi-1/journal`);
      await page.getByRole('heading', { level: 1, name: 'Journal of pi-1' }).waitFor(wait);
      const jalert = page.getByRole('alert');
      await jalert.waitFor(wait);
      t.match(await jalert.textContent(), /^PROVISION_UNAVAILABLE: /, 'the code');
      t.equal(await page.getByLabel('Unit').inputValue(), 'k3s', 'the unit is k3s unless changed');
      t.equal(await page.getByLabel('Lines').inputValue(), '200');
      checkAxe(t, 'a journal page with an error', await axe(page));
      await fitsWidth(t, page, 'a journal page');
      await screenshots(page, 'journal-error');
    },
  );

  t.test('a viewer: no admin pages, no cluster form, no cancel button', async (t) => {
    const vp = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const vproblems = guard(vp, [srv.viewer]);
    await signIn(vp, srv.viewer);
    t.equal(await vp.getByRole('link', { name: /Tokens|Backups/ }).count(), 0, 'no Tokens or Backups in the navigation');
    await vp.getByRole('link', { name: 'Clusters' }).click();
    await vp.getByRole('rowheader', { name: /edge/ }).waitFor(wait);
    t.equal(await vp.locator('form').count(), 0, 'no cluster form');
    await vp.getByRole('link', { name: 'edge', exact: true }).click();
    await vp.getByRole('heading', { level: 1, name: 'Cluster edge' }).waitFor(wait);
    await vp.getByTestId('cluster-state').waitFor(wait);
    t.equal(await vp.locator('form').count(), 0, 'no upgrade or add-node form on a cluster page');
    t.equal(await vp.getByRole('heading', { name: 'Upgrade K3s' }).count(), 0, 'no upgrade');
    await vp.goto(`${srv.url}/#/clusters/edge/hosts/pi-1/journal`);
    await vp.getByText("A host's journal needs an operator or admin token").waitFor(wait);
    t.equal(await vp.getByLabel('Unit').count(), 0, 'no journal form for a viewer');
    const job = (await srv.req('POST', '/api/v1/jobs', { token: srv.operator, body: { kind: 'node.prepare' } })).body as Job;
    await vp.goto(`${srv.url}/#/jobs/${job.id}`);
    await vp.getByTestId('job-state').waitFor(wait);
    t.equal(await vp.getByRole('button', { name: /Cancel/ }).count(), 0, 'no cancel button');
    await vp.goto(`${srv.url}/#/tokens`);
    await vp.getByRole('heading', { level: 1, name: 'Admins only' }).waitFor(wait);
    checkAxe(t, "a viewer's admin-only page", await axe(vp));
    t.same(vproblems, []);
    await vp.close();
  });

  t.test('no CSP violation, no script error, no token in a URL', async (t) => {
    t.same(problems, []);
    await page.close();
  });
}
