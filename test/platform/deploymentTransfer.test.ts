/**
 * Deployments back after Redis lost its data, without any customer reinstalling: the operator's
 * export (admin token; secrets as SHA-256 digests only) imported into the emptied Redis, then the
 * platform restarted, authenticates every gateway with the secret it already holds, with its
 * numbers, tunnel host, caps, recording flag, dial policy and disabled flag as they were.
 * Real redis-server, real platforms.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, startHarness, type Harness, waitFor } from './helpers.js';

const EXPORT = '/v1/admin/deployments-export';
const IMPORT = '/v1/admin/deployments-import';
const SECRET = 'transfer-secret-0123456789abcdefghijklmnopqrstuv';

describe('deployment export and import after Redis lost its data', { skip: redisUnavailable() }, () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  async function platformOn(url: string): Promise<Harness> {
    const h = await startHarness({ redisUrl: url, capUnitMs: 200 });
    cleanup.push(() => h.close());
    return h;
  }

  it('exported with digests only, imported into the emptied Redis: gateways authenticate with the secrets they hold', async () => {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const raw = new Redis(redis.url);
    cleanup.push(async () => raw.disconnect());
    const h = await platformOn(redis.url);
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
    const next = await platformOn(redis.url);
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
