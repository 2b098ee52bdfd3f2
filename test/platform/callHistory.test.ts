/**
 * The call history on the platform's operator API, as JSON and as a page:
 * real calls through the provider simulator, the platform and a gateway
 * (answered inbound calls with recordings, an inbound call nobody owns, an
 * outbound dial), filtered by every filter; the admin credential required;
 * the page escapes what the provider sent and carries a strict CSP.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const CALLER_A = '+15550400001';
const CALLER_B = '+15550400002';
const UNOWNED = '+15550499999';
const DIALLER = { id: 'hist-out', numbers: ['+15550488888'], tunnelHost: 'hist-out.trycloudflare.com' };
const DESTINATION = '+15550477777';

interface HistoryCall {
  call_control_id: string;
  deployment_id: string | null;
  direction: string;
  from: string;
  to: string;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  cost_usd: string | null;
  hangup_cause: string | null;
  recording: { file: string | null; url: string | null; sha256: string | null } | null;
}

describe('call history (operator API): JSON and page over real calls', () => {
  let stack: Stack;
  let dir = '';
  let base = '';
  const ids: Record<'a' | 'b' | 'unowned' | 'outbound', string> = { a: '', b: '', unowned: '', outbound: '' };
  let startedBefore = '';
  let startedAfter = '';
  let diallerSecret = '';

  const history = async (query = '', headers = adminHeaders()) => call(base, 'GET', `/v1/admin/history.json${query}`, { headers });
  const idsOf = (calls: HistoryCall[]) => calls.map((c) => c.call_control_id).sort();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-history-'));
    stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    base = `http://127.0.0.1:${stack.ports.platform}`;
    startedBefore = new Date(Date.now() - 1).toISOString();
    const dialler = await stack.platform.deployments.register(DIALLER);
    diallerSecret = dialler.agentSecret;
    const a = stack.sim.placeInboundCall({ from: CALLER_A, to: NUMBER, durationMs: 1_200 });
    const b = stack.sim.placeInboundCall({ from: CALLER_B, to: NUMBER, durationMs: 800 });
    // Nobody answers a number no deployment owns: the simulator gives up after its answer timeout.
    const unowned = stack.sim.placeInboundCall({ from: CALLER_A, to: UNOWNED, durationMs: 500 });
    const dial = await call(base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(DIALLER.id, dialler.agentSecret),
      body: { from: DIALLER.numbers[0], to: DESTINATION, stream_url: `wss://${DIALLER.tunnelHost}/v1/media/outbound-hist`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dial.status, 200, JSON.stringify(dial.body));
    Object.assign(ids, { a: a.id, b: b.id, unowned: unowned.id, outbound: dial.body.call_control_id as string });
    await Promise.all([a.done, b.done, unowned.done]);
    const settled = async (id: string) => (await stack.platform.calls.get(id))?.billing != null;
    await waitFor('inbound calls settled and recorded', async () => {
      for (const id of [ids.a, ids.b]) if (!(await settled(id)) || !(await stack.platform.calls.get(id))?.recording?.file) return false;
      return true;
    }, 10_000);
    await call(base, 'POST', PLATFORM_PATHS.hangup(ids.outbound), { headers: agentHeaders(DIALLER.id, dialler.agentSecret) });
    await waitFor('outbound call ended and settled', () => settled(ids.outbound), 10_000);
    await waitFor('unowned call ended', async () => (await stack.platform.calls.get(ids.unowned))?.state === 'ended', 10_000);
    startedAfter = new Date(Date.now() + 1).toISOString();
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the admin credential: none, a wrong one and an agent secret are all 401, for the page and the JSON', async () => {
    for (const path of ['/v1/admin/history', '/v1/admin/history.json']) {
      assert.equal((await call(base, 'GET', path)).status, 401);
      assert.equal((await call(base, 'GET', path, { headers: adminHeaders('not-the-admin-token-0000') })).status, 401);
      const agent = await call(base, 'GET', path, { headers: agentHeaders(DIALLER.id, diallerSecret) });
      assert.equal(agent.status, 401);
      assert.equal(agent.body.error.code, 'TTMA_ERR_AUTH');
      assert.equal((await call(base, 'POST', path, { headers: adminHeaders() })).status, 405);
    }
  });

  it('JSON: every call with numbers, direction, times, duration, cost, cause and recording reference, newest first', async () => {
    const res = await history();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const calls = res.body.calls as HistoryCall[];
    assert.equal(res.body.total, 4);
    assert.deepEqual(idsOf(calls), Object.values(ids).sort());
    const started = calls.map((c) => c.started_at);
    assert.deepEqual(started, [...started].sort().reverse(), 'newest first');
    for (const key of ['a', 'b'] as const) {
      const c = calls.find((x) => x.call_control_id === ids[key])!;
      const record = (await stack.platform.calls.get(ids[key]))!;
      assert.equal(c.deployment_id, 'test');
      assert.equal(c.direction, 'incoming');
      assert.equal(c.from, key === 'a' ? CALLER_A : CALLER_B);
      assert.equal(c.to, NUMBER);
      assert.equal(c.hangup_cause, 'normal_clearing');
      assert.equal(c.duration_ms, record.billing!.durationMs);
      assert.ok(c.duration_ms! > 0);
      assert.equal(c.cost_usd, (record.billing!.costMicroUsd / 1e6).toFixed(4));
      assert.equal(c.recording?.file, record.recording!.file);
      assert.match(c.recording?.sha256 ?? '', /^[0-9a-f]{64}$/);
      assert.ok(c.ended_at && c.started_at <= c.ended_at);
      assert.equal('timeline' in c, false, 'the history leaves the event timeline to /v1/admin/calls');
    }
    const unowned = calls.find((c) => c.call_control_id === ids.unowned)!;
    assert.equal(unowned.deployment_id, null);
    assert.equal(unowned.hangup_cause, 'timeout');
    const outbound = calls.find((c) => c.call_control_id === ids.outbound)!;
    assert.equal(outbound.direction, 'outgoing');
    assert.equal(outbound.deployment_id, DIALLER.id);
    assert.equal(outbound.to, DESTINATION);
  });

  it('JSON: each filter selects exactly the calls it names, and filters combine', async () => {
    const cases: Array<[string, string[]]> = [
      [`?deployment=test`, [ids.a, ids.b]],
      [`?deployment=${DIALLER.id}`, [ids.outbound]],
      ['?direction=outgoing', [ids.outbound]],
      ['?direction=inbound', [ids.a, ids.b, ids.unowned]],
      [`?number=${encodeURIComponent(CALLER_A)}`, [ids.a, ids.unowned]],
      [`?number=${encodeURIComponent(DESTINATION)}`, [ids.outbound]],
      ['?cause=timeout', [ids.unowned]],
      [`?cause=normal_clearing&number=${encodeURIComponent(CALLER_A)}`, [ids.a]],
      [`?from=${encodeURIComponent(startedBefore)}&to=${encodeURIComponent(startedAfter)}`, Object.values(ids)],
      [`?from=${encodeURIComponent(startedAfter)}`, []],
      [`?to=${encodeURIComponent(startedBefore)}`, []],
      ['?deployment=nobody', []],
    ];
    for (const [query, expected] of cases) {
      const res = await history(query);
      assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(idsOf(res.body.calls), [...expected].sort(), query);
      assert.equal(res.body.total, expected.length, query);
    }
    const limited = await history('?limit=1');
    assert.equal(limited.body.calls.length, 1);
    assert.equal(limited.body.total, 4);
    assert.equal(limited.body.filters.limit, 1);
  });

  it('refuses a bad filter with 400 naming it', async () => {
    for (const [query, pattern] of [
      ['?direction=sideways', /direction/],
      ['?from=yesterday', /"from" must be an ISO 8601 time/],
      [`?from=${encodeURIComponent(startedAfter)}&to=${encodeURIComponent(startedBefore)}`, /"from" must be before "to"/],
      ['?limit=-1', /limit/],
      ['?state=ended', /unknown filter "state"/],
      ['?cause=a&cause=b', /more than once/],
      [`?number=${'9'.repeat(200)}`, /longer than 128/],
    ] as const) {
      const res = await history(query);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'TTMA_ERR_BAD_REQUEST');
      assert.match(res.body.error.message, pattern, query);
    }
  });

  it('page: the same calls as HTML with the filter form, no script, and a CSP allowing only its own stylesheet', async () => {
    const res = await fetch(`${base}/v1/admin/history?direction=incoming`, { headers: adminHeaders() });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('base-uri'), ["'none'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    assert.deepEqual(directives.get('form-action'), ["'self'"]);
    assert.equal(directives.has('script-src'), false, 'scripts fall back to default-src none');
    assert.ok(!csp.includes('unsafe'), csp);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    assert.deepEqual(directives.get('style-src'), [`'sha256-${createHash('sha256').update(style).digest('base64')}'`], 'the one stylesheet, by its hash');
    assert.equal(/<script/i.test(html), false);
    assert.equal(/\son[a-z]+=/i.test(html), false, 'no inline event handlers');
    for (const id of [ids.a, ids.b, ids.unowned]) assert.ok(html.includes(`<td>${id}</td>`), id);
    assert.ok(!html.includes(ids.outbound), 'the filter applies to the page');
    assert.ok(html.includes(`<td>${CALLER_B}</td>`));
    assert.ok(html.includes('<td>timeout</td>'));
    assert.ok(html.includes((await stack.platform.calls.get(ids.a))!.recording!.file!));
    assert.match(html, /<option value="incoming" selected>/);
    assert.match(html, /3 calls, newest first/);
    assert.match(html, /<a href="\/v1\/admin\/history\.json\?direction=incoming">JSON<\/a>/);
  });
});

describe('call history page: what the provider sent is escaped', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('HTML in numbers, causes and the query itself is shown as text', async () => {
    const facts = { call_control_id: 'v3:hist-xss', from: '<script>alert(1)</script>', to: '"><img src=x>', direction: 'incoming' as const };
    assert.equal((await postWebhook(h, envelope('call.initiated', facts))).status, 200);
    assert.equal((await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: "'><svg/onload=alert(2)>" }))).status, 200);
    const query = `?cause=${encodeURIComponent("'><svg/onload=alert(2)>")}`;
    const res = await fetch(`${h.base}/v1/admin/history${query}`, { headers: adminHeaders() });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.ok(html.includes('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>'), 'from escaped');
    assert.ok(html.includes('<td>&quot;&gt;&lt;img src=x&gt;</td>'), 'to escaped');
    assert.ok(html.includes('<td>&#39;&gt;&lt;svg/onload=alert(2)&gt;</td>'), 'cause escaped');
    assert.ok(html.includes('value="&#39;&gt;&lt;svg/onload=alert(2)&gt;"'), 'the filter value echoed into the form, escaped');
    assert.equal(/<script|<img|<svg/i.test(html), false);
    // The JSON carries the same values, as JSON strings.
    const json = await call(h.base, 'GET', `/v1/admin/history.json${query}`, { headers: adminHeaders() });
    assert.equal(json.body.calls[0].from, facts.from);
    assert.equal(json.body.total, 1);
  });
});
