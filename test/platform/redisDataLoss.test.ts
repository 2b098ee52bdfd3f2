/**
 * Redis that comes back without its data (FLUSHALL here; a restart without
 * persistence, a failover to an empty replica do the same) under a running
 * platform: the minute counters are gone, so admitting calls would grant
 * every deployment its caps afresh. The platform must notice (its marker key
 * is gone), refuse new calls and say so on /readyz until it is restarted; a
 * Redis restarted *with* its data (append-only file) must not be taken for a
 * wipe. Real redis-servers, real platforms.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { metricValue } from '../helpers/promText.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, startHarness, type Harness, waitFor } from './helpers.js';

const UNIT_MS = 200;

const skip = redisUnavailable();

describe('Redis losing its data under a running platform', { skip }, () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** A few of the cap timer's passes (four a unit): time for the platform to look at its marker. */
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3 * UNIT_MS));

  let seq = 0;
  function dial(h: Harness, headers: Record<string, string>, tunnelHost: string) {
    seq += 1;
    return call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers,
      body: { to: '+15557654321', stream_url: `wss://${tunnelHost}/v1/media/loss-${String(seq).padStart(6, '0')}`, stream_auth_token: STREAM_TOKEN },
    });
  }

  /** `ttma_store_data_lost` on the admin-only /metrics. */
  async function dataLostFlag(h: Harness): Promise<number | undefined> {
    const res = await fetch(`${h.base}/metrics`, { headers: adminHeaders() });
    assert.equal(res.status, 200);
    return metricValue(await res.text(), 'ttma_store_data_lost');
  }

  async function platformOn(redis: RedisServer): Promise<Harness> {
    const h = await startHarness({ redisUrl: redis.url, capUnitMs: UNIT_MS });
    cleanup.push(() => h.close());
    return h;
  }

  it('flushed: new calls are refused (no fresh minutes) and /readyz says why, until the platform restarts', async () => {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const raw = new Redis(redis.url);
    cleanup.push(async () => raw.disconnect());
    const h = await platformOn(redis);
    const D = { id: 'loss-dep', numbers: ['+15551520001'], tunnelHost: 'loss.trycloudflare.com', caps: { dayMinutes: 3, monthMinutes: 100 } };
    let headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    assert.equal((await dial(h, headers, D.tunnelHost)).status, 200);
    await settle();
    assert.equal(await dataLostFlag(h), 0);

    await raw.flushall();
    await settle();
    // What the operator sees: one error line naming what to do, a flag to alert on.
    const lost = h.lines.filter((l) => l.includes('the store lost its data'));
    assert.equal(lost.length, 1, lost.join('\n'));
    const line = JSON.parse(lost[0]!) as Record<string, unknown>;
    assert.deepEqual([line['level'], line['code']], [50, 'TTMA_ERR_STORE_DATA_LOST']);
    assert.match(String(line['msg']), /Restore Redis from its backup.*re-import the deployments.*restart every platform process/);
    assert.equal(await dataLostFlag(h), 1);
    // The operator re-creates the deployment: its minutes used would start again at 0.
    headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    const refused = await dial(h, headers, D.tunnelHost);
    assert.equal(refused.status, 503, `a call admitted on counters Redis lost: ${JSON.stringify(refused.body)}`);
    assert.equal(refused.body.error.code, 'TTMA_ERR_STORE_DATA_LOST');
    assert.equal(h.provider.calls.size, 1, 'nothing dialled after the loss');
    const ready = await call(h.base, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.match(String(ready.body.reason), /lost its data/);
    assert.equal(ready.body.data_lost, true);
    assert.equal(ready.body.error.code, 'TTMA_ERR_STORE_DATA_LOST', 'not "store unreachable": it does not pass by itself');
    assert.match(String(ready.body.error.message), /Restore Redis from its backup/);
    // Still refused later: the marker written again by this process's next check must not clear it.
    await new Promise((resolve) => setTimeout(resolve, 4 * UNIT_MS));
    assert.equal((await dial(h, headers, D.tunnelHost)).status, 503);
    assert.equal(h.lines.filter((l) => l.includes('the store lost its data')).length, 1, 'said once, not per check');

    // A restarted platform accepts the empty Redis as a fresh start (the operator's call).
    const restarted = await platformOn(redis);
    const placed = await dial(restarted, headers, D.tunnelHost);
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    assert.equal((await call(restarted.base, 'GET', '/readyz')).status, 200);
    assert.equal(await dataLostFlag(restarted), 0);
  });

  it('flushed: a call admitted right after, before the cap timer looks at the marker, is refused too', async () => {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const raw = new Redis(redis.url);
    cleanup.push(async () => raw.disconnect());
    // A unit of a minute: the timer looks at the marker once a second, so the call below comes before it does.
    const h = await startHarness({ redisUrl: redis.url, capUnitMs: 60_000 });
    cleanup.push(() => h.close());
    const D = { id: 'loss-window-dep', numbers: ['+15551520003'], tunnelHost: 'loss-window.trycloudflare.com', caps: { dayMinutes: 1, monthMinutes: 100 } };
    const headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    assert.equal((await dial(h, headers, D.tunnelHost)).status, 200);
    assert.equal((await dial(h, headers, D.tunnelHost)).status, 403, 'at the cap');

    await raw.flushall();
    // The deployment still authenticates from the platform's cache; its counters are gone.
    const refused = await dial(h, headers, D.tunnelHost);
    assert.equal(refused.status, 503, `a call admitted on counters Redis lost: ${JSON.stringify(refused.body)}`);
    assert.match(String(refused.body.error.message), /lost the minutes used/);
    assert.equal(refused.body.error.code, 'TTMA_ERR_STORE_DATA_LOST');
    assert.equal(h.provider.calls.size, 1, 'nothing dialled after the loss');
    assert.equal((await call(h.base, 'GET', '/readyz')).status, 503, 'and /readyz says so at once');
  });

  it('restarted with its data (append-only file): not taken for a wipe', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ttma-redis-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    let redis = await startRedisServer(undefined, { dataDir });
    const port = redis.port;
    cleanup.push(() => redis.stop());
    const h = await platformOn(redis);
    const D = { id: 'kept-dep', numbers: ['+15551520002'], tunnelHost: 'kept.trycloudflare.com', caps: { dayMinutes: 10, monthMinutes: 100 } };
    const headers = agentHeaders(D.id, (await h.platform.deployments.register(D)).agentSecret);
    assert.equal((await dial(h, headers, D.tunnelHost)).status, 200);
    await settle();
    const before = (await call(h.base, 'GET', PLATFORM_PATHS.usage, { headers })).body.used.day_minutes as number;
    assert.ok(before >= 1);

    await redis.kill();
    redis = await startRedisServer(port, { dataDir });
    await waitFor('the platform back on its Redis', async () => (await call(h.base, 'GET', '/readyz')).status === 200, 10_000);
    const placed = await dial(h, headers, D.tunnelHost);
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    // The minutes used before the restart are still counted (the first call keeps topping up too).
    const after = (await call(h.base, 'GET', PLATFORM_PATHS.usage, { headers })).body.used.day_minutes as number;
    assert.ok(after >= before + 1, `${before} minutes before the restart, ${after} after`);
  });
});
