/**
 * The gateway's door under attack, over real loopback sockets: forged and
 * replayed webhooks, oversized bodies, media upgrades without, with wrong or
 * with reused tokens, diagnostics reached through the tunnel.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { defaultGatewayConfig } from '../../src/config.js';
import { Gateway } from '../../src/Gateway.js';
import { createLogger } from '../../src/log.js';
import { createSigner, webhookBody } from '../helpers/signing.js';
import { NUMBER, startStack, TUNNEL_HOST, waitFor, type Stack } from '../helpers/stack.js';
import nacl from 'tweetnacl';

let stack: Stack;
let webhookUrl: string;

before(async () => {
  stack = await startStack();
  webhookUrl = `http://127.0.0.1:${stack.ports.tunnel}/v1/webhooks/provider`;
});

after(async () => {
  await stack.stop();
});

function sign(body: string, timestampSec = Math.floor(Date.now() / 1000)): Record<string, string> {
  const ts = String(timestampSec);
  const signature = nacl.sign.detached(Buffer.from(`${ts}|${body}`), stack.secretKey);
  return { 'telnyx-signature-ed25519': Buffer.from(signature).toString('base64'), 'telnyx-timestamp': ts, 'content-type': 'application/json' };
}

function initiated(callId: string, id?: string): string {
  return webhookBody(
    'call.initiated',
    { call_control_id: callId, call_leg_id: 'l', call_session_id: 's', connection_id: 'c', from: '+15550200009', to: NUMBER, direction: 'incoming', state: 'parked' },
    id,
  );
}

async function post(body: string | Buffer, headers: Record<string, string>) {
  const response = await fetch(webhookUrl, { method: 'POST', headers, body });
  return { status: response.status, text: await response.text() };
}

/** Try a media upgrade; resolves with the HTTP status it was refused with, or 101. */
function upgrade(callId: string, headers: Record<string, string>, query = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.tunnel}/v1/media/${callId}${query}`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', (err) => reject(err));
  });
}

test('a webhook with a bad signature gets 401 and creates no call', async () => {
  const started = stack.gateway.control.counters.callsStarted;
  const body = initiated('forged-call-1');
  const other = createSigner();
  assert.equal((await post(body, other.headers(body))).status, 401);
  const headers = sign(body);
  assert.equal((await post(body.replace('forged-call-1', 'forged-call-2'), headers)).status, 401, 'body swapped under a valid signature');
  assert.equal((await post(body, { 'content-type': 'application/json' })).status, 401, 'no signature headers');
  const old = Math.floor(Date.now() / 1000) - 400;
  assert.equal((await post(body, sign(body, old))).status, 401, 'stale timestamp');
  assert.equal(stack.gateway.control.counters.callsStarted, started);
  assert.equal(stack.gateway.control.liveCalls, 0);
});

test('oversized and malformed webhook bodies are refused', async () => {
  const big = 'x'.repeat(70 * 1024);
  assert.equal((await post(big, sign(big))).status, 413);
  assert.equal((await post('{oops', sign('{oops'))).status, 400);
});

test('validly signed events with hostile payloads start nothing and do not harm the gateway', async () => {
  const started = stack.gateway.control.counters.callsStarted;
  const payloads: Array<Record<string, unknown>> = [
    { call_control_id: 123, direction: 'incoming', to: NUMBER },
    { call_control_id: '', direction: 'incoming', to: NUMBER },
    { call_control_id: 'odd-1', direction: 'incoming', to: { toString: null } },
    { call_control_id: 'odd-2', direction: 'incoming', to: [NUMBER] },
    { call_control_id: 'odd-3', direction: 'sideways', to: NUMBER },
  ];
  for (const payload of payloads) {
    const body = webhookBody('call.initiated', payload);
    assert.equal((await post(body, sign(body))).status, 200, JSON.stringify(payload));
  }
  const weirdEvent = webhookBody('call.hangup', { call_control_id: 'never-seen', hangup_cause: { nested: true } });
  assert.equal((await post(weirdEvent, sign(weirdEvent))).status, 200);
  assert.equal(stack.gateway.control.counters.callsStarted, started);
  assert.equal((await fetch(`http://127.0.0.1:${stack.ports.local}/healthz`)).status, 200);
});

