/**
 * Cap states that reach a gateway out of order. A cap state is read, then published: a read made
 * just before the operator raised the cap can be sent after the raise's "not capped", by another
 * platform process (through the control bus) or by the same one (two reads in flight). The gateway
 * then keeps the older "capped" and refuses every new call until the cap's period ends. The
 * platform re-sends the state, read anew, to connections it last told "capped", each heartbeat.
 * Real redis-server, two real platforms, a raw control connection on B. Time is counted in the
 * heartbeat pings B sends on that connection, not in milliseconds: on a loaded machine a heartbeat
 * runs late, and a re-send read around the raise may land after it (both seen under load).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CapState } from '../../src/wire/controlChannel.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import WebSocket from 'ws';
import { openControl, opened, type Opened } from './controlClient.js';
import { adminHeaders, agentHeaders, call, startHarness, type Harness } from './helpers.js';

const HEARTBEAT_MS = 300;
/** Ends a wait that counts heartbeats, should the platform stop sending them. */
const DEADLINE_MS = 30_000;

/** Resolves once the platform has sent `n` more heartbeat pings on `ws`. */
function heartbeats(ws: WebSocket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => done(new Error(`fewer than ${n} heartbeats within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    // A wait that lost its race (capStateWithin) must not hold the test process open.
    timer.unref();
    const onPing = () => {
      if (++seen >= n) done();
    };
    const done = (error?: Error) => {
      clearTimeout(timer);
      ws.off('ping', onPing);
      if (error) reject(error);
      else resolve();
    };
    ws.on('ping', onPing);
  });
}

/** The cap states the connection received and nobody took yet, taken. */
function takeCapStates(client: Opened): CapState[] {
  const taken: CapState[] = [];
  for (let i = client.messages.length - 1; i >= 0; i--) {
    const message = client.messages[i];
    if (message?.type !== 'cap.state') continue;
    taken.unshift(message.cap_state);
    client.messages.splice(i, 1);
  }
  return taken;
}

/** The next cap state, if one comes before `n` more heartbeats; null if none does. */
function capStateWithin(client: Opened, n: number): Promise<CapState | null> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const index = client.messages.findIndex((m) => m.type === 'cap.state');
      const found = client.messages[index];
      if (found?.type !== 'cap.state') return;
      client.messages.splice(index, 1);
      client.ws.off('message', look);
      resolve(found.cap_state);
    };
    client.ws.on('message', look);
    look();
    heartbeats(client.ws, n).then(() => {
      client.ws.off('message', look);
      resolve(null);
    }, reject);
  });
}

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
        // A heartbeat re-send read before the raise ("capped") or after it (a second "not capped") may
        // land around the raise's notice: take them until three heartbeats pass with none.
        const told: CapState[] = [];
        for (let round = 0; round < 10; round++) {
          await heartbeats(client.ws, 3);
          const batch = takeCapStates(client);
          told.push(...batch);
          if (batch.length === 0 && told.length > 0) break;
        }
        assert.deepEqual(told.at(-1), { capped: false }, `the raise is told: ${JSON.stringify(told)}`);
        (late === 'A' ? a : b).platform.control.notify(D.id, { type: 'cap.state', cap_state: stale });
        assert.deepEqual(await client.next('cap.state'), { type: 'cap.state', cap_state: stale }, 'the stale state lands last');

        const corrected = await capStateWithin(client, 6);
        assert.deepEqual(corrected, { capped: false }, 'corrected within 6 heartbeats');
        // Once told "not capped", nothing more is re-sent.
        await heartbeats(client.ws, 4);
        assert.equal(client.messages.filter((m) => m.type === 'cap.state').length, 0, JSON.stringify(client.messages));
      } finally {
        client.ws.close();
      }
    });
  }
});
