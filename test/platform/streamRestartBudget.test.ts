/**
 * A live call's own budget for new media streams: it pays only for a call
 * locked to the asking deployment and answered, up to its burst; anything
 * else (another deployment's call, an unknown, ringing or ended one, an empty
 * bucket, a store that throws) says "charge the deployment", never "free".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import { StreamRestartBudget } from '../../src/platform/StreamRestartBudget.js';
import type { CallStore } from '../../src/platform/store/CallStore.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { MemoryRateLimitStore } from '../../src/platform/store/MemoryRateLimitStore.js';
import { RedisRateLimitStore } from '../../src/platform/store/RedisRateLimitStore.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const log = createLogger('test', 'silent');
const inbound = { direction: 'incoming' as const, from: '+15550000001', to: '+15550000002' };

async function liveCall(calls: CallRegistry, id: string, deploymentId: string | null, events: string[]): Promise<void> {
  await calls.lock(id, deploymentId, inbound);
  for (const event_type of events) await calls.recordEvent(id, inbound, { event_type, occurred_at: new Date().toISOString() });
}

describe('StreamRestartBudget', () => {
  it("pays for the deployment's own answered call up to its burst, then refills at its rate", async () => {
    let nowMs = 0;
    const calls = new CallRegistry();
    const budget = new StreamRestartBudget({ calls, store: new MemoryRateLimitStore({ ratePerSec: 0.05, burst: 3 }, () => nowMs), log });
    await liveCall(calls, 'v3:live', 'dep-a', ['call.initiated', 'call.answered']);
    await liveCall(calls, 'v3:other', 'dep-a', ['call.initiated', 'call.answered']);
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map(() => budget.take('dep-a', 'v3:live'))), [true, true, true, false]);
    assert.equal(await budget.take('dep-a', 'v3:other'), true, "each call has its own bucket");
    nowMs += 19_000;
    assert.equal(await budget.take('dep-a', 'v3:live'), false, 'one token back every 20 s, not sooner');
    nowMs += 1_000;
    assert.equal(await budget.take('dep-a', 'v3:live'), true);
  });

  it("never pays for another deployment's call, an unknown, unlocked, ringing or ended call", async () => {
    const calls = new CallRegistry();
    const budget = new StreamRestartBudget({ calls, store: new MemoryRateLimitStore({ ratePerSec: 1, burst: 10 }), log });
    await liveCall(calls, 'v3:theirs', 'dep-b', ['call.initiated', 'call.answered']);
    await liveCall(calls, 'v3:ringing', 'dep-a', ['call.initiated']);
    await liveCall(calls, 'v3:ended', 'dep-a', ['call.initiated', 'call.answered', 'call.hangup']);
    await liveCall(calls, 'v3:unowned', null, ['call.initiated', 'call.answered']);
    await calls.recordEvent('v3:unlocked', inbound, { event_type: 'call.answered', occurred_at: new Date().toISOString() });
    for (const id of ['v3:theirs', 'v3:ringing', 'v3:ended', 'v3:unowned', 'v3:unlocked', 'v3:unknown']) {
      assert.equal(await budget.take('dep-a', id), false, id);
    }
  });

  it('a call store or bucket store that fails charges the deployment instead (never free)', async () => {
    const broken = new MemoryCallStore() as CallStore;
    broken.get = () => Promise.reject(new Error('store down'));
    const viaCalls = new StreamRestartBudget({ calls: new CallRegistry({ store: broken }), store: new MemoryRateLimitStore(), log });
    assert.equal(await viaCalls.take('dep-a', 'v3:live'), false);

    const calls = new CallRegistry();
    await liveCall(calls, 'v3:live', 'dep-a', ['call.initiated', 'call.answered']);
    // Nothing listens on port 1: every command fails fast.
    const unreachable = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'ttma:restart', commandTimeoutMs: 200 });
    try {
      const viaBuckets = new StreamRestartBudget({ calls, store: unreachable, log });
      assert.equal(await viaBuckets.take('dep-a', 'v3:live'), false);
    } finally {
      await unreachable.close();
    }
  });

  it("keeps its Redis buckets apart from the deployments' (its own key prefix)", () => {
    const deployments = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1' });
    const restarts = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'ttma:restart' });
    try {
      assert.notEqual(deployments.keyOf('v3:x'), restarts.keyOf('v3:x'));
      assert.match(restarts.keyOf('v3:x'), /^ttma:restart:\{rl:v3:x\}:bucket$/);
    } finally {
      void deployments.close();
      void restarts.close();
    }
  });
});

describe('a gateway flooding streaming_start (through the platform, FAQ-13/14)', () => {
  const A = { id: 'dep-a', numbers: ['+15551110001'], tunnelHost: 'gw-a.approved.example' };
  const B = { id: 'dep-b', numbers: ['+15552220002'], tunnelHost: 'gw-b.approved.example' };
  let h: Harness;
  let secretA = '';

  before(async () => {
    // A deployment bucket of 2 that practically never refills; each call's own budget of 3.
    h = await startHarness({ approvedTunnelDomains: ['approved.example'], rateLimit: { ratePerSec: 0.001, burst: 2 }, streamRestartBudget: { ratePerSec: 0.001, burst: 3 } });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
    await h.platform.deployments.register(B);
    const calls = [['v3:a-live', A.numbers[0]!, true], ['v3:a-ringing', A.numbers[0]!, false], ['v3:b-live', B.numbers[0]!, true]] as const;
    for (const [id, to, answered] of calls) {
      h.provider.calls.set(id, { direction: 'incoming', from: '+15550009999', to, alive: true });
      await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550009999', to, direction: 'incoming' }));
      if (answered) await postWebhook(h, envelope('call.answered', { call_control_id: id, from: '+15550009999', to, direction: 'incoming' }));
    }
  });
  after(() => h.close());

  const restart = (callId: string) =>
    call(h.base, 'POST', PLATFORM_PATHS.streamingStart(callId), { headers: agentHeaders(A.id, secretA), body: { stream_url: `wss://${A.tunnelHost}/v1/media/${callId}`, stream_auth_token: STREAM_TOKEN } });

  it("pays 3 from the live call's own budget, then 2 from the deployment's, then refuses 429; other calls never draw on a call's budget", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await restart('v3:a-live')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.equal(h.provider.commands('streaming_start').length, 5, 'five relayed, no more');
    const refused = await restart('v3:a-live');
    assert.equal(refused.body.error.code, 'TTMA_ERR_RATE_LIMITED');
    // The deployment's bucket is spent: a ringing call of its own and another deployment's live call get nothing free.
    assert.equal((await restart('v3:a-ringing')).status, 429);
    assert.equal((await restart('v3:b-live')).status, 429, 'charged to the asking deployment before any ownership check');
    assert.equal(h.provider.commands('streaming_start').length, 5);
  });
});
