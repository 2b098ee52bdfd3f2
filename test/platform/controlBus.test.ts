/**
 * The control bus between platform processes on one Redis (src/platform/bus): what one process
 * pushes to a deployment's gateways reaches the connections another holds, exactly once each; a
 * malformed or oversized message on the channel is dropped and counted; Redis going away leaves
 * local delivery as it was, and the publish failures are logged once. Real redis-server, real
 * platforms, raw control connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RedisControlBus } from '../../src/platform/bus/RedisControlBus.js';
import { BUS_MAX_BYTES, encodeBusMessage } from '../../src/platform/bus/busMessage.js';
import type { PlatformControlMessage } from '../../src/wire/controlChannel.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { openControl, opened, type Opened } from './controlClient.js';
import { agentHeaders, startHarness, waitFor, type Harness } from './helpers.js';

const DEP = { id: 'bus-dep', numbers: ['+15551450001'], tunnelHost: 'bus-dep.trycloudflare.com' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Messages of the relayed and notice kinds a client has been sent so far. */
function pushed(client: Opened): PlatformControlMessage[] {
  return client.messages.filter((m) => m.type === 'provider.event' || m.type === 'cap.state' || m.type === 'cap.reached');
}

describe('the control bus between two platform processes on one Redis', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let a: Harness;
  let b: Harness;
  let onA: Opened;
  let onB: Opened;
  before(async () => {
    redis = await startRedisServer();
    [a, b] = (await Promise.all([0, 1].map(() => startHarness({ redisUrl: redis.url })))) as [Harness, Harness];
    const { agentSecret } = await a.platform.deployments.register(DEP);
    onA = opened(await openControl(a.base, agentHeaders(DEP.id, agentSecret)));
    onB = opened(await openControl(b.base, agentHeaders(DEP.id, agentSecret)));
    await Promise.all([onA.next('hello'), onB.next('hello')]);
  });
  after(async () => {
    onA?.ws.close();
    onB?.ws.close();
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a relayed event and a cap notice from A reach the connection on B, and each connection gets one copy', async () => {
    const body = Buffer.from(JSON.stringify({ data: { id: 'evt-bus-1', event_type: 'call.hangup' } }));
    assert.equal(a.platform.control.relayWebhook(DEP.id, 'c2lnbmF0dXJl', '1700000000', body), 1, 'sent to the connection on A');
    const relayed = await onB.next('provider.event');
    assert.deepEqual(relayed, { type: 'provider.event', signature: 'c2lnbmF0dXJl', timestamp: '1700000000', body_base64: body.toString('base64') });
    assert.equal(a.platform.control.notify(DEP.id, { type: 'cap.state', cap_state: { capped: true, cap: 'day', until: '2030-01-01T00:00:00.000Z', message: 'cap' } }), 1);
    assert.deepEqual(await onB.next('cap.state'), { type: 'cap.state', cap_state: { capped: true, cap: 'day', until: '2030-01-01T00:00:00.000Z', message: 'cap' } });
    // A's own messages come back to A from Redis (B's copies came through the same channel already):
    // skipped, not delivered a second time.
    await sleep(150);
    assert.equal(pushed(onA).length, 2, `A's connection got each once: ${JSON.stringify(pushed(onA))}`);
    assert.equal(a.platform.control.bus.counters.ownSkipped, 2);
    assert.equal(pushed(onB).length, 0, 'B delivered each once (both taken by next())');
    assert.equal(b.platform.control.counters.busDelivered, 2);
    assert.equal(a.platform.control.counters.busDelivered, 0);
    assert.equal(b.platform.control.backlog.size, 0, 'B holds no copy');
  });

  it('with no connection on A, A holds the event for its next one and B delivers it; B holds nothing', async () => {
    onA.ws.close();
    await waitFor('A to forget its connection', () => a.platform.control.connections(DEP.id) === 0);
    const held = a.platform.control.counters.webhooksHeld;
    const body = Buffer.from(JSON.stringify({ data: { id: 'evt-bus-2', event_type: 'call.hangup' } }));
    assert.equal(a.platform.control.relayWebhook(DEP.id, 'c2ln', '1700000001', body), 0);
    assert.equal(a.platform.control.counters.webhooksHeld, held + 1, 'A cannot know B delivered it: held as before');
    assert.equal((await onB.next('provider.event')).type, 'provider.event');
    assert.equal(b.platform.control.backlog.size, 0);
  });

  it('a malformed, oversized, unknown or self-styled message published straight to the channel is dropped and counted', async () => {
    const bus = b.platform.control.bus as RedisControlBus;
    const raw = new Redis(redis.url);
    const droppedBefore = bus.counters.dropped;
    const event = { type: 'provider.event' as const, signature: 'c2ln', timestamp: '1700000002', body_base64: 'e30=' };
    const envelope = (fields: Record<string, unknown>) => JSON.stringify({ v: 1, from: 'intruder', deployment: DEP.id, message: event, ...fields });
    const bad = [
      'not json',
      '["v", 1]',
      envelope({ v: 2 }),
      envelope({ from: '' }),
      envelope({ deployment: '../etc' }),
      envelope({ message: { type: 'hello', deployment: DEP.id, cap_state: { capped: false }, heartbeat_ms: 1 } }),
      envelope({ message: { type: 'usage.ack', call_control_id: 'v3:x', ok: true, flags: [] } }),
      envelope({ message: { ...event, body_base64: 'A'.repeat(90_000) } }),
      envelope({ message: { type: 'cap.reached', cap: 'day', call_control_id: 'bad id with spaces', ending_in_ms: 0, message: 'm' } }),
      // Oversized even though well formed (a body no relay could carry): dropped before it is parsed.
      envelope({ padding: 'x'.repeat(BUS_MAX_BYTES) }),
    ];
    try {
      for (const message of bad) await raw.publish(bus.channel, message);
      // Extra fields ride nowhere: the message is rebuilt from the fields the gateway knows.
      await raw.publish(bus.channel, encodeBusMessage({ from: 'another-process', deploymentId: DEP.id, message: { ...event, extra: 'x' } as typeof event }));
    } finally {
      raw.disconnect();
    }
    const delivered = await onB.next('provider.event');
    assert.deepEqual(delivered, event, 'the good one came, without the extra field');
    assert.equal(bus.counters.dropped, droppedBefore + bad.length);
    assert.equal(pushed(onB).length, 0, 'nothing else reached the gateway');
    assert.equal(b.lines.filter((l) => l.includes('control bus: dropped')).length, 1, 'logged once, counted each time');
  });
});

