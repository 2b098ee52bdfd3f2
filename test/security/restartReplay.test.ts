/**
 * Replay across a restart (FAQ-05: "captured events cannot be re-sent
 * later"). The gateway's replay cache, and the platform's on the embedded
 * store, live in the process: a restart empties them while a captured event's
 * signature is still inside the 300 s window. Each receiver therefore refuses
 * a signature made before it started (503, so the provider's retry, signed
 * when sent, still lands). Real simulator, platform and gateways on loopback;
 * each process is stopped and a new one started on the same port.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import nacl from 'tweetnacl';
import { Gateway } from '../../src/Gateway.js';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../src/wire/telnyx.js';
import { START_SKEW_ALLOWANCE_SEC } from '../../src/wire/webhookSignature.js';
import { NUMBER, TUNNEL_HOST, startStack, type Stack } from '../helpers/stack.js';
import { attack } from './attacks.js';

let stack: Stack;
let nextGateway: Gateway | null = null;
let nextPlatform: PlatformServer | null = null;
let seq = 0;

before(async () => {
  stack = await startStack({ workers: 1 });
});

after(async () => {
  await nextGateway?.stop();
  await stack?.stop();
  await nextPlatform?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the real provider sends: Ed25519 over `${timestamp}|${body}` with its key, signed now. */
function delivery(eventType: string, payload: Record<string, unknown>): { body: string; headers: Record<string, string>; signedAtSec: number } {
  const body = JSON.stringify({
    data: { record_type: 'event', event_type: eventType, id: `evt-restart-${process.pid}-${++seq}`, occurred_at: new Date().toISOString(), payload },
    meta: { attempt: 1, delivered_to: 'test' },
  });
  const signedAtSec = Math.floor(Date.now() / 1000);
  const signature = nacl.sign.detached(Buffer.from(`${signedAtSec}|${body}`, 'utf8'), stack.secretKey);
  return { body, headers: { [HEADER_SIGNATURE]: Buffer.from(signature).toString('base64'), [HEADER_TIMESTAMP]: String(signedAtSec), 'content-type': 'application/json' }, signedAtSec };
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

/** Until the clock is past the allowance after `signedAtSec`: the earliest a restart can tell the capture apart. */
async function waitPastAllowance(signedAtSec: number): Promise<void> {
  const due = (signedAtSec + START_SKEW_ALLOWANCE_SEC + 1) * 1000;
  await sleep(Math.max(0, due - Date.now()));
}

function inboundPayload(callId: string): Record<string, unknown> {
  return { call_control_id: callId, call_leg_id: callId, call_session_id: callId, connection_id: 'test-connection', from: '+15550407001', to: NUMBER, direction: 'incoming', state: 'parked' };
}

attack('webhook: an event captured before a gateway restart, replayed to the next process', async (probe) => {
  const gatewayUrl = `http://127.0.0.1:${stack.ports.tunnel}/v1/webhooks/provider`;
  const captured = delivery('call.dtmf.received', { call_control_id: `restart-dtmf-${process.pid}`, digit: '7' });
  // The genuine article, as the old process saw it.
  const first = await post(gatewayUrl, captured.body, captured.headers);
  assert.equal(first.status, 200, first.text);
  assert.equal(stack.gateway.webhooks.counters.accepted, 1);
  await stack.gateway.stop();
  await waitPastAllowance(captured.signedAtSec);
  nextGateway = new Gateway(stack.gateway.config, stack.logger);
  await nextGateway.start();
  const replay = await post(gatewayUrl, captured.body, captured.headers);
  probe.goal(replay.status >= 200 && replay.status < 300, `the replay was acknowledged with ${replay.status}`);
  probe.goal((nextGateway.webhooks.counters.accepted ?? 0) > 0, 'the next process acted on the replayed event');
  assert.equal(replay.status, 503, replay.text);
  assert.match(replay.text, /TTMA_ERR_WEBHOOK_REPLAY/);
  assert.equal(nextGateway.webhooks.counters.signed_before_start, 1);
  // The provider's own retry of an event is signed when sent: the new process takes it.
  const retry = delivery('call.dtmf.received', { call_control_id: `restart-dtmf-${process.pid}`, digit: '7' });
  assert.equal((await post(gatewayUrl, retry.body, retry.headers)).status, 200);
  assert.equal(nextGateway.webhooks.counters.accepted, 1);
});

attack('webhook: an event captured before a platform restart (embedded store), replayed to the next process', async (probe) => {
  const platformUrl = `http://127.0.0.1:${stack.ports.platform}/v1/provider/webhooks`;
  const callId = `restart-call-${process.pid}`;
  const captured = delivery('call.initiated', inboundPayload(callId));
  const first = await post(platformUrl, captured.body, captured.headers);
  assert.equal(first.status, 200, first.text);
  assert.equal((await stack.platform.calls.get(callId))?.deploymentId, 'test', 'the old process recorded and locked the call');
  await stack.platform.stop();
  await waitPastAllowance(captured.signedAtSec);
  nextPlatform = new PlatformServer(stack.platformOptions);
  await nextPlatform.start();
  await nextPlatform.deployments.register({ id: 'test', numbers: [NUMBER], tunnelHost: TUNNEL_HOST, agentSecret: stack.agentSecret });
  const replay = await post(platformUrl, captured.body, captured.headers);
  probe.goal(replay.status >= 200 && replay.status < 300, `the replay was acknowledged with ${replay.status}`);
  probe.goal((await nextPlatform.calls.get(callId)) !== undefined, 'the next process recorded the replayed call');
  assert.equal(replay.status, 503, replay.text);
  assert.match(replay.text, /TTMA_ERR_WEBHOOK_REPLAY/);
});
