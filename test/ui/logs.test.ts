/**
 * The Logs page in Debian's Chromium against the real app (its SQLite file, the agent hub on mutual
 * TLS, serving dist/web) and a real agent in this process whose logger writes into its ring: the
 * node chosen from the list, the lines it had shown, a line logged afterwards appearing without a
 * reload, and the agent stopped: `AGENT_OFFLINE` shown with its code. By keyboard, at 375 px, axe,
 * screenshots at 1280 and 375 px.
 */
import t from 'tap';
import { join } from 'node:path';
import { createLogging, LogRing } from '../../src/log/index.js';
import { newAgent, startRig } from '../agent/rig.js';
import { repoRoot } from '../support/paths.js';
import { scaled } from '../support/wait.js';
import { axe, checkAxe, fitsWidth, guard, launch, screenshots, withBrowser } from './browser.js';

await withBrowser(t, main);

async function main() {
  const rig = await startRig(t, { webRoot: join(repoRoot(), 'dist/web') });
  const ring = new LogRing({ maxLines: 200 });
  const logging = createLogging({ level: 'info', format: 'json', destination: { write: () => undefined }, ring });
  const log = logging.child('agent');
  const a = await newAgent(t, rig, 'pi-log', { agent: { log, logRing: ring } });
  log.info({ pin: 17 }, 'marker one');
  const browser = await launch(t);
  const wait = { timeout: scaled(20_000) };
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = guard(page, [rig.srv.viewer]);

  t.test("a node's agent log, followed live", async (t) => {
    await page.goto(rig.srv.url);
    await page.getByLabel('Token').fill(rig.srv.viewer);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor(wait);
    await page.getByRole('link', { name: 'Logs' }).click();
    await page.getByRole('heading', { level: 1, name: 'Logs' }).waitFor(wait);
    const pick = page.getByLabel('Node');
    await pick.locator('option', { hasText: 'pi-log' }).waitFor({ state: 'attached', ...wait });
    // By keyboard: the node picker takes focus and a choice.
    await pick.focus();
    await pick.selectOption('pi-log');
    await page.getByRole('heading', { level: 1, name: 'Logs of pi-log' }).waitFor(wait);
    const marker = page.locator('.log li', { hasText: 'agent: marker one {"pin":17}' });
    await marker.waitFor(wait);
    t.match(await marker.textContent(), /info agent: marker one/, 'time, level, component, message and the rest');
    const loads = await page.evaluate('performance.getEntriesByType("navigation").length');
    log.warn('followed after the page opened');
    await page.locator('.log li', { hasText: 'followed after the page opened' }).waitFor(wait);
    t.equal(await page.locator('.log li', { hasText: 'marker one' }).count(), 1, 'each line once');
    t.equal(await page.evaluate('performance.getEntriesByType("navigation").length'), loads, 'without a reload');
    checkAxe(t, 'the logs page', await axe(page));
    await fitsWidth(t, page, 'the logs page');
    await screenshots(page, 'logs');
  });

  t.test('an agent that goes offline: its code is shown', async (t) => {
    await a.agent.stop();
    const alert = page.getByRole('alert').filter({ hasText: 'AGENT_OFFLINE' });
    await alert.waitFor(wait);
    t.match(await alert.textContent(), /^AGENT_OFFLINE: /);
    t.equal(await page.locator('.log li', { hasText: 'marker one' }).count(), 1, 'the lines shown stay');
  });

  t.test('no CSP violation, no script error, no token in a URL', async (t) => {
    t.same(problems, []);
    await page.close();
  });
}