describe('the control bus while Redis is unreachable', { skip: redisUnavailable() }, () => {
  it('local delivery goes on; the publish failures are counted and logged once, and publishing resumes with Redis', async () => {
    const redis = await startRedisServer();
    const h = await startHarness({ redisUrl: redis.url });
    let client: Opened | undefined;
    try {
      const { agentSecret } = await h.platform.deployments.register(DEP);
      client = opened(await openControl(h.base, agentHeaders(DEP.id, agentSecret)));
      await client.next('hello');
      await redis.kill();
      const bus = h.platform.control.bus;
      await waitFor('a publish to fail', () => {
        h.platform.control.notify(DEP.id, { type: 'cap.state', cap_state: { capped: false } });
        return bus.counters.publishFailures >= 3;
      });
      await waitFor('local delivery all the while', () => pushed(client!).length >= 3);
      assert.equal(h.lines.filter((l) => l.includes('control bus: publish failed')).length, 1, 'logged once per outage');
      const back = await startRedisServer(redis.port);
      try {
        await waitFor('publishing again', () => {
          h.platform.control.notify(DEP.id, { type: 'cap.state', cap_state: { capped: false } });
          return h.lines.some((l) => l.includes('control bus: publishing again'));
        }, 8_000);
      } finally {
        await back.stop();
      }
    } finally {
      client?.ws.close();
      await h.close();
      await redis.stop();
    }
  });

  it('the embedded layout has no bus to reach: one process', async () => {
    const h = await startHarness();
    try {
      assert.equal(h.platform.control.bus.kind, 'memory');
      assert.equal(h.platform.control.reaches('nobody-here'), false);
    } finally {
      await h.close();
    }
  });
});
