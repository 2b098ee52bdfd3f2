/**
 * A real provider sends each event to one URL per connection (its webhook
 * URL, and a failover only when that fails: developers.telnyx.com/docs/voice/
 * programmable-voice/voice-api-webhooks), so the platform is the only place
 * events arrive. It relays every verified event of a deployment's call, byte
 * for byte with the provider's signature headers, over that gateway's control
 * connection; the gateway verifies it again against the provider's key. Here
 * the simulator sends to the platform only: calls in and out still work, a
 * relay the provider did not sign is refused, and one that lands while the
 * gateway has no connection waits for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { newCallControlId } from '../../src/sim/ids.js';
import { webhookBody } from '../helpers/signing.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

describe('provider webhooks reach the gateway only through the platform', () => {
  let stack: Stack;
  before(async () => {
    // A reconnect after 0.4 to 0.8 s: long enough for an event to land in between, well inside the simulator's 2 s answer timeout.
    stack = await startStack({ controlChannel: { baseDelayMs: 800, maxDelayMs: 800 } }, { webhooksTo: 'platform' });
    await waitFor('the gateway\'s control connection', () => stack.platform.control.connections('test') === 1);
  });
  after(async () => {
    await stack?.stop();
  });

  it('an inbound call is answered and carried: its events came relayed, none straight to the tunnel', async () => {
    const call = stack.sim.placeInboundCall({ from: '+15550700001', to: NUMBER, durationMs: 2_000 });
    const report = await call.done;
    assert.equal(report.endedBy, 'caller', report.endReason);
    assert.ok(report.echo.correlation >= 0.9, `correlation ${report.echo.correlation}`);
    await waitFor('the gateway to see the hang-up', () => stack.gateway.control.liveCalls === 0);
    const relayed = stack.gateway.front.counters.webhooksRelayed;
    assert.ok((relayed['200'] ?? 0) >= 3, `relayed and accepted: ${JSON.stringify(relayed)}`);
    assert.equal(stack.gateway.webhooks.counters.accepted, relayed['200'], 'every event the gateway accepted came through the platform');
  });

  it('an outbound call: the gateway learns of its answer and end from relayed events', async () => {
    const placed = await stack.gateway.control.dial('+15557650701');
    const dialled = stack.sim.liveCall(placed.callId);
    assert.ok(dialled, 'the simulator has the dialled call');
    await waitFor('the dialled call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === placed.callId && c.state === 'streaming'), 10_000);
    dialled.hangup(undefined);
    await waitFor('the gateway to see the hang-up', () => !stack.gateway.control.snapshot().some((c) => c.callId === placed.callId), 10_000);
  });

  it('a relayed event the provider did not sign is refused by the gateway (the platform cannot make one up)', async () => {
    const before = stack.gateway.front.counters.webhooksRelayed['401'] ?? 0;
    const liveBefore = stack.gateway.control.liveCalls;
    const forger = nacl.sign.keyPair();
    const body = webhookBody('call.initiated', { call_control_id: newCallControlId(), direction: 'incoming', from: '+15550700009', to: NUMBER, state: 'parked' });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = Buffer.from(nacl.sign.detached(Buffer.from(`${timestamp}|${body}`), forger.secretKey)).toString('base64');
    assert.equal(stack.platform.control.relayWebhook('test', signature, timestamp, Buffer.from(body)), 1);
    await waitFor('the gateway to refuse it', () => (stack.gateway.front.counters.webhooksRelayed['401'] ?? 0) === before + 1);
    assert.equal(stack.gateway.control.liveCalls, liveBefore, 'no call was admitted');
  });

  it('an event that lands while the gateway has no control connection waits for its next one', async () => {
    const connected = () => stack.platform.control.connections('test') === 1;
    // Cut the connection from the platform's side: the gateway reconnects by itself.
    stack.platform.control.revoke('test', 'test: cut to hold an event');
    await waitFor('the connection to drop', () => !connected());
    const call = stack.sim.placeInboundCall({ from: '+15550700002', to: NUMBER, durationMs: 1_500 });
    await waitFor('the event to be held', () => stack.platform.control.counters.webhooksHeld >= 1, 5_000);
    const report = await call.done;
    assert.equal(report.endedBy, 'caller', report.endReason);
    assert.ok(report.echo.correlation >= 0.9, `correlation ${report.echo.correlation}`);
    assert.ok(connected(), 'reconnected');
  });
});
