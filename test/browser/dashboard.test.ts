/**
 * The local dashboard in a real browser (Debian chromium via playwright-core):
 * a simulated call appears with its codec and agent, then disappears when it
 * ends; the page's own script runs under its strict CSP, with no violation.
 * Screenshots go to test-artifacts/ (gitignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium } from '../helpers/chromium.js';
import { NUMBER, startStack, type Stack } from '../helpers/stack.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/**
 * The page's DOM, as far as the predicates below read it. They run in the
 * browser as functions (a string would be eval'd, which the page's CSP
 * forbids), and this project compiles without the DOM library.
 */
interface Node {
  textContent: string | null;
  querySelectorAll(selector: string): ArrayLike<Node>;
}
type Page$ = { document: { getElementById(id: string): Node | null; querySelector(selector: string): Node | null } };
const skip = chromiumUnavailable();

let stack: Stack | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  stack = await startStack();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function openDashboard(problems: string[]): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const response = await page.goto(`http://127.0.0.1:${stack!.ports.local}/dashboard`);
  assert.equal(response?.status(), 200);
  // 'live' is set by the page's script when its event stream opens: the CSP let the script run.
  await page.waitForFunction(() => (globalThis as unknown as Page$).document.getElementById('conn')?.textContent === 'live', undefined, { timeout: 10_000 });
  return page;
}

test('a simulated call appears on the dashboard with its figures, then disappears when it ends', { skip }, async () => {
  const problems: string[] = [];
  const page = await openDashboard(problems);
  assert.equal(await page.locator('#calls tr[data-call-id]').count(), 0, 'no call before we place one');
  assert.equal(await page.locator('#workers tr').count(), 2, 'one row per worker');

  const call = stack!.sim.placeInboundCall({ from: '+15550200201', to: NUMBER, durationMs: 4_000 });
  const row = page.locator(`#calls tr[data-call-id="${call.id}"]`);
  await row.waitFor({ state: 'attached', timeout: 10_000 });
  // Codec and agent come from the call's worker, with its next snapshot.
  await page.waitForFunction(
    (id) => {
      const c = (globalThis as unknown as Page$).document.querySelector(`#calls tr[data-call-id="${id}"]`)?.querySelectorAll('td');
      return c !== undefined && c[7]?.textContent === 'PCMU' && c[8]?.textContent === 'echo' && c[9]?.textContent !== '-';
    },
    call.id,
    { timeout: 10_000 },
  );
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], call.id);
  assert.equal(cells[1], 'incoming');
  assert.equal(cells[2], '+15550200201');
  assert.equal(cells[3], NUMBER);
  assert.ok(Number(cells[9]) >= 0, `jitter ${cells[9]}`);
  assert.equal(await page.locator('#live-count').textContent(), '1');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-call-live.png'), fullPage: true });

  const report = await call.done;
  assert.equal(report.endedBy, 'caller', report.endReason);
  await row.waitFor({ state: 'detached', timeout: 10_000 });
  assert.equal(await page.locator('#live-count').textContent(), '0');
  assert.match((await page.locator('#calls').textContent()) ?? '', /no live calls/);
  await page.waitForFunction(() => Number((globalThis as unknown as Page$).document.getElementById('day-min')?.textContent) > 0, undefined, { timeout: 5_000 });
  // The caps as the platform meters them (asked for while the page is open): the stack's defaults.
  assert.match((await page.locator('#cap-day').textContent()) ?? '', /^\d+ of 600$/);
  assert.match((await page.locator('#cap-month').textContent()) ?? '', /^\d+ of 6000$/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-call-ended.png'), fullPage: true });
  assert.deepEqual(problems, [], 'no CSP violation, console error or page error');
  await page.close();
});

test('refusals show up on the open dashboard as they happen', { skip }, async () => {
  const problems: string[] = [];
  const page = await openDashboard(problems);
  const tunnel = `http://127.0.0.1:${stack!.ports.tunnel}/v1/webhooks/provider`;
  assert.equal((await fetch(tunnel, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
  await page.waitForFunction(() => /webhook refused/.test((globalThis as unknown as Page$).document.getElementById('recent')?.textContent ?? ''), undefined, {
    timeout: 10_000,
  });
  assert.match((await page.locator('#recent').textContent()) ?? '', /missing_headers/);
  assert.deepEqual(problems, []);
  await page.close();
});
