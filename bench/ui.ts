// Web UI load (`npm run bench:ui`; needs /usr/bin/chromium from scripts/setup/60-browser.sh and a
// built dist/web): first useful paint in headless Chromium with the CPU throttled 4x (DevTools
// protocol, Emulation.setCPUThrottlingRate), a cold cache each round, against a baseline from the
// same run: a static page with just text, served from the same machine. Measured:
//   - the sign-in form rendered by the bundle (a first visit; not the HTML's "Loading" text);
//   - a signed-in dashboard showing the node table with its data (two API calls after the bundle).
// Both from the UI's own User Timing marks (pc:signin, pc:dashboard-data), set in an effect that
// Preact runs after the paint, read over the DevTools protocol (no script injected into the page).
// Also prints the bundle's size (dist/web/size.json). The goal: under 1 s at 4x throttling.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import type { Browser } from 'playwright-core';
import { repoRoot } from '../test/support/paths.js';
import { startServe } from '../test/support/serve.js';
import { tempDir } from '../test/support/tmp.js';
import { browserMissing, launch } from '../test/ui/browser.js';

const ROUNDS = 7;
const THROTTLE = 4;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** One cold load of `url` with the CPU throttled; returns ms from navigation start to `until` (FCP, or a mark the UI sets). */
async function coldLoad(browser: Browser, url: string, until: { fcp: true } | { mark: string }, token?: string): Promise<number> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    // A returning user: the tab holds the token and who it is, as after a sign-in.
    if (token)
      await ctx.addInitScript(`sessionStorage.setItem('pi-controller.token', ${JSON.stringify(token)});
      sessionStorage.setItem('pi-controller.me', ${JSON.stringify(JSON.stringify({ id: 'bench', name: 'admin', role: 'admin' }))})`);
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: THROTTLE });
    // Read over the DevTools protocol (Runtime.evaluate of one expression, not subject to the
    // page's CSP): Playwright's waitForFunction would first inject its own script into the page,
    // about 100 ms of main-thread work at 4x throttling that lands in the middle of the load.
    const name = 'fcp' in until ? 'first-contentful-paint' : until.mark;
    const expression = `performance.getEntriesByName(${JSON.stringify(name)})[0]?.startTime ?? 0`;
    await page.goto(url, { waitUntil: 'commit' });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      // Before the new document has a context the answer is 0 or an error: ask again.
      const r = await cdp.send('Runtime.evaluate', { expression, returnByValue: true }).catch(() => undefined);
      const at = Number(r?.result.value ?? 0);
      if (at > 0) return at;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`${url}: no ${name} within 30 s`);
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<void> {
  const missing = browserMissing();
  if (missing) {
    console.log(`bench ui: skipped: ${missing}`);
    return;
  }
  const teardowns: (() => Promise<void> | void)[] = [];
  const t = { teardown: (fn: () => Promise<void> | void) => teardowns.push(fn) };
  try {
    const size = JSON.parse(readFileSync(join(repoRoot(), 'dist/web/size.json'), 'utf8')) as { rawBytes: number; gzipBytes: number };
    console.log(
      `bundle: ${(size.rawBytes / 1024).toFixed(1)} KiB, ${(size.gzipBytes / 1024).toFixed(1)} KiB gzipped (budget 100 KiB gzipped)`,
    );
    const dataDir = tempDir(t, 'pic-bench-ui-');
    const serve = await startServe(dataDir, {
      args: ['--port', '0', '--host', '127.0.0.1', '--agent-port', '0', '--local-agent'],
      timeoutMs: 60_000,
      stderr: 'collect',
    });
    teardowns.push(() => void serve.child.kill('SIGTERM'));
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    // The node exists once the local agent enrolled.
    for (let i = 0; i < 600; i++) {
      const r = await fetch(`${serve.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` } });
      if (((await r.json()) as { total: number }).total > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const text = createServer((_q, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end('<!doctype html><html lang="en"><title>baseline</title><body><h1>pi-controller</h1><p>Just text.</p></body></html>');
    });
    await new Promise<void>((r) => text.listen(0, '127.0.0.1', r));
    teardowns.push(() => void text.close());
    const baseUrl = `http://127.0.0.1:${(text.address() as AddressInfo).port}/`;
    const browser = await launch(t);
    console.log(
      `CPU throttled ${THROTTLE}x, ${ROUNDS} cold loads each; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );

    const base: number[] = [];
    const signin: number[] = [];
    const dash: number[] = [];
    // Interleaved rounds: a load spike hits all three alike.
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await coldLoad(browser, baseUrl, { fcp: true }));
      signin.push(await coldLoad(browser, serve.url, { mark: 'pc:signin' }));
      dash.push(await coldLoad(browser, serve.url, { mark: 'pc:dashboard-data' }, token));
    }
    const f = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    console.log(`baseline, static text page, first contentful paint: ${f(base)}`);
    console.log(`sign-in form rendered (first visit): ${f(signin)}: ${(median(signin) / median(base)).toFixed(2)}x the baseline`);
    console.log(
      `signed-in dashboard, node table with data: ${f(dash)}: ${(median(dash) / median(base)).toFixed(2)}x the baseline; goal < 1000 ms`,
    );
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

await main();
