/**
 * Cap states that reach a gateway out of order. A cap state is read, then published: a read made
 * just before the operator raised the cap can be sent after the raise's "not capped", by another
 * platform process (through the control bus) or by the same one (two reads in flight). The gateway
 * then keeps the older "capped" and refuses every new call until the cap's period ends. The
 * platform re-sends the state, read anew, to connections it last told "capped", each heartbeat.
 * Real redis-server, two real platforms, a raw control connection on B.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CapState, PlatformControlMessage } from '../../src/wire/controlChannel.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { openControl, opened } from './controlClient.js';
import { adminHeaders, agentHeaders, call, startHarness, type Harness } from './helpers.js';

const HEARTBEAT_MS = 300;

describe('a stale "capped" published after the operator raised the cap', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let a: Harness;
  let b: Harness;
  before(async () => {
    redis = await startRedisServer();
    [a, b] = (await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url, controlHeartbeatMs: HEARTBEAT_MS })))) as [Harness, Harness];
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  for (const late of ['A', 'B'] as const) {
    it(`sent by ${late === 'A' ? 'another process' : 'the connection\'s own process'}: the gateway on B is told "not capped" again within a few heartbeats`, async () => {
      const D = { id: `order-${late.toLowerCase()}`, numbers: [late === 'A' ? '+15557790001' : '+15557790002'], tunnelHost: `order-${late.toLowerCase()}.trycloudflare.com`, caps: { dayMinutes: 0, monthMinutes: 1000 } };
      const { agentSecret } = await a.platform.deployments.register(D);
      const client = opened(await openControl(b.base, agentHeaders(D.id, agentSecret)));
      try {
        const hello = await client.next('hello');
        assert.ok(hello.type === 'hello' && hello.cap_state.capped, 'capped at 0 minutes a day');
        // What a process read before the raise, and publishes after it.
        const stale: CapState = hello.cap_state;
        const raised = await call(a.base, 'PATCH', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 100, monthMinutes: 1000 } } });
        assert.equal(raised.status, 200, JSON.stringify(raised.body));
        assert.deepEqual(await client.next('cap.state'), { type: 'cap.state', cap_state: { capped: false } }, 'the raise is told');
        (late === 'A' ? a : b).platform.control.notify(D.id, { type: 'cap.state', cap_state: stale });
        assert.deepEqual(await client.next('cap.state'), { type: 'cap.state', cap_state: stale }, 'the stale state lands last');

        const corrected: PlatformControlMessage = await client.next('cap.state', 6 * HEARTBEAT_MS);
        assert.deepEqual(corrected, { type: 'cap.state', cap_state: { capped: false } });
        // Once told "not capped", nothing more is re-sent.
        await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
        assert.equal(client.messages.filter((m) => m.type === 'cap.state').length, 0, JSON.stringify(client.messages));
      } finally {
        client.ws.close();
      }
    });
  }
});
