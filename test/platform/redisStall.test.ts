/**
 * Redis that hangs instead of dying (FAQ-14, issue 5 item 7): a real
 * redis-server is SIGSTOPped under a real platform, then SIGCONTed. A hung
 * server keeps its TCP connections, so commands sent meanwhile time out
 * (commandTimeoutMs) but stay in the socket and run when it resumes. Requests
 * must fail closed in bounded time, live calls continue, and nothing the
 * platform refused may be applied late: a dial refused 503 must not leave a
 * reservation topping up to the cap, and a webhook refused 503 must be taken
 * when the provider retries it. Every STOP is CONTinued in a finally.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, waitFor } from './helpers.js';

const UNIT_MS = 200;
/** A request during the hang must be answered within this (the store's 500 ms command timeout, plus slack for a loaded machine). */
const BOUND_MS = 3_000;

const skip = redisUnavailable();

describe('Redis hung (SIGSTOP) under a platform, then resumed', { skip }, () => {
  let redis: RedisServer;
  let raw: Redis;
  let h: Harness;
  let seq = 0;

  before(async () => {
    redis = await startRedisServer();
    raw = new Redis(redis.url);
    h = await startHarness({ redisUrl: redis.url, capUnitMs: UNIT_MS });
  });
  after(async () => {
    try { process.kill(redis.pid, 'SIGCONT'); } catch { /* already gone */ }
    raw?.disconnect();
    await h?.close();
    await redis?.stop();
  });

  /** Runs `during` with redis-server stopped, then continues it, whatever happens. */
  async function whileHung<T>(during: () => Promise<T>): Promise<T> {
    process.kill(redis.pid, 'SIGSTOP');
    try {
      return await during();
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
  }

  function dial(headers: Record<string, string>, tunnelHost: string) {
    seq += 1;
    return call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers,
      body: { to: '+15557654321', stream_url: `wss://${tunnelHost}/v1/media/stall-${String(seq).padStart(6, '0')}`, stream_auth_token: STREAM_TOKEN },
    });
  }

  it('a dial refused while Redis hangs reserves nothing once it resumes (no phantom call topping up to the cap)', async () => {
    const D = { id: 'stall-dial', numbers: ['+15551510001'], tunnelHost: 'stall-dial.trycloudflare.com', caps: { dayMinutes: 8, monthMinutes: 100 } };
    const headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    // Read once, so the deployment is authenticated from this process's cache during the hang.
    assert.equal((await call(h.base, 'GET', PLATFORM_PATHS.usage, { headers })).status, 200);

    const refused = await whileHung(async () => {
      const started = Date.now();
      const res = await dial(headers, D.tunnelHost);
      const tookMs = Date.now() - started;
      // Held a while longer, so the queued reservation runs well after the platform gave up on it.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return { res, tookMs };
    });
    assert.equal(refused.res.status, 503);
    assert.equal(refused.res.body.error.code, 'TTMA_ERR_STORE_UNAVAILABLE');
    assert.ok(refused.tookMs < BOUND_MS, `refused in ${refused.tookMs} ms`);
    assert.equal(h.provider.calls.size, 0, 'nothing was dialled');

    // Ten units later: a reservation applied late and left live would have topped up to the cap by now.
    await new Promise((resolve) => setTimeout(resolve, 10 * UNIT_MS));
    const usage = await call(h.base, 'GET', PLATFORM_PATHS.usage, { headers });
    assert.deepEqual(usage.body.used, { day_minutes: 0, month_minutes: 0 });
    assert.deepEqual(await raw.zrange(`ttma:{dep:${D.id}}:live`, '0', '-1'), []);
    const after = await dial(headers, D.tunnelHost);
    assert.equal(after.status, 200, JSON.stringify(after.body));
  });

  it('a webhook refused while Redis hangs is taken when the provider retries it, not dropped as a replay', async () => {
    const D = { id: 'stall-hook', numbers: ['+15551510002'], tunnelHost: 'stall-hook.trycloudflare.com' };
    await h.platform.deployments.register(D);
    const callId = 'v3:stall-hook-1';
    const body = envelope('call.initiated', { call_control_id: callId, from: '+15557654321', to: D.numbers[0]!, direction: 'incoming' });
    const first = await whileHung(async () => {
      const started = Date.now();
      const res = await postWebhook(h, body);
      const tookMs = Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return { res, tookMs };
    });
    assert.equal(first.res.status, 503);
    assert.ok(first.tookMs < BOUND_MS, `refused in ${first.tookMs} ms`);

    await waitFor('the store to answer again', async () => (await call(h.base, 'GET', '/readyz')).status === 200, 10_000);
    const retry = await postWebhook(h, body);
    assert.equal(retry.status, 200);
    assert.notEqual(retry.body.duplicate, true, 'the retry was taken for a replay: the event is lost');
    assert.equal((await h.platform.calls.get(callId))?.deploymentId, D.id);
    // Taken once: a further delivery is the replay.
    assert.equal((await postWebhook(h, body)).body.duplicate, true);
  });

  it('while Redis hangs: /readyz says degraded, a live call is still hung up, new calls are refused in bounded time', async () => {
    const D = { id: 'stall-live', numbers: ['+15551510003'], tunnelHost: 'stall-live.trycloudflare.com', caps: { dayMinutes: 100, monthMinutes: 1_000 } };
    const headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    const placed = await dial(headers, D.tunnelHost);
    assert.equal(placed.status, 200);
    const callId = placed.body.call_control_id as string;
    const seen = await whileHung(async () => {
      const started = Date.now();
      const ready = await call(h.base, 'GET', '/readyz');
      const hangup = await call(h.base, 'POST', PLATFORM_PATHS.hangup(callId), { headers, body: {} });
      const refused = await dial(headers, D.tunnelHost);
      return { ready, hangup, refused, tookMs: Date.now() - started };
    });
    assert.equal(seen.ready.status, 503);
    assert.equal(seen.hangup.status, 200, JSON.stringify(seen.hangup.body));
    assert.equal(h.provider.calls.get(callId)?.alive, false);
    assert.equal(seen.refused.status, 503);
    assert.ok(seen.tookMs < 2 * BOUND_MS, `answered in ${seen.tookMs} ms`);
    await waitFor('the store to answer again', async () => (await call(h.base, 'GET', '/readyz')).status === 200, 10_000);
  });
});