test('a replayed webhook is acknowledged but never starts a second call or mints a second token', async () => {
  const started = stack.gateway.control.counters.callsStarted;
  const body = initiated('replayed-call-1');
  const headers = sign(body);
  assert.equal((await post(body, headers)).status, 200);
  assert.equal((await post(body, headers)).status, 200);
  // Same event id, re-signed a second later: still the same event.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  assert.equal((await post(body, sign(body))).status, 200);
  assert.equal(stack.gateway.control.counters.callsStarted, started + 1);
  // The platform refuses to answer a call the provider does not know: the gateway ends it.
  await waitFor('the unknown call to be ended', () => stack.gateway.control.liveCalls === 0);
});

test('media upgrades without a token, with a wrong token or with a reused token are refused before the upgrade', async () => {
  assert.equal(await upgrade('no-such-call', {}), 401);
  assert.equal(await upgrade('no-such-call', { 'x-telnyx-streaming-auth-token': 'A'.repeat(43) }), 401);
  const call = stack.sim.placeInboundCall({ from: '+15550200010', to: NUMBER, durationMs: 1_500 });
  await waitFor('the call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'));
  const token = call.testOnlyStreamToken;
  assert.ok(token, 'the simulator kept the token it was given');
  assert.equal(await upgrade(call.id, { 'x-telnyx-streaming-auth-token': token }), 401, 'reused while the call is live');
  assert.equal(await upgrade(call.id, {}, `?token=${encodeURIComponent(token)}`), 401, 'reused through the query form');
  const report = await call.done;
  assert.equal(report.endedBy, 'caller');
  assert.equal(report.framesReturned, report.framesSent, 'the refused attempts did not disturb the live stream');
  assert.equal(await upgrade(call.id, { 'x-telnyx-streaming-auth-token': token }), 401, 'reused after the call ended');
  await waitFor('the refusals to be counted', () => (stack.gateway.front.counters.mediaRefused.unknown ?? 0) >= 3);
});

test('malformed, oversized and hostile media paths are refused without harming the gateway', async () => {
  for (const path of ['%E0%A4%A', '%', '..%2F..%2Fdebug', 'a'.repeat(300), '%00', 'x%20y']) {
    assert.equal(await upgrade(path, { 'x-telnyx-streaming-auth-token': 'A'.repeat(43) }), 401, path);
  }
  await waitFor('the refusals to be counted', () => (stack.gateway.front.counters.mediaRefused.bad_call_id ?? 0) >= 4);
  const status = await fetch(`http://127.0.0.1:${stack.ports.local}/healthz`);
  assert.equal(status.status, 200, 'the gateway is still up');
});

test('the tunnel listener serves only webhooks and media; diagnostics are local only', async () => {
  const tunnel = `http://127.0.0.1:${stack.ports.tunnel}`;
  const local = `http://127.0.0.1:${stack.ports.local}`;
  for (const path of ['/debug/status', '/healthz', '/readyz', '/metrics', '/', '/v1/other']) {
    assert.equal((await fetch(tunnel + path)).status, 404, path);
  }
  assert.equal((await fetch(`${tunnel}/v1/webhooks/provider`)).status, 404, 'GET on the webhook path');
  const status = await fetch(`${local}/debug/status`);
  assert.equal(status.status, 200);
  assert.equal(((await status.json()) as { webhookKey: string }).webhookKey, 'configured');
  for (const header of ['cf-connecting-ip', 'cf-ray', 'cf-visitor', 'cf-warp-tag-id', 'cdn-loop', 'x-forwarded-for', 'forwarded']) {
    assert.equal((await fetch(`${local}/debug/status`, { headers: { [header]: '1.2.3.4' } })).status, 403, header);
  }
});

test('without a webhook key the gateway starts and refuses every webhook with 503', async () => {
  const gateway = new Gateway(
    {
      ...defaultGatewayConfig(),
      workers: 1,
      publicHost: TUNNEL_HOST,
      webhookPublicKey: null,
      platformUrl: `http://127.0.0.1:${stack.ports.platform}`,
      deploymentId: 'test',
      agentSecret: 'x'.repeat(32),
      numbers: [NUMBER],
    },
    createLogger('test', 'silent'),
  );
  const ports = await gateway.start();
  try {
    const body = initiated('no-key-call');
    const response = await fetch(`http://127.0.0.1:${ports.tunnelPort}/v1/webhooks/provider`, { method: 'POST', headers: sign(body), body });
    assert.equal(response.status, 503);
    assert.equal(gateway.control.counters.callsStarted, 0);
    assert.equal(gateway.status().webhookKey, 'missing');
  } finally {
    await gateway.stop();
  }
});
