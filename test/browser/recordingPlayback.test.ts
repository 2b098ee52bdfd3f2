/**
 * FAQ-17 in a real browser (Debian chromium via playwright-core): sign in to
 * the platform's dashboard with the admin token, find a recorded call in the
 * history, and play its recording: the <audio> element loads the MP3 from
 * the platform under the page's CSP, knows its length, and seeks with a byte
 * range (206). And a deployment's own dashboard: open the one-time link
 * `ttma dashboard` hands out, press its button, play the deployment's
 * recording, and turn recording off and on again with the page's switch.
 * Screenshots in test-artifacts/ (gitignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium } from '../helpers/chromium.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, dashboardLinkCode, recordedCall } from '../platform/dashboardHelpers.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const skip = chromiumUnavailable();

/** The few DOM properties the checks read (this project compiles without the DOM library). */
interface AudioElement {
  readyState: number;
  duration: number;
  currentTime: number;
  error: { code: number } | null;
  preload: string;
  load(): void;
}
type Page$ = { document: { querySelector(selector: string): AudioElement | null } };

/** preload="none" on the page: asks the player to load, as pressing play would; its length and error once it has. */
async function loadAudio(page: Page, selector: string): Promise<{ duration: number; error: number | null }> {
  await page.evaluate((sel) => {
    const audio = (globalThis as unknown as Page$).document.querySelector(sel)!;
    audio.preload = 'auto';
    audio.load();
  }, selector);
  await page.waitForFunction((sel) => ((globalThis as unknown as Page$).document.querySelector(sel)?.readyState ?? 0) >= 1, selector, { timeout: 15_000 });
  return page.evaluate((sel) => {
    const audio = (globalThis as unknown as Page$).document.querySelector(sel)!;
    return { duration: audio.duration, error: audio.error?.code ?? null };
  }, selector);
}

let stack: Stack | undefined;
let browser: Browser | undefined;
let dir: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ttma-browser-recordings-'));
  stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('sign in, find the recorded call in the history, play and seek its recording', { skip }, async () => {
  const callId = await recordedCall(stack!, '+15550600001', { stored: true });
  const page = await browser!.newPage({ viewport: { width: 1600, height: 900 } });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const audioStatuses: number[] = [];
  page.on('response', (response) => {
    if (response.url().includes('/v1/admin/recordings/')) audioStatuses.push(response.status());
  });

  const base = `http://127.0.0.1:${stack!.ports.platform}`;
  // Not signed in: the history refuses.
  assert.equal((await fetch(`${base}/v1/admin/history`)).status, 401);
  await page.goto(`${base}/v1/admin/login`);
  await page.fill('input[name="token"]', ADMIN_TOKEN);
  await Promise.all([page.waitForURL(`${base}/v1/admin/history`), page.click('button[type="submit"]')]);
  assert.match((await page.locator('h1').textContent()) ?? '', /Call history/);

  const selector = `audio[src="/v1/admin/recordings/${encodeURIComponent(callId)}.mp3"]`;
  assert.equal(await page.locator(selector).count(), 1, 'a player for the recorded call');
  const loaded = await loadAudio(page, selector);
  assert.equal(loaded.error, null);
  // The simulated call lasted 1.5 s, recorded from its answer: the MP3 is about that long.
  assert.ok(loaded.duration > 0.5 && loaded.duration < 3, `duration ${loaded.duration} s`);

  await page.evaluate((sel) => {
    (globalThis as unknown as Page$).document.querySelector(sel)!.currentTime = 0.9;
  }, selector);
  await page.waitForFunction((sel) => ((globalThis as unknown as Page$).document.querySelector(sel)?.readyState ?? 0) >= 2, selector, { timeout: 15_000 });
  assert.ok(audioStatuses.length > 0 && audioStatuses.every((s) => s === 200 || s === 206), `recording answers ${audioStatuses.join(',')}`);
  assert.ok(audioStatuses.includes(206), `the browser fetched by byte range: ${audioStatuses.join(',')}`);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'platform-history-recording.png'), fullPage: true });
  assert.deepEqual(problems, [], 'no CSP violation, console error or page error');
  await page.close();
});

test("a deployment's dashboard: open the sign-in link, play its recording, switch recording off and on", { skip }, async () => {
  const callId = await recordedCall(stack!, '+15550600002', { stored: true });
  const page = await browser!.newPage({ viewport: { width: 1600, height: 900 } });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const base = `http://127.0.0.1:${stack!.ports.platform}`;
  // What `ttma dashboard` prints: the platform's sign-in page with a one-time code.
  await page.goto(`${base}/v1/dashboard/login?code=${await dashboardLinkCode(stack!)}`);
  await Promise.all([page.waitForURL(`${base}/v1/dashboard/`), page.click('button[type="submit"]')]);
  assert.match((await page.locator('h1').textContent()) ?? '', /Your calls/);
  assert.match((await page.locator('body').textContent()) ?? '', /Recording is on\./);

  const selector = `audio[src="/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3"]`;
  assert.equal(await page.locator(selector).count(), 1, 'a player for the recorded call');
  const loaded = await loadAudio(page, selector);
  assert.equal(loaded.error, null);
  assert.ok(loaded.duration > 0.5 && loaded.duration < 3, `duration ${loaded.duration} s`);

  // The switch: a same-origin form post from the page (the cross-site checks let the real browser through).
  await Promise.all([page.waitForURL(`${base}/v1/dashboard/?done=off`), page.click('button:has-text("turn recording off")')]);
  assert.match((await page.locator('body').textContent()) ?? '', /Recording is now off\./);
  assert.equal((await stack!.platform.deployments.get('test'))?.recording, false);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'deployment-dashboard.png'), fullPage: true });
  await Promise.all([page.waitForURL(`${base}/v1/dashboard/?done=on`), page.click('button:has-text("turn recording on")')]);
  assert.equal((await stack!.platform.deployments.get('test'))?.recording, true);

  // "Delete all recordings": the browser itself holds the form back until the box is ticked.
  await page.click('button:has-text("delete all recordings")');
  await page.waitForTimeout(300);
  assert.equal(page.url(), `${base}/v1/dashboard/?done=on`, 'no post without the box ticked');
  assert.ok((await stack!.platform.calls.get(callId))!.recording!.url, 'nothing deleted yet');
  await page.check('input[name="confirm"]');
  await Promise.all([page.waitForURL(`${base}/v1/dashboard/?done=deleted-all`), page.click('button:has-text("delete all recordings")')]);
  assert.match((await page.locator('body').textContent()) ?? '', /Every recording kept was deleted/);
  assert.equal(await page.locator(selector).count(), 0, 'no player left');
  assert.equal((await stack!.platform.calls.get(callId))!.recording!.url, null);
  await Promise.all([page.waitForURL(`${base}/v1/dashboard/login`), page.click('button:has-text("sign out")')]);
  assert.deepEqual(problems, [], 'no CSP violation, console error or page error');
  await page.close();
});
