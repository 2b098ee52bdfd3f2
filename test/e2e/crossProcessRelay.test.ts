/**
 * Two platform processes on one Redis behind one address: the provider sends its webhooks to one
 * URL (developers.telnyx.com/docs/voice/programmable-voice/voice-api-webhooks), which here always
 * lands on process A, while the gateway's signalling and control connection land on process B.
 * What A pushes to the deployment's gateways (relayed events, cap notices) reaches the gateway
 * through the control bus (src/platform/bus): without it the gateway on B never hears of its
 * inbound call, and learns of a cap only when the provider hangs up.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { Redis } from 'ioredis';
import { newCallControlId } from '../../src/sim/ids.js';
import type { RedisControlBus } from '../../src/platform/bus/RedisControlBus.js';
import { encodeBusMessage } from '../../src/platform/bus/busMessage.js';
import type { PlatformServerOptions } from '../../src/platform/PlatformServer.js';
import { webhookBody } from '../helpers/signing.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

describe('two platform processes on one Redis: webhooks reach A, the gateway is connected to B', { skip: redisUnavailable() }, () => {
  let redis: RedisServer | undefined;
  let stack: Stack | undefined;

  async function twoPlatforms(platform: Partial<PlatformServerOptions> = {}, webhooksTo: 'platform' | 'both' = 'platform'): Promise<Stack> {
    redis = await startRedisServer();
    stack = await startStack(
      { controlChannel: { baseDelayMs: 50, maxDelayMs: 500 } },
      { webhooksTo, gatewayOnSecondPlatform: true, platform: { redisUrl: redis.url, rateLimit: { ratePerSec: 1_000, burst: 1_000 }, ...platform } },
    );
    await waitFor('the control connection on B', () => stack!.gatewayPlatform.control.connections('test') === 1);
    assert.equal(stack.platform.control.connections('test'), 0, 'A holds no connection of the deployment');
    return stack;
  }

  beforeEach(() => {
    redis = undefined;
    stack = undefined;
  });
  afterEach(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('an inbound call is answered and carried: every event came from A over the bus; a forged one is still refused by the gateway', async () => {
    const { sim, platform: a, gatewayPlatform: b, gateway } = await twoPlatforms();
    const call = sim.placeInboundCall({ from: '+15550800001', to: NUMBER, durationMs: 2_000 });
    const report = await call.done;
    assert.equal(report.endedBy, 'caller', report.endReason);
    assert.ok(report.echo.correlation >= 0.9, `correlation ${report.echo.correlation}`);
    await waitFor('the gateway to see the hang-up', () => gateway.control.liveCalls === 0);
    const relayed = gateway.front.counters.webhooksRelayed;
    assert.ok((relayed['200'] ?? 0) >= 3, `relayed and accepted: ${JSON.stringify(relayed)}`);
    assert.equal(a.control.counters.webhooksRelayed, 0, 'A had no connection to send them to');
    assert.ok(b.control.counters.busDelivered >= 3, `B delivered ${b.control.counters.busDelivered} from the bus`);
    assert.equal(b.control.bus.counters.dropped, 0);

    // Whoever can publish on the channel cannot make an event up either: the gateway checks the provider's signature.
    const refusedBefore = relayed['401'] ?? 0;
    const forger = nacl.sign.keyPair();
    const body = webhookBody('call.initiated', { call_control_id: newCallControlId(), direction: 'incoming', from: '+15550800009', to: NUMBER, state: 'parked' });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = Buffer.from(nacl.sign.detached(Buffer.from(`${timestamp}|${body}`), forger.secretKey)).toString('base64');
    const raw = new Redis(redis!.url);
    try {
      const message = encodeBusMessage({ from: 'someone-else', deploymentId: 'test', message: { type: 'provider.event', signature, timestamp, body_base64: Buffer.from(body).toString('base64') } });
      await raw.publish((b.control.bus as RedisControlBus).channel, message);
    } finally {
      raw.disconnect();
    }
    await waitFor('the gateway to refuse the forged event', () => (gateway.front.counters.webhooksRelayed['401'] ?? 0) === refusedBefore + 1);
    assert.equal(gateway.control.liveCalls, 0, 'no call was admitted');
  });

  it("a cap reached at A's top-up reaches the gateway on B before the provider hang-up; an operator's cap change through A too", async () => {
    // The simulator's second URL (the gateway's tunnel) carries the call's events here, so this case tests the cap notices alone.
    const { sim, platform: a, gatewayPlatform: b, gateway } = await twoPlatforms({ capUnitMs: 400, capGoodbyeMs: 600, cdr: { attempts: 5, backoffMs: 50 } }, 'both');
    // Only A tops up (B's timer stopped; B still admits): the refusal, and so the notice, is A's.
    b.caps.close();
    await a.deployments.update('test', { caps: { dayMinutes: 2, monthMinutes: 100 } });
    // Answered through B: reserves 1, A tops up to 2 after one unit, and is refused at the next (~800 ms).
    const live = sim.placeInboundCall({ from: '+15550800002', to: NUMBER, durationMs: 15_000 });
    await waitFor('the call to stream', () => gateway.control.snapshot().some((c) => c.callId === live.id && c.state === 'streaming'), 5_000);
    // Promptly: the ControlActor ends a call on `cap.reached` only while it is still live, i.e. before
    // the provider's hang-up, which A sends capGoodbyeMs after the notice.
    await waitFor('the cap notice on the gateway', () => gateway.control.counters.callsEndedForCap === 1, 5_000);
    const cap = gateway.control.capState();
    assert.equal(cap.capped, true);
    assert.match(cap.capped ? cap.message : '', /daily minute cap reached \(2 of 2 minutes used\)/);
    const report = await live.done;
    assert.notEqual(report.endedBy, 'caller');
    assert.ok(report.framesSent < 5 * 50, `the call ended long before its 15 s (${report.framesSent} frames)`);
    assert.equal(a.control.counters.noticesSent, 0, 'A held no connection: the notices went over the bus');

    // The operator raises the cap through A: its cap.state reaches the gateway on B.
    await a.deployments.update('test', { caps: { dayMinutes: 100, monthMinutes: 100 } });
    await waitFor('the cap lifted on the gateway', () => !gateway.control.capState().capped, 3_000);
  });
});
