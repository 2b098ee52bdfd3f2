/**
 * Redis that comes back without its data (FLUSHALL here; a restart without
 * persistence, a failover to an empty replica do the same) under a running
 * platform: the minute counters are gone, so admitting calls would grant
 * every deployment its caps afresh. The platform must notice (its marker key
 * is gone), refuse new calls and say so on /readyz until it is restarted; a
 * Redis restarted *with* its data (append-only file) must not be taken for a
 * wipe. The operator gets the deployments back without any customer reinstalling: its export
 * (admin token; secrets as SHA-256 digests only) imported into the emptied Redis, then the platform
 * restarted, authenticates every gateway with the secret it already holds.
 * Real redis-servers, real platforms.
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
const EXPORT = '/v1/admin/deployments-export';
const IMPORT = '/v1/admin/deployments-import';
const SECRET = 'transfer-secret-0123456789abcdefghijklmnopqrstuv';

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

  /** A redis-server with no persistence and a client of the test's own to flush it, both cleaned up. */
  async function flushableRedis(): Promise<{ redis: RedisServer; raw: Redis }> {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const raw = new Redis(redis.url);
    cleanup.push(async () => raw.disconnect());
    return { redis, raw };
  }

  it('flushed: new calls are refused (no fresh minutes) and /readyz says why, until the platform restarts', async () => {
    const { redis, raw } = await flushableRedis();
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
    assert.match(String(line['msg']), /Restore Redis from its backup.*import the deployments .*\/v1\/admin\/deployments-import.*restart every platform process/);
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
    const { redis, raw } = await flushableRedis();
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

  it('deployments exported with digests only, imported into the emptied Redis: gateways authenticate with the secrets they hold', async () => {
    const { redis, raw } = await flushableRedis();
    const h = await platformOn(redis);
    const A = {
      id: 'transfer-a', numbers: ['+15551530001', '+15551530002'], tunnelHost: 'transfer-a.trycloudflare.com', agentSecret: SECRET,
      caps: { dayMinutes: 7, monthMinutes: 70 }, recording: false, dialPolicy: { allowPrefixes: ['+1555'] },
    };
    const B = { id: 'transfer-b', numbers: ['+15551530003'], tunnelHost: 'transfer-b.trycloudflare.com' };
    await h.platform.deployments.register(A);
    const secretB = (await h.platform.deployments.register(B)).agentSecret;
    await h.platform.deployments.setDisabled(B.id, true);

    for (const [method, path] of [['GET', EXPORT], ['POST', IMPORT]] as const) {
      assert.equal((await call(h.base, method, path, method === 'POST' ? { body: {} } : {})).status, 401, `${path} without the admin token`);
    }
    const exported = await call(h.base, 'GET', EXPORT, { headers: adminHeaders() });
    assert.equal(exported.status, 200);
    assert.equal(exported.body.version, 1);
    const text = JSON.stringify(exported.body);
    assert.ok(!text.includes(SECRET) && !text.includes(secretB), 'no secret in the export');
    const records = exported.body.deployments as Array<Record<string, unknown>>;
    assert.deepEqual(records.map((r) => r['id']).sort(), [A.id, B.id]);
    for (const r of records) assert.match(String(r['agentSecretSha256']), /^[0-9a-f]{64}$/);

    // Only a process that saw the marker can tell a wipe (its cap timer writes it at its first look).
    await waitFor('the marker written', async () => (await raw.exists('ttma:{meta}:epoch')) === 1, 5_000);
    await raw.flushall();
    await waitFor('the platform to notice', async () => (await call(h.base, 'GET', '/readyz')).body.data_lost === true, 5_000);
    assert.equal((await call(h.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(A.id, SECRET) })).status, 401, 'gone with the data');

    for (const record of records) {
      const res = await call(h.base, 'POST', IMPORT, { headers: adminHeaders(), body: record });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const again = await call(h.base, 'POST', IMPORT, { headers: adminHeaders(), body: records[0] });
    assert.deepEqual([again.status, again.body.error.code], [409, 'TTMA_ERR_CONFLICT'], 'an import never overwrites');
    const malformed = await call(h.base, 'POST', IMPORT, { headers: adminHeaders(), body: { ...records[0], id: 'transfer-c', agentSecretSha256: 'nothex' } });
    assert.deepEqual([malformed.status, malformed.body.error.code], [400, 'TTMA_ERR_BAD_REQUEST']);

    // The operator restarts the platform (accepting the emptied Redis, now with the deployments back).
    const next = await platformOn(redis);
    assert.equal((await call(next.base, 'GET', '/readyz')).status, 200);
    assert.equal((await call(next.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(A.id, SECRET) })).status, 200, 'the secret the gateway holds');
    const dialled = await call(next.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(A.id, SECRET),
      body: { to: '+15557654321', from: A.numbers[1], stream_url: `wss://${A.tunnelHost}/v1/media/transfer-000001`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
    const refused = await call(next.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(B.id, secretB) });
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'TTMA_ERR_DEPLOYMENT_DISABLED'], 'still disabled');
    const reexported = await call(next.base, 'GET', EXPORT, { headers: adminHeaders() });
    const byId = (list: Array<Record<string, unknown>>) => Object.fromEntries(list.map((r) => [r['id'], r]));
    assert.deepEqual(byId(reexported.body.deployments), byId(records), 'everything as it was');
  });
});
