/**
 * While Redis is unreachable a platform process authenticates a deployment from the copy it last
 * read (so a gateway can still hang up its live calls). A deployment disabled or rotated through
 * another process must not authenticate from the copy read before the change: that copy is known
 * to be wrong once the change message came. Two platforms on a real redis-server, which is then
 * killed; raw control connections (their upgrade needs no store once the deployment is known).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { openControl, opened } from './controlClient.js';
import { adminHeaders, agentHeaders, call, startHarness, type Harness } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a deployment changed through another process, then Redis unreachable', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let a: Harness;
  let b: Harness;
  before(async () => {
    redis = await startRedisServer();
    [a, b] = (await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url })))) as [Harness, Harness];
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('the old secret of a disabled, then rotated, deployment opens no control connection on the other process', async () => {
    const D = { id: 'stale-copy', numbers: ['+15557790001'], tunnelHost: 'stale-copy.trycloudflare.com' };
    const { agentSecret } = await b.platform.deployments.register(D);
    // A reads the deployment (and keeps a copy) by authenticating a connection, closed again.
    const first = opened(await openControl(a.base, agentHeaders(D.id, agentSecret)));
    await first.next('hello');
    first.ws.close();
    await first.closed;
    assert.equal((await call(b.base, 'POST', `/v1/admin/deployments/${D.id}/disable`, { headers: adminHeaders(), body: {} })).status, 200);
    assert.equal((await call(b.base, 'POST', `/v1/admin/deployments/${D.id}/rotate-secret`, { headers: adminHeaders(), body: {} })).status, 200);
    await sleep(300); // the change messages reach A
    await redis.kill();
    const attempt = await openControl(a.base, agentHeaders(D.id, agentSecret));
    if ('ws' in attempt) {
      attempt.ws.close();
      assert.fail('a control connection opened with the secret of a disabled and rotated deployment');
    }
    assert.equal(attempt.status, 503, JSON.stringify(attempt.body));
  });
});
