/**
 * What a platform process misses while its Redis subscriptions are down. Pub/sub is at most once:
 * a message published while a subscriber reconnects is never delivered to it. Two processes
 * share a real redis-server; the gateway's control connection is on A. A's subscriptions are cut
 * (CLIENT KILL TYPE pubsub) and kept from coming back (maxclients) while the operator acts
 * through B, then let back. What B's messages would have said must still happen on A:
 * - a secret rotated through B closes A's connection of the old secret (a revocation that fails
 *   open keeps a suspected-compromised gateway connected, receiving the deployment's events);
 * - a cap raised through B lifts the cap on the gateway connected to A (else it refuses every
 *   new call until the cap's period ends).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RedisControlBus } from '../../src/platform/bus/RedisControlBus.js';
import { CLOSE_REVOKED } from '../../src/wire/controlChannel.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { openControl, opened } from './controlClient.js';
import { adminHeaders, agentHeaders, call, startHarness, waitFor, type Harness } from './helpers.js';

describe('a platform process whose Redis subscriptions were down while another changed a deployment', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let raw: Redis;
  let a: Harness;
  let b: Harness;
  let maxClients = '10000';

  before(async () => {
    redis = await startRedisServer();
    raw = new Redis(redis.url);
    maxClients = ((await raw.config('GET', 'maxclients')) as string[])[1] ?? maxClients;
    // A long heartbeat: the connection must be closed for its revocation, not for a missed pong.
    [a, b] = (await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url, controlHeartbeatMs: 60_000 })))) as [Harness, Harness];
  });
  afterEach(async () => {
    await raw.config('SET', 'maxclients', maxClients);
  });
  after(async () => {
    raw?.disconnect();
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  /** Cuts every subscriber (A's and B's) and keeps them out while `during` runs; they reconnect after. */
  async function withSubscribersDown(during: () => Promise<void>): Promise<void> {
    const count = async () => String(await raw.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).split('\n').filter((l) => l.trim() !== '').length;
    // B's subscribers may still be coming back from the previous test's cut (reconnect backoff).
    await waitFor('every subscriber connected', async () => (await count()) >= 4, 8_000).catch(() => undefined);
    const subscribers = await count();
    assert.ok(subscribers >= 4, `each process subscribes twice (deployment changes, control bus): ${subscribers}`);
    const connected = Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))?.[1]);
    // In one transaction, so no subscriber gets back in between: no new connection while these are out.
    await raw.multi().call('CLIENT', 'KILL', 'TYPE', 'pubsub').config('SET', 'maxclients', String(connected - subscribers)).exec();
    try {
      await during();
      // B's messages have been published by now (the operator API publishes before it answers).
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await raw.config('SET', 'maxclients', maxClients);
    }
    await waitFor('A to subscribe again', () => (a.platform.deployments.store as { cacheLive?: boolean }).cacheLive === true && (a.platform.control.bus as RedisControlBus).subscribed, 8_000);
  }

  it('a secret rotated through B closes the connection A holds with the old secret once A subscribes again', async () => {
    const D = { id: 'gap-rotate', numbers: ['+15557780001'], tunnelHost: 'gap-rotate.trycloudflare.com' };
    const { agentSecret } = await a.platform.deployments.register(D);
    const client = opened(await openControl(a.base, agentHeaders(D.id, agentSecret)));
    await client.next('hello');
    try {
      await withSubscribersDown(async () => {
        const rotated = await call(b.base, 'POST', `/v1/admin/deployments/${D.id}/rotate-secret`, { headers: adminHeaders(), body: {} });
        assert.equal(rotated.status, 200);
      });
      const closed = await Promise.race([client.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), 4_000))]);
      assert.equal(closed?.code, CLOSE_REVOKED, 'the connection authenticated with the rotated secret is closed');
      assert.equal(a.platform.control.connections(D.id), 0);
    } finally {
      client.ws.close();
    }
  });

  it('a cap raised through B lifts the cap on the gateway connected to A once A subscribes again', async () => {
    const D = { id: 'gap-cap', numbers: ['+15557780002'], tunnelHost: 'gap-cap.trycloudflare.com', caps: { dayMinutes: 0, monthMinutes: 1000 } };
    const { agentSecret } = await a.platform.deployments.register(D);
    const client = opened(await openControl(a.base, agentHeaders(D.id, agentSecret)));
    try {
      const hello = await client.next('hello');
      assert.equal(hello.type === 'hello' && hello.cap_state.capped, true, 'capped at 0 minutes a day');
      await withSubscribersDown(async () => {
        const raised = await call(b.base, 'PATCH', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 100, monthMinutes: 1000 } } });
        assert.equal(raised.status, 200, JSON.stringify(raised.body));
      });
      const state = await client.next('cap.state', 4_000);
      assert.deepEqual(state, { type: 'cap.state', cap_state: { capped: false } }, 'the gateway is told the cap lifted');
    } finally {
      client.ws.close();
    }
  });
});
