/**
 * A live call's own budget for new media streams: it pays only for a call
 * locked to the asking deployment and answered, up to its burst; anything
 * else (another deployment's call, an unknown, ringing or ended one, an empty
 * bucket, a store that throws) says "charge the deployment", never "free".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import { StreamRestartBudget } from '../../src/platform/StreamRestartBudget.js';
import type { CallStore } from '../../src/platform/store/CallStore.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { MemoryRateLimitStore } from '../../src/platform/store/MemoryRateLimitStore.js';
import { RedisRateLimitStore } from '../../src/platform/store/RedisRateLimitStore.js';

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
