/**
 * The web UI in a real browser (Debian's Chromium, headless, driven by playwright-core) against a
 * real control plane: `pi-controller serve --local-agent` as a child process, whose simulated
 * agent (node `local-sim`) drives the behavioural register model over a page file. Sign-in (by
 * keyboard), the dashboard, the live 40-pin header (GPIO17 set high shows in the agent's register
 * page and in the header without a reload), PWM, a viewer's read-only view, a refused token;
 * axe-core on every page (no serious or critical violation), no CSP violation, the token never in
 * a URL; screenshots of every page at 1280 and 375 px into .tap/ui-screenshots/.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';
import { scaled, waitFor } from '../support/wait.js';
import { axe, checkAxe, guard, launch, screenshots, withBrowser } from './browser.js';

await withBrowser(t, main);

/** The level of a pin as the agent's register page file holds it (GPLEV0 at 0x34, bit = pin). */
const pageLevel = (file: string, pin: number) => (readFileSync(file).readUInt32LE(0x34) >>> pin) & 1;

async function main() {
  const dataDir = tempDir(t, 'pic-ui-');
  const serve = await startServe(dataDir, {
    args: ['--port', '0', '--host', '127.0.0.1', '--agent-port', '0', '--local-agent'],
    timeoutMs: 60_000,
    stderr: 'collect',
  });
  t.teardown(() => void serve.child.kill('SIGTERM'));
  const url = serve.url;
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: (await r.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  };
  // The local agent enrols over mutual TLS and connects: then the node is there to drive.
  let connected = false;
  const poll = setInterval(() => {
    void api('GET', '/agents/local-sim', admin).then((r) => (connected = r.body?.connected === true));
  }, 250);
  const ok = await waitFor(() => connected, 90_000, 100);
  clearInterval(poll);
  if (!ok) throw new Error(`the local agent did not connect:\n${serve.output()}`);
  const regs = join(dataDir, 'local-agent', 'gpiomem.sim');
  const created = (await api('POST', '/tokens', admin, { name: 'ui-viewer', role: 'viewer' })).body as {
    token: string;
    info: { id: string };
  };
  const viewer = created.token;
  const browser = await launch(t);

  t.test('axe is live: it finds the violations of a page that has them', async (t) => {
    const page = await browser.newPage();
    await page.setContent('<html><body><img src="data:,"><button></button></body></html>');
    const ids = (await axe(page)).map((v) => v.id);
    t.ok(ids.includes('image-alt') && ids.includes('button-name'), `found ${ids.join(', ')}`);
    await page.close();
  });

  t.test('a bad token is refused with a visible message and nothing is stored', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = guard(page, []);
    await page.goto(url);
    await page.fill('#token', 'pct_0123456789abcdef_' + 'x'.repeat(43));
    await page.click('button[type=submit]');
    const alert = page.locator('#signin-error');
    await alert.waitFor({ timeout: scaled(20_000) });
    t.match(await alert.textContent(), /refused/i, 'the message says the token was refused');
    t.equal(await page.evaluate('sessionStorage.length'), 0, 'no token kept');
    checkAxe(t, 'the sign-in page with an error', await axe(page));
    await screenshots(page, 'signin-refused');
    t.same(problems, []);
    await page.close();
  });

  t.test('an admin: sign in by keyboard, dashboard, live header, GPIO17, PWM', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = guard(page, [admin]);
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(url);
    await screenshots(page, 'signin');
    checkAxe(t, 'the sign-in page', await axe(page));
    // Keyboard only: Tab to the token field, type, Enter.
    for (let i = 0; i < 6 && (await page.evaluate('document.activeElement && document.activeElement.id')) !== 'token'; i++)
      await page.keyboard.press('Tab');
    t.equal(await page.evaluate('document.activeElement.id'), 'token', 'the token field is reached with Tab');
    await page.keyboard.type(admin);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor({ timeout: scaled(20_000) });
    t.equal(await page.evaluate('sessionStorage.getItem("pi-controller.token")'), admin, 'the token is in sessionStorage');
    t.notOk(page.url().includes(admin), 'and not in the URL');

    t.test('the dashboard shows the node and its agent online', async (t) => {
      await page.getByRole('link', { name: 'local-sim' }).waitFor({ timeout: scaled(20_000) });
      await page.locator('[data-testid=agents-online]', { hasText: '1/1' }).waitFor({ timeout: scaled(20_000) });
      const row = page.locator('table.nodes tbody tr', { hasText: 'local-sim' });
      t.match(await row.textContent(), /online \(simulated\)/);
      t.match(await row.textContent(), /°C/, 'the SoC temperature the agent reports');
      await page.waitForTimeout(500);
      checkAxe(t, 'the dashboard', await axe(page));
      await screenshots(page, 'dashboard');
    });

    t.test('GPIO17 set high: the register page bit and the header change, without a reload', async (t) => {
      await page.evaluate('window.__sameDocument = true');
      await page.getByRole('link', { name: 'local-sim' }).click();
      await page.getByRole('heading', { level: 1, name: 'Pins of local-sim' }).waitFor();
      t.equal(pageLevel(regs, 17), 0, 'GPIO17 is low in the register page before');
      const pad = page.locator('button[data-gpio="17"]');
      // Keyboard: focus the pad, Enter selects it; Tab on to the button, Enter presses it.
      await pad.focus();
      await page.keyboard.press('Enter');
      t.equal(await pad.getAttribute('aria-pressed'), 'true', 'Enter selects the pin');
      for (let i = 0; i < 40 && !/Set GPIO17 high/.test(String(await page.evaluate('document.activeElement.textContent'))); i++)
        await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      t.ok(await waitFor(() => pageLevel(regs, 17) === 1, 30_000, 50), "GPIO17's bit is set in the agent's register page (GPLEV0)");
      // The level comes with the gpio.changed event, the owner with the next listing: both, in time.
      await page
        .locator('button[data-gpio="17"][data-level="1"][aria-label*="output, high, owner gpio/17"]')
        .waitFor({ timeout: scaled(20_000) });
      t.match(await pad.getAttribute('aria-label'), /GPIO17, output, high, owner gpio\/17/, "the header's pin says so");
      await page.locator('[data-testid=sel-level]', { hasText: 'high' }).waitFor();
      t.equal(await page.evaluate('window.__sameDocument'), true, 'the same document: no reload');
      t.equal(loads, 1, 'one page load in all');
      checkAxe(t, 'the Pins page', await axe(page));
      await screenshots(page, 'pins-gpio17-high');
      // And back low, by mouse this time: the header follows the stream again.
      await page.getByRole('button', { name: 'Set GPIO17 low' }).click();
      await page.locator('button[data-gpio="17"][data-level="0"]').waitFor({ timeout: scaled(20_000) });
      t.ok(await waitFor(() => pageLevel(regs, 17) === 0, 30_000, 50), 'and low again in the register page');
    });

    t.test('PWM on GPIO18: started from the form, shown on the header and applied', async (t) => {
      await page.locator('button[data-gpio="18"]').click();
      await page.getByLabel('Frequency (Hz)').fill('1000');
      await page.getByLabel('Duty cycle (%)').fill('25');
      await page.getByRole('button', { name: 'Start PWM' }).click();
      const row = page.locator('tr[data-gpio="18"]');
      await row.filter({ hasText: 'applied' }).waitFor({ timeout: scaled(30_000) });
      t.match(await row.textContent(), /PWM 1 kHz 25 %/, 'the pins table shows the PWM');
      t.match(await page.locator('button[data-gpio="18"]').getAttribute('aria-label'), /PWM 1 kHz 25 %, .*owner pwm\/gpio18/);
      const stored = await api('GET', '/nodes/local-sim/pwm/gpio18', admin);
      t.match(stored.body, { spec: { pin: 18, frequencyHz: 1000, dutyCycle: 0.25 }, status: { phase: 'Applied' } }, 'the API agrees');
      checkAxe(t, 'the Pins page with PWM', await axe(page));
      await screenshots(page, 'pins-pwm');
    });

    t.test('an I2C device (the simulated BME280 at 0x76) shows its readings, live', async (t) => {
      const put = await api('PUT', '/nodes/local-sim/i2c/env', admin, { spec: { bus: 1, address: 0x76, decoder: 'bme280' } });
      t.equal(put.status, 201);
      const card = page.locator('ul.i2c li', { hasText: 'env' });
      await card.filter({ hasText: 'temperatureC' }).waitFor({ timeout: scaled(30_000) });
      t.match(await card.textContent(), /bus 1, address 0x76, bme280/);
      t.match(await card.textContent(), /temperatureC\s*21\.5/, "the model's 21.5 °C");
      // Bus 1 in use: GPIO2 and GPIO3 show their ALT function.
      await page.locator('button[data-gpio="2"][aria-label*="(SDA1), I2C"]').waitFor({ timeout: scaled(20_000) });
      t.match(await page.locator('button[data-gpio="3"]').getAttribute('aria-label'), /\(SCL1\), I2C/);
      checkAxe(t, 'the Pins page with I2C', await axe(page));
      await screenshots(page, 'pins-i2c');
    });

    t.test('the discovery page: a scan from the page reports its result', async (t) => {
      await page.getByRole('link', { name: 'Discovery' }).click();
      await page.getByRole('heading', { level: 1, name: 'Discovery' }).waitFor();
      await page.getByLabel(/SSH scan range/).fill('127.0.0.1/32');
      await page.getByRole('button', { name: 'Start scan' }).click();
      const said = page.getByRole('status').filter({ hasText: 'Scan finished' });
      await said.waitFor({ timeout: scaled(60_000) });
      t.match(await said.textContent(), /Scan finished: \d+ seen, \d+ new, \d+ lost/);
      checkAxe(t, 'the discovery page', await axe(page));
      await screenshots(page, 'discovery');
    });
    t.same(problems, [], 'no CSP violation, no script error, the token in no URL');
  });

  t.test('a viewer sees no button that would fail, and a direct attempt is refused', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = guard(page, [viewer]);
    await page.goto(url);
    await page.fill('#token', viewer);
    await page.click('button[type=submit]');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor({ timeout: scaled(20_000) });
    await page.goto(`${url}/#/nodes/local-sim`);
    await page.getByRole('heading', { level: 1, name: 'Pins of local-sim' }).waitFor({ timeout: scaled(20_000) });
    await page.locator('button[data-gpio="17"]').click();
    await page.locator('[data-testid=sel-mode]').waitFor();
    t.equal(await page.getByRole('button', { name: /Set GPIO17/ }).count(), 0, 'no set buttons');
    t.equal(
      await page.getByRole('button', { name: /(Start|Update) PWM|Release|count edges/ }).count(),
      0,
      'no PWM, input or release button',
    );
    t.equal(await page.locator('form.pwm-form').count(), 0, 'no PWM form');
    t.match(await page.textContent('main'), /viewer/, 'the page says why');
    const before = pageLevel(regs, 17);
    // The same request the operator's button makes, from the viewer's page: refused by the server.
    const status = await page.evaluate(
      `fetch('/api/v1/nodes/local-sim/gpio/17', { method: 'PUT', headers: { authorization: 'Bearer ' + sessionStorage.getItem('pi-controller.token'), 'content-type': 'application/json' }, body: JSON.stringify({ spec: { pin: 17, mode: 'output', value: ${1 - before} } }) }).then((r) => r.status)`,
    );
    t.equal(status, 403, 'the server refuses the viewer (403)');
    await new Promise((r) => setTimeout(r, 500));
    t.equal(pageLevel(regs, 17), before, 'the register page is unchanged');
    checkAxe(t, "a viewer's Pins page", await axe(page));
    await screenshots(page, 'pins-viewer');
    // A reload keeps the tab signed in; once the token is revoked, a reload signs out and says why.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Pins of local-sim' }).waitFor({ timeout: scaled(20_000) });
    t.equal((await api('DELETE', `/tokens/${created.info.id}`, admin)).status, 200, 'the viewer token is revoked');
    await page.reload();
    const notice = page.locator('.notice', { hasText: 'Signed out' });
    await notice.waitFor({ timeout: scaled(20_000) });
    t.match(await notice.textContent(), /revoked/, 'the sign-in page says the token was refused');
    t.equal(await page.evaluate('sessionStorage.length'), 0, 'and the tab forgot it');
    t.same(problems, []);
    await page.close();
  });
}
