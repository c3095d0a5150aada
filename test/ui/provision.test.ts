/**
 * Provisioning from the web UI against a real control plane (`startControlPlane`, a real SQLite
 * file, serving dist/web) and two lab hosts with real sshd and the stand-in K3s
 * (test/lab/k3s/README.md), in Debian's Chromium: an operator gives the two hosts (recorded by hand
 * in discovery, as an operator would) the roles server and agent, is refused with the API's code
 * for a bad K3s version (the form keeps its input, no job starts), creates the cluster, follows the
 * `cluster.create` job's page live to `succeeded`, and sees the cluster's two nodes. Then on the
 * cluster's page: add-node of a member refused with its code, an upgrade to a version that is no
 * K3s release refused (INVALID_VERSION, input kept, no job), remove-node of the agent after a
 * second, explicit click (by keyboard; cancelled once) followed to its end. The server's K3s
 * journal page shows lines the stand-in's service printed (the lab's `journalctl` is the
 * stand-in's shim over its service's output file; the SSH session, sudo and the lines are real),
 * follows it while an admin takes a backup with an etcd snapshot from the backups page (etcd's own
 * "sending database snapshot" line arrives live; the snapshot is listed with the backup), and
 * Stop, or leaving the page, ends the `tail -F` on the host. An upgrade of the remaining server to
 * the stand-in's +k3s2 build followed to `succeeded`; (an admin, after a second confirmation)
 * reset. A viewer sees none of the controls and no journal link.
 * axe on each new page, screenshots at 1280 and 375 px. One cluster in the file.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Page } from 'playwright-core';
import type { BackupInfo } from '../../src/api/system.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { k3sLabSkipReason, killStandInAtTeardown, standInBundle, STAND_IN_VERSION } from '../support/k3s-lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

/** The stand-in's next build: what the upgrade installs. */
const UPGRADE_TO = STAND_IN_VERSION.replace(/\+k3s\d+$/, '+k3s2');
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
  /** Waits (bounded) until `ok()`; fails with `what`. */
  async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
    const end = Date.now() + scaled(ms);
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  /** The journal shim's `tail -F` of the server's service output, while a follow runs on the host. */
  const tails = () =>
    execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('tail ') && l.includes(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`));
  const serviceLog = () => readFileSync(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`, 'utf8');
  const escaped = (x: string) => x.replace(/[.+]/g, (c) => `\\${c}`);

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

  t.test("the server's K3s journal: real lines; followed while a backup takes an etcd snapshot; stopped", async (t) => {
    const ap = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const aproblems = guard(ap, [admin]);
    await signIn(ap, admin);
    await page.goto(`${cp.url}/#/clusters/lab`);
    await page.getByRole('link', { name: `Journal of ${s1.address}` }).click();
    await page.getByRole('heading', { level: 1, name: `Journal of ${s1.address}` }).waitFor(wait);
    const journal = page.getByTestId('journal');
    const items = journal.locator('li');
    await items.first().waitFor(wait);
    const shown = await items.allTextContents();
    t.ok(shown.length > 0 && shown.length <= 200, `the last lines (${shown.length}, at most 200)`);
    const log = serviceLog();
    const real = shown.filter((l) => {
      const m = new RegExp(`^(\\S+) ${escaped(s1.hostname)} k3s\\[\\d+\\]: (.*)$`).exec(l);
      return m !== null && log.includes(`${m[1]} ${m[2]}`);
    });
    t.ok(real.length > 0, `lines the stand-in's service printed, in journalctl's short-iso form: ${real[0]?.slice(0, 200)}`);
    checkAxe(t, 'the journal page', await axe(page));
    await fitsWidth(t, page, 'the journal page');
    await screenshots(page, 'journal');

    // Follow from now on (no old lines), while an admin takes a backup with an etcd snapshot.
    await page.getByLabel('Lines').fill('0');
    await page.getByRole('button', { name: 'Follow' }).click();
    await page.getByRole('status').filter({ hasText: 'Following' }).waitFor(wait);
    await until('the follow runs on the host', 60_000, () => tails().length > 0);
    await ap.goto(`${cp.url}/#/backups`);
    await ap.getByRole('heading', { level: 1, name: 'Backups' }).waitFor(wait);
    const choice = ap.getByLabel('With an etcd snapshot of cluster');
    await choice.locator('option', { hasText: 'lab' }).waitFor({ state: 'attached', ...wait });
    await choice.selectOption('lab');
    await ap.getByLabel('Label').fill('with-etcd');
    await ap.getByRole('button', { name: 'Create backup' }).click();
    const outcome = ap.locator('p.said, p.error[role=alert]').filter({ hasText: /\S/ }).first();
    await outcome.waitFor(long);
    t.match(
      await outcome.textContent(),
      /^Backup pi-controller-.*-with-etcd\.sqlite written .* with an etcd snapshot of lab/,
      'the page says so',
    );
    const listed = (
      (await (await fetch(`${cp.url}/api/v1/backups`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { items: BackupInfo[] }
    ).items.find((b) => b.file.includes('with-etcd'));
    const snap = listed?.etcdSnapshots?.[0];
    t.match(snap, { cluster: 'lab', server: s1.address }, 'the API lists the snapshot with the backup');
    const row = ap.getByRole('row', { name: /with-etcd/ });
    await row.waitFor(wait);
    t.match(
      await row.textContent(),
      new RegExp(`lab: .*sha256 ${snap?.sha256.slice(0, 12) ?? 'none'}, from ${escaped(s1.address)}`),
      'the page lists it: cluster, size, sha256, server',
    );
    checkAxe(t, 'the backups page with an etcd snapshot', await axe(ap));
    await fitsWidth(t, ap, 'the backups page with an etcd snapshot');
    await screenshots(ap, 'backups-etcd');
    t.same(aproblems, []);
    await ap.close();

    // etcd logs each snapshot it sends; the stand-in puts etcd's output in its service's journal, as K3s does.
    await items.filter({ hasText: 'sending database snapshot to client' }).first().waitFor(long);
    t.pass('a line logged after the follow started arrived without a reload');
    // A hostile line in the service's output (written by the test where the service writes): shown as text, never as markup.
    const hostile = `<img src=x alt=injected> \u001b[31mred\u001b[0m \u0007`;
    appendFileSync(`${s1.root}var/lib/rancher/k3s/lab/k3s.log`, `${new Date().toISOString().replace(/\.\d+Z$/, '+0000')} ${hostile}\n`);
    const shownHostile = items.filter({ hasText: '<img src=x alt=injected>' });
    await shownHostile.first().waitFor(wait);
    t.match(
      await shownHostile.first().textContent(),
      /<img src=x alt=injected> \\x1b\[31mred\\x1b\[0m \\x07$/,
      'markup as text, control characters as \\xNN',
    );
    t.equal(await journal.locator('img').count(), 0, 'no element made of it');
    await screenshots(page, 'journal-follow');
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByRole('button', { name: 'Follow' }).waitFor(wait);
    await until('Stop ends the tail -F on the host', 30_000, () => tails().length === 0);
    t.pass('Stop ended the follow on the host');
    // Leaving the page while following ends it too.
    await page.getByRole('button', { name: 'Follow' }).click();
    await until('the second follow runs on the host', 60_000, () => tails().length > 0);
    await page.getByRole('link', { name: 'lab', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Cluster lab' }).waitFor(wait);
    await until('leaving the page ends the tail -F on the host', 30_000, () => tails().length === 0);
    t.pass('leaving the page ended the follow on the host');
  });

  t.test("the cluster's page: its nodes; add-node and an upgrade refused with a code; remove-node after a confirmation", async (t) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clusters' }).click();
    await page.getByRole('link', { name: 'lab', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Cluster lab' }).waitFor(wait);
    await page.getByRole('rowheader', { name: s1.address }).waitFor(wait);
    t.match(await page.getByRole('row', { name: new RegExp(s1.address.replace(/\./g, '\\.')) }).textContent(), /server/);
    t.match(await page.getByRole('row', { name: new RegExp(a1.address.replace(/\./g, '\\.')) }).textContent(), /agent/);
    t.match(await page.getByTestId('cluster-state').textContent(), /ready/);
    t.equal(await page.getByRole('button', { name: /^Reset/ }).count(), 0, 'an operator has no reset button (admins only)');
    t.equal(await page.getByRole('button', { name: `Remove ${s1.address}` }).count(), 0, 'the only server has no remove button');
    for (const h of [s1, a1])
      t.equal(await page.getByRole('link', { name: `Journal of ${h.address}` }).count(), 1, `${h.address} links to its journal`);
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

    // An upgrade to a version that is no K3s release: the API's code, the input kept, no job.
    const version = page.getByLabel('K3s version');
    await version.fill('v1.20.2');
    await version.press('Enter');
    const refused = page.locator('form[aria-labelledby=upgrade-h] [role=alert]');
    await refused.waitFor(wait);
    t.match(await refused.textContent(), /^INVALID_VERSION: "v1\.20\.2" is not a K3s release/, 'refused with its code and message');
    t.equal(await version.inputValue(), 'v1.20.2', 'the version is kept');
    t.equal(cp.store.jobs.list({}).total, jobs, 'no job started');
    checkAxe(t, "the cluster's page with a refused upgrade", await axe(page));

    // Remove-node by keyboard, with a second, explicit choice: cancelled once, then confirmed.
    const remove = page.getByRole('button', { name: `Remove ${a1.address}` });
    // Focus moves after the render (an effect): wait for it, bounded.
    const focused = async (text: string) => {
      const now = 'document.activeElement && document.activeElement.textContent';
      await page.waitForFunction(`${now} === ${JSON.stringify(text)}`, undefined, wait).catch(() => undefined);
      return page.evaluate(now);
    };
    await remove.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: `Yes, remove ${a1.address}` }).waitFor(wait);
    t.equal(await focused(`Yes, remove ${a1.address}`), `Yes, remove ${a1.address}`, 'the confirmation has the focus');
    t.equal(cp.store.jobs.list({}).total, jobs, 'nothing starts before the confirmation');
    checkAxe(t, "the cluster's page asking to confirm a removal", await axe(page));
    await screenshots(page, 'cluster-remove-confirm');
    await page.keyboard.press('Tab');
    t.equal(await focused(`Keep ${a1.address}`), `Keep ${a1.address}`);
    await page.keyboard.press('Enter');
    await remove.waitFor(wait);
    t.equal(await focused(`Remove ${a1.address}`), `Remove ${a1.address}`, 'cancelled: the focus is back on Remove');
    t.equal(cp.store.jobs.list({}).total, jobs, 'cancelled: no job');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: `Yes, remove ${a1.address}` }).waitFor(wait);
    t.equal(await focused(`Yes, remove ${a1.address}`), `Yes, remove ${a1.address}`, 'asked again: the confirmation has the focus');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Job cluster.remove-node' }).waitFor(wait);
    const removed = await finished(page);
    if (removed !== 'succeeded') t.comment(`the job's log ends: ${(await jobLog(page)).slice(-3000)}`);
    t.equal(removed, 'succeeded', 'remove-node succeeded');
    await page.goto(`${cp.url}/#/clusters/lab`);
    await page.getByRole('heading', { level: 2, name: 'Nodes (1)' }).waitFor(wait);
    t.equal(await page.getByRole('rowheader', { name: a1.address }).count(), 0, 'the agent is gone from the list');
  });

  t.test("an upgrade from the cluster's page to the stand-in's +k3s2 build, followed to success", async (t) => {
    const newDir = join(dir, 'k3s2');
    mkdirSync(newDir);
    const next = standInBundle(newDir, UPGRADE_TO);
    await page.getByLabel('K3s version').fill(UPGRADE_TO);
    await page.getByText('Air-gapped install').click();
    await page.getByLabel('Install script').fill(next.installScript);
    await page.getByLabel('K3s binary').fill(next.binary);
    await page.getByLabel('Image archives').fill(next.images.join(', '));
    await page.getByRole('button', { name: 'Upgrade', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Job cluster.upgrade' }).waitFor(wait);
    const state = await finished(page);
    if (state !== 'succeeded') t.comment(`the job's log ends: ${(await jobLog(page)).slice(-3000)}`);
    t.equal(state, 'succeeded', 'the upgrade succeeded');
    t.equal(cp.store.clusters.require('lab').k3sVersion, UPGRADE_TO, 'the cluster is at the new version');
    await page.goto(`${cp.url}/#/clusters/lab`);
    await page.getByText(UPGRADE_TO, { exact: true }).waitFor(wait);
    t.pass("the cluster's page shows the new version");
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
    t.equal(await vp.locator('main form').count(), 0, 'no form (no add-node, no upgrade)');
    t.equal(await vp.getByRole('link', { name: /^Journal/ }).count(), 0, 'no journal link');
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
