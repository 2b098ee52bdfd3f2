/**
 * `GET /v1/signal/calls?live=1`: what a starting gateway takes over. Only its
 * own deployment's answered calls that have not ended, however old (an old
 * call is found through its live cap reservation, not only among the newest
 * records), and its inbound calls ringing for under two minutes (through as
 * many pages of records as the window covers); the list has its own small
 * budget before the deployment's rate limit; bad requests and strangers are
 * refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS, RINGING_LISTED_WITHIN_MS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const A = { id: 'live-a', numbers: ['+15557770301'], tunnelHost: 'live-a.trycloudflare.com' };
const B = { id: 'live-b', numbers: ['+15557770302'], tunnelHost: 'live-b.trycloudflare.com' };

const ids = (body: { calls: Array<{ call_control_id: string }> }) => body.calls.map((c) => c.call_control_id).sort();

interface TwoDeployments {
  h: Harness;
  /** Agent headers of deployments A and B. */
  a: Record<string, string>;
  b: Record<string, string>;
  dial(headers: Record<string, string>, host: string, to: string): Promise<string>;
}

/** A platform on the given store with deployments A and B registered, for the suite it is called in. */
function platformWithTwoDeployments(store: 'embedded' | 'redis'): TwoDeployments {
  let redis: RedisServer | undefined;
  const ctx = {
    dial: async (headers: Record<string, string>, host: string, to: string) => {
      const res = await call(ctx.h.base, 'POST', PLATFORM_PATHS.dial, { headers, body: { to, stream_url: `wss://${host}/v1/media/live-${to.slice(-4)}-abcdefgh`, stream_auth_token: STREAM_TOKEN } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.call_control_id as string;
    },
  } as TwoDeployments;
  before(async () => {
    if (store === 'redis') redis = await startRedisServer();
    ctx.h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 }, ...(redis ? { redisUrl: redis.url } : {}) });
    ctx.a = agentHeaders(A.id, (await ctx.h.platform.deployments.register(A)).agentSecret);
    ctx.b = agentHeaders(B.id, (await ctx.h.platform.deployments.register(B)).agentSecret);
  });
  after(async () => {
    await ctx.h.close();
    await redis?.stop();
  });
  return ctx;
}

for (const store of ['embedded', 'redis'] as const) describe(`a starting gateway lists its live calls (${store} store)`, { skip: store === 'redis' ? redisUnavailable() : undefined }, () => {
  const ctx = platformWithTwoDeployments(store);
  const { dial } = ctx;
  let h: Harness, a: Record<string, string>, b: Record<string, string>;
  before(() => ({ h, a, b } = ctx));

  async function event(type: string, callId: string, extra: Record<string, unknown> = {}): Promise<void> {
    const fake = h.provider.calls.get(callId)!;
    const res = await postWebhook(h, envelope(type, { call_control_id: callId, from: fake.from, to: fake.to, direction: 'outgoing', ...extra }));
    assert.equal(res.status, 200);
  }

  it('answered and not ended, its own only', async () => {
    const live = await dial(a, A.tunnelHost, '+15551240101');
    const ringing = await dial(a, A.tunnelHost, '+15551240102');
    const ended = await dial(a, A.tunnelHost, '+15551240103');
    const others = await dial(b, B.tunnelHost, '+15551240104');
    for (const id of [live, ended, others]) await event('call.answered', id);
    h.provider.calls.get(ended)!.alive = false;
    await event('call.hangup', ended, { hangup_cause: 'normal_clearing' });

    const listed = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: a });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(ids(listed.body), [live]);
    assert.ok(!ids(listed.body).includes(ringing) && !ids(listed.body).includes(others));
    const view = listed.body.calls[0];
    assert.equal(view.direction, 'outgoing');
    assert.equal(view.from, A.numbers[0]);
    assert.equal(view.state, 'answered');
    assert.equal(typeof view.answered_at, 'string');
    assert.equal('deployment_id' in view || 'timeline' in view, false, 'no internal fields');
    assert.deepEqual(ids((await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: b })).body), [others]);
  });

  it('an old call behind a thousand newer records is found through its live reservation', async () => {
    const old = await dial(a, A.tunnelHost, '+15551240201');
    await event('call.answered', old);
    // Inbound calls first seen before the ringing window: never answered, their callers long gone.
    const longAgo = new Date(Date.now() - RINGING_LISTED_WITHIN_MS - 60_000).toISOString();
    for (let i = 0; i < 1_050; i++) {
      await h.platform.calls.lock(`v3:filler-${i}`, A.id, { direction: 'incoming', from: '+15551249999', to: A.numbers[0]! }, { nowIso: longAgo });
    }
    const listed = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: a });
    assert.equal(listed.status, 200);
    assert.ok(ids(listed.body).includes(old), 'the old call is listed');
    assert.ok(!ids(listed.body).some((id) => id.startsWith('v3:filler-')), 'calls that rang before the window are not');
  });

  it('a dial placed by another platform process, behind 1,050 newer records, is found by paging its records', async () => {
    // As another process (or this one before a restart) would have left it: the call locked to
    // the deployment under a dial reservation this process never saw, the reservation live.
    const callId = 'v3:other-process-dial';
    const reservationId = 'dial-other-process-0001';
    const earlier = new Date(Date.now() - 60_000).toISOString();
    await h.platform.calls.lock(callId, A.id, { direction: 'outgoing', from: A.numbers[0]!, to: '+15551240301' }, { reservationId, nowIso: earlier });
    await h.platform.calls.recordEvent(callId, { direction: 'outgoing', from: A.numbers[0]!, to: '+15551240301' }, { event_type: 'call.answered', occurred_at: new Date().toISOString() });
    await h.platform.caps.admit(A.id, reservationId, { day: 600, month: 6000 });
    const longAgo = new Date(Date.now() - RINGING_LISTED_WITHIN_MS - 30_000).toISOString();
    for (let i = 0; i < 1_050; i++) {
      await h.platform.calls.lock(`v3:newer-${i}`, A.id, { direction: 'incoming', from: '+15551249998', to: A.numbers[0]! }, { nowIso: longAgo });
    }
    const listed = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: a });
    assert.equal(listed.status, 200);
    assert.ok(ids(listed.body).includes(callId), 'found on the second page of records');
  });

  it('refuses strangers, a wrong secret and a bad value', async () => {
    assert.equal((await call(h.base, 'GET', PLATFORM_PATHS.liveCalls)).status, 401);
    assert.equal((await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: agentHeaders(A.id, 'not-the-secret-0123456789abcdef') })).status, 401);
    const claimed = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: { ...b, 'x-ttma-deployment': A.id } });
    assert.equal(claimed.status, 401, 'another deployment\'s secret names nobody');
    for (const bad of ['0', '2', 'yes', '']) {
      const refused = await call(h.base, 'GET', `/v1/signal/calls?live=${bad}`, { headers: a });
      assert.equal(refused.status, 400, `live=${bad}`);
    }
  });
});

