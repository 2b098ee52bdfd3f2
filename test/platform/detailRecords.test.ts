/**
 * Settlement from the provider's record as Telnyx files it: a detail record
 * (GET /v2/detail_records, ProviderClient.callDetailRecord) that may appear
 * minutes after the call ended. The platform looks for it over a window of
 * minutes (tests shorten it through the cdr options), bills from its webhooks
 * only once that window is over, never waits for more than cdrMaxWaiting
 * calls at once, and stops waiting when it stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cdrWindowMs, DEFAULT_CDR_ATTEMPTS, DEFAULT_CDR_BACKOFF_MS } from '../../src/platform/Settlement.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { NUMBER, startStack, type Stack } from '../helpers/stack.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, waitFor, type Harness } from './helpers.js';

const isRecordSearch = (r: { method: string; path: string }, id: string): boolean =>
  r.method === 'GET' && r.path.startsWith('/v2/detail_records?') && r.path.includes(`filter[telnyx_call_control_id]=${encodeURIComponent(id)}`);

it('looks for the provider record over minutes by default, not seconds', () => {
  const windowMs = cdrWindowMs(DEFAULT_CDR_ATTEMPTS, DEFAULT_CDR_BACKOFF_MS);
  assert.ok(windowMs >= 5 * 60_000, `window ${windowMs} ms`);
  assert.ok(windowMs <= 15 * 60_000, `bounded: window ${windowMs} ms`);
});

describe('a record the simulator files a second after the call ends', () => {
  let stack: Stack;
  const DELAY_MS = 1_000;
  before(async () => {
    // A window of 50 ms x 45 = 2.25 s, more than the record takes.
    stack = await startStack({}, { signWith: 'node', sim: { detailRecordDelayMs: DELAY_MS }, platform: { cdr: { attempts: 10, backoffMs: 50 } } });
  });
  after(() => stack?.stop());

  it('is waited for, and the call is billed from it', async () => {
    const placed = stack.sim.placeInboundCall({ from: '+15550500001', to: NUMBER, durationMs: 1_200 });
    const report = await placed.done;
    const endedAt = Date.parse(report.cdr.ended_at ?? '');
    await waitFor('settled', async () => (await stack.platform.calls.get(placed.id))?.billing != null, 8_000);
    const settledAt = Date.now();
    const billing = (await stack.platform.calls.get(placed.id))?.billing;
    assert.equal(billing?.source, 'cdr');
    assert.equal(billing?.durationMs, Math.round(report.cdr.duration_ms / 1000) * 1000, 'call_sec, in whole seconds');
    assert.ok(settledAt - endedAt >= DELAY_MS - 100, `settled ${settledAt - endedAt} ms after the end, the record came after ${DELAY_MS} ms`);
    const entry = await stack.platform.ledger.get('test', placed.id);
    assert.equal(entry?.providerMs, billing?.durationMs, 'the usage cross-check holds the same figure');
  });
});

describe('the window and its bound (fake provider)', () => {
  let h: Harness;
  let secret = '';
  const A = { id: 'dep-records', numbers: ['+15551239901'], tunnelHost: 'records.trycloudflare.com' };
  let seq = 0;

  before(async () => {
    // 6 looks, 30 ms x 1..5 between them: a 450 ms window. At most one call waits at once.
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 }, cdr: { attempts: 6, backoffMs: 30, maxWaiting: 1 } });
    secret = (await h.platform.deployments.register({ ...A, caps: { dayMinutes: 100, monthMinutes: 1_000 } })).agentSecret;
  });
  after(() => h?.close());

  async function dial(): Promise<string> {
    seq += 1;
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(A.id, secret),
      body: { to: '+15557654321', stream_url: `wss://${A.tunnelHost}/v1/media/records-${process.pid}-${seq}`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.call_control_id as string;
  }

  /** The provider ends the call (its record says durationMs) and its call.hangup reaches the platform. */
  async function hangUp(id: string, durationMs: number): Promise<void> {
    const fake = h.provider.calls.get(id)!;
    fake.alive = false;
    fake.durationMs = durationMs;
    const facts = { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing' as const };
    assert.equal((await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: 'normal_clearing' }))).status, 200);
  }

  const settled = (id: string) => waitFor(`${id} settled`, async () => (await h.platform.calls.get(id))?.billing != null, 5_000);
  const empty = { status: 200, body: { data: [], meta: { total_pages: 0, total_results: 0, page_number: 1, page_size: 5 } } };

  it('keeps looking until the record appears, and bills from it', async () => {
    const id = await dial();
    let looks = 0;
    // Not filed yet for the first three looks.
    h.provider.override = (r) => (isRecordSearch(r, id) && ++looks <= 3 ? empty : undefined);
    try {
      await hangUp(id, 42_000);
      await settled(id);
    } finally {
      h.provider.override = null;
    }
    assert.equal(looks, 4);
    assert.deepEqual((await h.platform.calls.get(id))?.billing, { source: 'cdr', durationMs: 42_000, billedMinutes: 1, costMicroUsd: 10_000 });
  });

  it('bills from the webhooks only once the window is over', async () => {
    const id = await dial();
    let looks = 0;
    h.provider.override = (r) => (isRecordSearch(r, id) && ++looks > 0 ? empty : undefined);
    try {
      await hangUp(id, 42_000);
      await settled(id);
    } finally {
      h.provider.override = null;
    }
    assert.equal(looks, 6, 'every look of the window was made');
    assert.equal((await h.platform.calls.get(id))?.billing?.source, 'webhooks');
    assert.ok(h.lines.some((l) => l.includes('no final call detail record from the provider') && l.includes(id)));
  });

  it('waits for at most cdrMaxWaiting calls at once: the next one gets one look', async () => {
    const first = await dial();
    const second = await dial();
    const looks = new Map<string, number>();
    h.provider.override = (r) => {
      const id = [first, second].find((i) => isRecordSearch(r, i));
      if (id === undefined) return undefined;
      looks.set(id, (looks.get(id) ?? 0) + 1);
      return empty;
    };
    try {
      await hangUp(first, 1_000);
      await waitFor('the first call waiting', () => (looks.get(first) ?? 0) >= 1, 2_000);
      await hangUp(second, 1_000);
      await settled(second);
      assert.equal(looks.get(second), 1, 'one look only');
      assert.equal((await h.platform.calls.get(second))?.billing?.source, 'webhooks');
      assert.equal((await h.platform.calls.get(first))?.billing, null, 'the first is still waiting');
      assert.ok(h.lines.some((l) => l.includes('too many calls waiting for their provider record') && l.includes(second)));
      await settled(first);
      assert.equal(looks.get(first), 6, 'the first had its whole window');
    } finally {
      h.provider.override = null;
    }
  });
});

