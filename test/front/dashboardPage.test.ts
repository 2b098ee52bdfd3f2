/**
 * The dashboard page over HTTP: strict CSP whose hashes match the inline
 * script and style exactly, no 'unsafe-*'; every value escaped; the event
 * stream speaks SSE with one JSON state per event.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { DashboardState } from '../../src/control/DashboardFeed.js';
import { DASHBOARD_CSP, escapeHtml, renderDashboard } from '../../src/front/dashboardPage.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack.stop();
});

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

test('GET /dashboard: HTML with a CSP that allows exactly its own inline script and style', async () => {
  const response = await fetch(`http://127.0.0.1:${stack.ports.local}/dashboard`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  const csp = response.headers.get('content-security-policy') ?? '';
  assert.equal(csp, DASHBOARD_CSP);
  assert.doesNotMatch(csp, /unsafe-|\*|data:/);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(response.headers.get('cache-control'), 'no-store');
  const html = await response.text();
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 1);
  assert.equal(styles.length, 1);
  assert.ok(csp.includes(`script-src ${hash(scripts[0]!)}`), 'the script hash matches');
  assert.ok(csp.includes(`style-src ${hash(styles[0]!)}`), 'the style hash matches');
  const markup = html.replace(/<script>[\s\S]*?<\/script>/g, '');
  assert.doesNotMatch(markup, /<script|\son[a-z]+=/i, 'no other script, no inline event handler');
  assert.doesNotMatch(scripts[0]!, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/, 'the script only sets textContent');
});

test('every value on the page is escaped', () => {
  const hostile = `<img src=x onerror=alert(1)>"'&`;
  const state: DashboardState = {
    at: hostile,
    calls: [
      { callId: hostile, direction: hostile, state: hostile, worker: 0, from: hostile, to: hostile, durationS: 1, codec: hostile, agent: hostile, jitterMs: null, lossPct: null, latencyMs: null },
    ],
    workers: [{ index: 0, up: true, calls: 1, loopDelayP99Ms: 1, heapMb: 1 }],
    mainLoopDelayP99Ms: 1,
    recent: [{ at: '2026-11-26T00:00:00.000Z', what: hostile, detail: hostile, count: 1 }],
    minutes: { day: hostile, dayMinutes: 0, month: hostile, monthMinutes: 0 },
    caps: { known: true, note: hostile, dayCap: 1, dayUsed: 0, monthCap: 2, monthUsed: 0, asOf: hostile, minuteCapRefusals: 0, concurrentCallRefusals: 0, maxCalls: 1 },
  };
  const html = renderDashboard(state);
  assert.ok(!html.includes('<img'), 'no markup from a value');
  assert.ok(!html.includes(`"'&`), 'quotes and ampersands escaped');
  assert.ok(html.includes(escapeHtml(hostile)));
  assert.equal(escapeHtml(hostile), '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
  assert.ok(html.includes(`data-call-id="${escapeHtml(hostile)}"`), 'attribute values escaped too');
});

test('GET /dashboard/events: an SSE stream of JSON states, with the caps asked of the platform while it is open', async () => {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${stack.ports.local}/dashboard/events`, { signal: controller.signal });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const states: DashboardState[] = [];
  const deadline = Date.now() + 8_000;
  // The first state at once (caps not known yet), the next ones each second; the caps arrive with one of them.
  while (!states.at(-1)?.caps.known && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const event = text.slice(0, end);
      text = text.slice(end + 2);
      const data = event.split('\n').find((line) => line.startsWith('data: '));
      if (data) states.push(JSON.parse(data.slice(6)) as DashboardState);
    }
  }
  controller.abort();
  assert.ok(states.length >= 2, `${states.length} states`);
  assert.equal(states[0]!.workers.length, 2);
  assert.equal(states[0]!.caps.known, false);
  assert.match(states[0]!.caps.note, /asked for while a dashboard is open/);
  assert.ok(Date.parse(states[1]!.at) > Date.parse(states[0]!.at));
  const caps = states.at(-1)!.caps;
  assert.equal(caps.known, true, 'the platform told the caps within 8 s');
  assert.deepEqual([caps.dayCap, caps.monthCap, caps.dayUsed, caps.monthUsed], [600, 6000, 0, 0]);
});