for (const store of ['embedded', 'redis'] as const) describe(`a starting gateway lists its ringing calls (${store} store)`, { skip: store === 'redis' ? redisUnavailable() : undefined }, () => {
  const ctx = platformWithTwoDeployments(store);
  const { dial } = ctx;
  let h: Harness, a: Record<string, string>, b: Record<string, string>;
  before(() => ({ h, a, b } = ctx));

  it('inbound calls still ringing within the window, behind a thousand newer ringing ones too', async () => {
    const inbound = (from: string) => ({ direction: 'incoming' as const, from, to: A.numbers[0]! });
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
    // Ringing 90 s: listed. Ringing past the window, answered-then-ended, another deployment's,
    // an outbound dial not answered, an unowned call: not.
    await h.platform.calls.lock('v3:ringing-90s', A.id, inbound('+15551240401'), { nowIso: ago(90_000) });
    await h.platform.calls.lock('v3:ringing-stale', A.id, inbound('+15551240402'), { nowIso: ago(RINGING_LISTED_WITHIN_MS + 5_000) });
    await h.platform.calls.lock('v3:ringing-ended', A.id, inbound('+15551240403'), { nowIso: ago(5_000) });
    await h.platform.calls.recordEvent('v3:ringing-ended', inbound('+15551240403'), { event_type: 'call.hangup', occurred_at: ago(1_000), hangup_cause: 'originator_cancel' });
    await h.platform.calls.lock('v3:ringing-b', B.id, { direction: 'incoming', from: '+15551240404', to: B.numbers[0]! }, { nowIso: ago(5_000) });
    await h.platform.calls.lock('v3:ringing-unowned', null, { direction: 'incoming', from: '+15551240405', to: '+15559999999' }, { nowIso: ago(5_000) });
    const dialled = await dial(a, A.tunnelHost, '+15551240406');
    await h.platform.calls.lock('v3:answered-first', A.id, inbound('+15551240407'), { nowIso: ago(30_000) });
    await h.platform.calls.recordEvent('v3:answered-first', inbound('+15551240407'), { event_type: 'call.answered', occurred_at: ago(29_000) });
    await h.platform.caps.admit(A.id, 'v3:answered-first', { day: 600, month: 6000 });
    for (let i = 0; i < 1_020; i++) await h.platform.calls.lock(`v3:ringing-newer-${i}`, A.id, inbound('+15551240409'), { nowIso: ago(60_000 - i) });

    const listed = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: a });
    assert.equal(listed.status, 200);
    const listedIds = ids(listed.body);
    assert.ok(listedIds.includes('v3:ringing-90s'), 'found on the second page: its page is still inside the window');
    assert.equal(listedIds.filter((id) => id.startsWith('v3:ringing-newer-')).length, 1_020);
    for (const id of ['v3:ringing-stale', 'v3:ringing-ended', 'v3:ringing-b', 'v3:ringing-unowned', dialled]) assert.ok(!listedIds.includes(id), id);
    const view = listed.body.calls.find((c: { call_control_id: string }) => c.call_control_id === 'v3:ringing-90s');
    assert.equal(view.state, 'initiated');
    assert.equal(view.answered_at, null);
    assert.equal(view.direction, 'incoming');
    // Answered calls come first; ringing ones after, the longest waiting first.
    const states = listed.body.calls.map((c: { state: string }) => c.state);
    assert.equal(states.lastIndexOf('answered') < states.indexOf('initiated'), true);
    assert.equal(listed.body.calls[states.indexOf('initiated')].call_control_id, 'v3:ringing-90s');
    assert.ok(listedIds.includes('v3:answered-first'));
    // As B sees it: only its own.
    assert.deepEqual(ids((await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers: b })).body), ['v3:ringing-b']);
  });

});

describe('the live list has its own budget before the deployment\'s rate limit', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 0.001, burst: 1 } });
  });
  after(() => h.close());

  it('three lists are free, the fourth takes the deployment\'s last token, the fifth is paced', async () => {
    const headers = agentHeaders(A.id, (await h.platform.deployments.register(A)).agentSecret);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    const paced = await call(h.base, 'GET', PLATFORM_PATHS.liveCalls, { headers });
    assert.equal(paced.body.error.code, 'TTMA_ERR_RATE_LIMITED');
  });
});