describe('stopping the platform while a call waits for its record', () => {
  it('ends the wait at once and leaves the call unsettled (its reservation held: fail closed)', async () => {
    // A window of 100 ms x 4950: over eight minutes.
    const h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 }, cdr: { attempts: 100, backoffMs: 100 } });
    let closed = false;
    try {
      const A = { id: 'dep-stop', numbers: ['+15551239902'], tunnelHost: 'stop.trycloudflare.com' };
      const secret = (await h.platform.deployments.register({ ...A, caps: { dayMinutes: 100, monthMinutes: 1_000 } })).agentSecret;
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(A.id, secret),
        body: { to: '+15557654321', stream_url: `wss://${A.tunnelHost}/v1/media/stop-${process.pid}`, stream_auth_token: STREAM_TOKEN },
      });
      const id = res.body.call_control_id as string;
      const fake = h.provider.calls.get(id)!;
      let looks = 0;
      h.provider.override = (r) => (isRecordSearch(r, id) ? (looks++, { status: 200, body: { data: [] } }) : undefined);
      fake.alive = false;
      await postWebhook(h, envelope('call.hangup', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing' }));
      await waitFor('waiting for the record', () => looks >= 2, 3_000);
      const record = await h.platform.calls.get(id);
      const stoppedAt = Date.now();
      closed = true;
      await h.close();
      assert.ok(Date.now() - stoppedAt < 2_000, `stopped in ${Date.now() - stoppedAt} ms`);
      assert.equal(record?.billing, null);
      assert.ok(h.lines.some((l) => l.includes('left unsettled')));
    } finally {
      if (!closed) await h.close();
    }
  });
});
