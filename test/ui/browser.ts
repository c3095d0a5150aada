/**
 * Browser helpers for the web UI's tests: Debian's Chromium driven headless by playwright-core
 * (scripts/setup/60-browser.sh installs it), axe-core run inside the page, screenshots into
 * .tap/ui-screenshots/ (ignored by git, kept as the run's artifacts).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { repoRoot } from '../support/paths.js';
import { scaled } from '../support/wait.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing: run scripts/setup/60-browser.sh as root (apt-get install chromium)`;
  if (!existsSync(join(repoRoot(), 'dist/web/index.html'))) return 'dist/web is not built: run npm run build:web';
  return undefined;
}

/** Runs a browser test file's body, or skips the file with the printed reason when the browser cannot run here. */
export async function withBrowser(t: Test, main: () => Promise<void>): Promise<void> {
  const missing = browserMissing();
  if (missing) {
    console.log(`# skipping the web UI browser tests: ${missing}`);
    t.plan(0, missing);
    return;
  }
  t.setTimeout(scaled(300_000));
  await main();
}

/** Launches headless Chromium (closed at teardown). */
export async function launch(t: { teardown(fn: () => Promise<void> | void): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--headless=new'],
    timeout: 120_000,
  });
  t.teardown(() => browser.close());
  return browser;
}

const axeSource = (): string => readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
  targets: string[];
}

/**
 * Runs axe-core (WCAG 2.x A and AA rules, plus best practices) on the page as it is and returns
 * every violation. The script goes in through the DevTools protocol, not a script tag, so the
 * page's own CSP (no inline script) stays in force.
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  const has = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe !== 'undefined');
  if (!has) await page.evaluate(axeSource());
  return page.evaluate(async () => {
    const a = (
      globalThis as unknown as {
        axe: {
          run(
            ctx: unknown,
            opts: unknown,
          ): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }>;
        };
      }
    ).axe;
    const r = await a.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.length,
      targets: v.nodes.slice(0, 5).map((n) => String(n.target[0])),
    }));
  });
}

export const SHOTS = (): string => join(repoRoot(), '.tap', 'ui-screenshots');

/** Screenshots the whole page at 1280 px and at 375 px wide (phone), restoring the viewport after. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  const dir = SHOTS();
  mkdirSync(dir, { recursive: true });
  const before = page.viewportSize() ?? { width: 1280, height: 900 };
  const files: string[] = [];
  for (const [width, height] of [
    [1280, 900],
    [375, 812],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(100);
    const file = join(dir, `${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.setViewportSize(before);
  return files;
}

/** Fails with every serious or critical violation listed; prints the rest. */
export function checkAxe(t: Test, where: string, v: AxeViolation[]): void {
  const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
  for (const x of v) t.comment(`axe ${where}: ${x.impact} ${x.id} (${x.nodes} nodes: ${x.targets.join(' ')}): ${x.help}`);
  t.same(
    bad.map((x) => `${x.id}: ${x.help} (${x.targets.join(' ')})`),
    [],
    `axe on ${where}: no serious or critical violation (${v.length} violations of lesser impact)`,
  );
}

/** Watches a page for what must never happen: CSP violations, script errors, the token in a URL. */
export function guard(page: Page, tokens: string[]) {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('request', (r) => {
    for (const tok of tokens) if (tok && r.url().includes(tok)) problems.push(`token in a URL: ${r.method()} ${r.url().slice(0, 80)}`);
  });
  return problems;
}

/** Fails unless the page fits `width` (no sideways scrolling of the whole page). */
export async function fitsWidth(t: Test, page: Page, where: string, width = 375): Promise<void> {
  const before = page.viewportSize() ?? { width: 1280, height: 900 };
  await page.setViewportSize({ width, height: 812 });
  await page.waitForTimeout(100);
  const scroll = Number(await page.evaluate('document.documentElement.scrollWidth'));
  await page.setViewportSize(before);
  t.ok(scroll <= width, `${where} fits ${width} px (page ${scroll} px wide)`);
}
