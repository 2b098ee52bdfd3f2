/**
 * Two platform processes on one Redis share what used to be per process
 * (FAQ-05, FAQ-14): one deployment's rate-limit budget (not N times it), and
 * the webhook replay cache (an event verified by one process is a duplicate
 * for the other). With the embedded stores each process keeps its own, which
 * the last case shows, so the Redis cases can fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { ADMIN_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, until, type Harness } from './helpers.js';

const D = { id: 'shared-dep', numbers: ['+15551440001'], tunnelHost: 'shared.trycloudflare.com' };
/** A budget that does not refill within the test. */
const BUDGET = { ratePerSec: 0.001, burst: 24 };

const skip = redisUnavailable();

/** Fires `n` authenticated requests at each platform, interleaved; statuses per platform. */
async function spend(platforms: Harness[], headers: Record<string, string>, n: number): Promise<number[][]> {
  const statuses = platforms.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    await Promise.all(platforms.map(async (p, k) => {
      const res = await call(p.base, 'GET', PLATFORM_PATHS.usage, { headers });
      statuses[k]!.push(res.status);
      if (res.status === 429) {
        assert.equal(res.body.error.code, 'TTMA_ERR_RATE_LIMITED');
        assert.ok(Number(res.headers.get('retry-after')) >= 1);
      }
    }));
  }
  return statuses;
}

describe('two platform processes on one Redis', { skip }, () => {
  let redis: RedisServer;
  const harnesses: Harness[] = [];
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    for (const h of harnesses) await h.close();
    await redis?.stop();
  });

  it("share one deployment's rate-limit budget", async () => {
    const [p1, p2] = await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url, rateLimit: BUDGET })));
    harnesses.push(p1!, p2!);
    const headers = agentHeaders(D.id, (await p1!.platform.deployments.register(D)).agentSecret);
    const statuses = await spend([p1!, p2!], headers, 20);
    const ok = statuses.flat().filter((s) => s === 200).length;
    // 40 requests against a 24-token budget: per-process buckets would allow all 40. A lease (3 tokens
    // for a burst of 24) left unspent by a process is the most that can go unused.
    assert.ok(ok <= BUDGET.burst && ok >= BUDGET.burst - 2 * 3, `granted ${ok} of ${BUDGET.burst}`);
    assert.deepEqual(new Set(statuses.flat()), new Set([200, 429]));
    assert.ok(statuses.every((s) => s.includes(200)), 'both processes drew on the budget');
  });

  it('an event verified by one process is a duplicate for the other, and the window is in Redis', async () => {
    const [p1, p2] = await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url })));
    harnesses.push(p1!, p2!);
    const body = envelope('call.initiated', { call_control_id: 'v3:shared-replay', from: '+15550001111', to: '+15551449999', direction: 'incoming' });
    // Each harness has its own provider key pair, so each copy is signed for the process it goes to.
    const first = await postWebhook(p1!, body);
    assert.deepEqual([first.status, first.body], [200, { ok: true }]);
    const replayedOnP2 = await postWebhook(p2!, body);
    assert.deepEqual([replayedOnP2.status, replayedOnP2.body], [200, { ok: true, duplicate: true }]);
  });

  it("share dashboard sign-in: a link issued by one is redeemed at the other, and a rotated secret ends the session on both", async () => {
    const [p1, p2] = await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url })));
    harnesses.push(p1!, p2!);
    const dep = { ...D, id: 'shared-dash', numbers: ['+15551440002'], tunnelHost: 'shared-dash.trycloudflare.com' };
    const secret = (await p1!.platform.deployments.register(dep)).agentSecret;
    const link = await call(p1!.base, 'POST', PLATFORM_PATHS.dashboardLink, { headers: agentHeaders(dep.id, secret), body: {} });
    assert.equal(link.status, 200);
    const code = new URLSearchParams((link.body.path as string).split('?')[1]).get('code')!;
    const form = (base: string) => ({ 'content-type': 'application/x-www-form-urlencoded', origin: base.replace(/\/$/, '') });
    const signIn = await fetch(`${p2!.base}/v1/dashboard/login`, { method: 'POST', redirect: 'manual', headers: form(p2!.base), body: `code=${code}` });
    assert.equal(signIn.status, 303, 'redeemed at the other process');
    const again = await fetch(`${p1!.base}/v1/dashboard/login`, { method: 'POST', redirect: 'manual', headers: form(p1!.base), body: `code=${code}` });
    assert.equal(again.status, 401, 'and only once, wherever');
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    for (const p of [p1!, p2!]) assert.equal((await fetch(`${p.base}/v1/dashboard/`, { headers: { cookie } })).status, 200);
    // The operator's session is shared the same way.
    const operator = await fetch(`${p1!.base}/v1/admin/login`, { method: 'POST', redirect: 'manual', headers: form(p1!.base), body: `token=${ADMIN_TOKEN}` });
    const operatorCookie = (operator.headers.get('set-cookie') ?? '').split(';')[0]!;
    assert.equal((await fetch(`${p2!.base}/v1/admin/history.json`, { headers: { cookie: operatorCookie } })).status, 200);

    await p1!.platform.deployments.rotateSecret(dep.id);
    await until('the session ended on both processes', async () => {
      const statuses = await Promise.all([p1!, p2!].map(async (p) => (await fetch(`${p.base}/v1/dashboard/`, { headers: { cookie } })).status));
      return statuses.every((s) => s === 401) ? true : undefined;
    });
  });

  it('with the embedded stores (no Redis) each process has its own budget and replay cache', async () => {
    const [p1, p2] = await Promise.all([0, 1].map(() => startHarness({ rateLimit: BUDGET })));
    harnesses.push(p1!, p2!);
    const secret = (await p1!.platform.deployments.register(D)).agentSecret;
    await p2!.platform.deployments.register({ ...D, agentSecret: secret });
    const statuses = await spend([p1!, p2!], agentHeaders(D.id, secret), 20);
    assert.deepEqual(statuses.map((s) => s.filter((x) => x === 200).length), [20, 20]);
    const body = envelope('call.initiated', { call_control_id: 'v3:local-replay', from: '+15550001111', to: '+15551449999', direction: 'incoming' });
    assert.deepEqual((await postWebhook(p1!, body)).body, { ok: true });
    assert.deepEqual((await postWebhook(p2!, body)).body, { ok: true }, 'not seen by the other process');
    assert.deepEqual((await postWebhook(p1!, body)).body, { ok: true, duplicate: true }, 'still a duplicate where it was seen');
  });
});
