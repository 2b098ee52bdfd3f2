/**
 * Adversarial webhooks (FAQ-05, FAQ-06, DESIGN 3 step 1 and 7): forged,
 * tampered, stale, replayed, oversized, slow and hostile deliveries to
 * POST /v1/webhooks/provider on the tunnel listener of a real gateway, while
 * an honest simulator call keeps flowing through it. Each attack asserts the
 * precise refusal and that nothing happened: no call started, no event acted on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createSigner } from '../helpers/signing.js';
import { attack, type AttackProbe } from './attacks.js';
import { NUMBER, rawHttp, rawWebhookRequest, SecurityStack, waitFor, type HonestCall } from './harness.js';

/** The read timeout a colleague is adding (GatewayConfig.webhookReadTimeoutMs, default 10000, min 100). */
const READ_TIMEOUT_MS = 500;
/** Long enough to span every attack below (about 1.5 s here), with margin. */

let s: SecurityStack;
let honest: HonestCall;

before(async () => {
  s = await SecurityStack.start({ webhookReadTimeoutMs: READ_TIMEOUT_MS });
  honest = await s.honestCall();
});

after(async () => {
  await s?.stop();
});

const now = (): number => Math.floor(Date.now() / 1000);

/** Deliver and check: refused with `status` (and `code`), nothing started, nothing acted on. */
async function expectRefused(probe: AttackProbe, body: string | Buffer, headers: Record<string, string>, status: number, code?: string): Promise<void> {
  const before = s.effects();
  const response = await s.post(body, headers);
  const after = s.effects();
  probe.goal(response.status >= 200 && response.status < 300, `delivery acknowledged with ${response.status}`);
  probe.goal(after.callsStarted !== before.callsStarted, 'a call was started');
  probe.goal(after.webhooksAccepted !== before.webhooksAccepted, 'the event was acted on');
  assert.equal(response.status, status, response.text);
  if (code) assert.match(response.text, new RegExp(code));
  s.assertNoEffect(before, probe.name);
}

/** A correctly signed call.initiated to the served number: accepted, it would start a call. */
function signedInitiated(label: string, timestampSec = now()): { body: string; headers: Record<string, string>; callId: string } {
  const callId = s.callId('atk', label);
  const body = s.initiated(callId);
  return { body, headers: s.signedHeaders(body, timestampSec), callId };
}

function withSignature(headers: Record<string, string>, signature: string | null): Record<string, string> {
  const copy = { ...headers };
  if (signature === null) delete copy['telnyx-signature-ed25519'];
  else copy['telnyx-signature-ed25519'] = signature;
  return copy;
}

function signatureBytes(headers: Record<string, string>): Buffer {
  return Buffer.from(headers['telnyx-signature-ed25519']!, 'base64');
}

test('positive: a correctly signed event is accepted, with header names in any case', async () => {
  // The refusals below mean something only if the same gateway accepts the genuine article.
  const before = s.effects();
  const body = Buffer.from(s.event('call.dtmf.received', { call_control_id: s.callId('atk', 'dtmf'), digit: '1' }));
  const headers = s.signedHeaders(body);
  const response = await rawHttp(s.tunnelPort, [
    rawWebhookRequest(
      [
        ['Telnyx-Signature-Ed25519', headers['telnyx-signature-ed25519']!],
        ['TELNYX-TIMESTAMP', headers['telnyx-timestamp']!],
        ['Content-Type', 'application/json'],
      ],
      body,
    ),
  ]);
  assert.equal(response.status, 200, response.head);
  assert.equal(s.effects().webhooksAccepted, before.webhooksAccepted + 1);
});

attack('webhook: forged signature (64 random bytes)', async (probe) => {
  const { body, headers } = signedInitiated('forged');
  await expectRefused(probe, body, withSignature(headers, randomBytes(64).toString('base64')), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: signature made with another Ed25519 key', async (probe) => {
  const { body } = signedInitiated('otherkey');
  await expectRefused(probe, body, createSigner().headers(body), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: one byte flipped in a signed body', async (probe) => {
  const { body, headers, callId } = signedInitiated('flipbody');
  const at = body.indexOf(callId) + 4;
  const tampered = body.slice(0, at) + String.fromCharCode(body.charCodeAt(at) ^ 1) + body.slice(at + 1);
  assert.doesNotThrow(() => JSON.parse(tampered), 'still valid JSON: only the signature can refuse it');
  await expectRefused(probe, tampered, headers, 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: one byte flipped in the timestamp (still inside the window)', async (probe) => {
  const ts = now();
  const { body, headers } = signedInitiated('flipts', ts);
  const text = String(ts);
  const last = Number(text.at(-1));
  const tampered = text.slice(0, -1) + String(last === 0 ? 1 : last - 1);
  await expectRefused(probe, body, { ...headers, 'telnyx-timestamp': tampered }, 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: one byte flipped in the signature', async (probe) => {
  const { body, headers } = signedInitiated('flipsig');
  const sig = signatureBytes(headers);
  sig[17] = sig[17]! ^ 0x01;
  await expectRefused(probe, body, withSignature(headers, sig.toString('base64')), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: truncated signature (63 bytes)', async (probe) => {
  const { body, headers } = signedInitiated('sig63');
  await expectRefused(probe, body, withSignature(headers, signatureBytes(headers).subarray(0, 63).toString('base64')), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: over-long signature (65 bytes)', async (probe) => {
  const { body, headers } = signedInitiated('sig65');
  const longer = Buffer.concat([signatureBytes(headers), Buffer.from([0])]);
  await expectRefused(probe, body, withSignature(headers, longer.toString('base64')), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: signature that is not base64', async (probe) => {
  const { body, headers } = signedInitiated('sigjunk');
  const b64 = headers['telnyx-signature-ed25519']!;
  // node's base64 decoder skips junk characters: the strict decoder must not.
  const junk = `${b64.slice(0, 20)}*${b64.slice(21)}`;
  await expectRefused(probe, body, withSignature(headers, junk), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: empty signature header', async (probe) => {
  const { body, headers } = signedInitiated('sigempty');
  await expectRefused(probe, body, withSignature(headers, ''), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: stale timestamp (-301 s), correctly signed', async (probe) => {
  const { body, headers } = signedInitiated('stale', now() - 301);
  await expectRefused(probe, body, headers, 401, 'TTMA_ERR_WEBHOOK_STALE');
});

// 30 s past the 300 s window, not 1: on a loaded box the request can take over a second to be
// read, and a future stamp comes closer to the window the later it is read (a stale one only ages).
attack('webhook: future timestamp (+330 s), correctly signed', async (probe) => {
  const { body, headers } = signedInitiated('future', now() + 330);
  await expectRefused(probe, body, headers, 401, 'TTMA_ERR_WEBHOOK_STALE');
});

attack('webhook: missing signature header', async (probe) => {
  const { body, headers } = signedInitiated('nosig');
  await expectRefused(probe, body, withSignature(headers, null), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: missing timestamp header', async (probe) => {
  const { body, headers } = signedInitiated('nots');
  const copy = { ...headers };
  delete copy['telnyx-timestamp'];
  await expectRefused(probe, body, copy, 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: valid signature of another event pasted on this body', async (probe) => {
  const { headers } = signedInitiated('donor');
  const { body } = signedInitiated('swap');
  await expectRefused(probe, body, headers, 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: forged call.hangup aimed at the live honest call', async (probe) => {
  const body = s.hangupEvent(honest.call.id);
  await expectRefused(probe, body, withSignature(s.signedHeaders(body), randomBytes(64).toString('base64')), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
  const live = s.gateway.control.snapshot().find((c) => c.callId === honest.call.id);
  probe.goal(live === undefined, 'the honest call was ended by a forged hang-up');
  assert.equal(live?.state, 'streaming');
});

/** Deliver a genuine event once (it starts a call), then the attack's re-delivery: acknowledged, but a duplicate. */
async function expectDuplicate(
  probe: AttackProbe,
  callId: string,
  first: { body: string; headers: Record<string, string> },
  again: { body: string; headers: Record<string, string> },
): Promise<void> {
  const start = s.effects();
  const original = await s.post(first.body, first.headers);
  assert.equal(original.status, 200, 'the genuine delivery is accepted');
  assert.equal(s.effects().callsStarted, start.callsStarted + 1, 'the genuine delivery started its call');
  // The platform refuses to answer a call the provider never placed, and the gateway ends it.
  await waitFor(`the genuine call ${callId} to end`, () => !s.gateway.control.snapshot().some((c) => c.callId === callId));
  const before = s.effects();
  const response = await s.post(again.body, again.headers);
  const after = s.effects();
  probe.goal(after.callsStarted !== before.callsStarted, 'a second call was started');
  probe.goal(after.webhooksAccepted !== before.webhooksAccepted, 'the re-delivered event was acted on again');
  assert.equal(response.status, 200, 'a duplicate is acknowledged, so the provider stops retrying');
  assert.equal(after.webhooksDuplicate, before.webhooksDuplicate + 1, 'counted as a duplicate by the replay cache');
}

attack('webhook: replay of a captured event inside the window', async (probe) => {
  const event = signedInitiated('replay');
  await expectDuplicate(probe, event.callId, event, event);
});

attack('webhook: same event id re-signed later (fresh timestamp and signature)', async (probe) => {
  const callId = s.callId('atk', 'resign');
  const body = s.initiated(callId);
  await expectDuplicate(probe, callId, { body, headers: s.signedHeaders(body, now() - 2) }, { body, headers: s.signedHeaders(body) });
});

attack('webhook: duplicate delivery of call.initiated (attempt 2, same event id)', async (probe) => {
  const callId = s.callId('atk', 'dupe');
  const id = `evt-dupe-${process.pid}-${Date.now()}`;
  const first = s.initiated(callId, { id, attempt: 1 });
  const second = s.initiated(callId, { id, attempt: 2 });
  assert.notEqual(first, second);
  await expectDuplicate(probe, callId, { body: first, headers: s.signedHeaders(first) }, { body: second, headers: s.signedHeaders(second) });
});

attack('webhook: replay with the signature re-encoded (non-canonical base64 padding bits)', async (probe) => {
  const event = signedInitiated('reencode');
  const b64 = event.headers['telnyx-signature-ed25519']!;
  assert.ok(b64.endsWith('=='));
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(b64[85]!);
  const reencoded = `${b64.slice(0, 85)}${alphabet[last ^ 0x01]}==`;
  assert.notEqual(reencoded, b64);
  assert.deepEqual(Buffer.from(reencoded, 'base64'), Buffer.from(b64, 'base64'), 'same 64 signature bytes, different header text');
  // Only the canonical spelling verifies, so the re-encoded replay is refused outright (not even a duplicate).
  await expectRefused(probe, event.body, withSignature(event.headers, reencoded), 401, 'TTMA_ERR_WEBHOOK_SIGNATURE');
});

attack('webhook: oversize body (> 64 KiB), correctly signed', async (probe) => {
  const callId = s.callId('atk', 'big');
  const body = s.event('call.initiated', { call_control_id: callId, from: '+15550207777', to: NUMBER, direction: 'incoming', pad: 'x'.repeat(70 * 1024) });
  await expectRefused(probe, body, s.signedHeaders(body), 413);
});

attack('webhook: oversize chunked body (no content-length)', async (probe) => {
  const before = s.effects();
  const callId = s.callId('atk', 'chunked');
  const body = Buffer.from(s.event('call.initiated', { call_control_id: callId, from: '+15550207777', to: NUMBER, direction: 'incoming', pad: 'y'.repeat(70 * 1024) }));
  const headers = s.signedHeaders(body);
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; at += 8192) {
    const piece = body.subarray(at, at + 8192);
    chunks.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
  }
  chunks.push(Buffer.from('0\r\n\r\n', 'latin1'));
  const head = [
    'POST /v1/webhooks/provider HTTP/1.1',
    'host: 127.0.0.1',
    'transfer-encoding: chunked',
    `telnyx-signature-ed25519: ${headers['telnyx-signature-ed25519']}`,
    `telnyx-timestamp: ${headers['telnyx-timestamp']}`,
    'content-type: application/json',
  ].join('\r\n');
  const response = await rawHttp(s.tunnelPort, [Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), ...chunks])]);
  probe.goal(response.status >= 200 && response.status < 300, `acknowledged with ${response.status}`);
  probe.goal(response.timedOut, 'the connection was held open');
  // Refused by the body limit (413), or by the HTTP parser (4xx or a closed connection).
  assert.ok(response.status === 413 || (response.status >= 400 && response.status < 500) || (response.closed && response.status === 0), response.head);
  s.assertNoEffect(before, probe.name);
});

attack('webhook: slow body (trickled slower than the read timeout)', async (probe) => {
  const before = s.effects();
  const body = Buffer.from(s.initiated(s.callId('atk', 'slow')));
  const headers = s.signedHeaders(body);
  const head = rawWebhookRequest(
    [
      ['telnyx-signature-ed25519', headers['telnyx-signature-ed25519']!],
      ['telnyx-timestamp', headers['telnyx-timestamp']!],
      ['content-type', 'application/json'],
    ],
    Buffer.alloc(0),
    body.length,
  );
  // One byte every 100 ms: the whole body would take half a minute.
  const trickle = [head, ...Array.from(body.subarray(0, 40), (byte) => Buffer.from([byte]))];
  const startedAt = Date.now();
  const response = await rawHttp(s.tunnelPort, trickle, { gapMs: 100, timeoutMs: 3_000 });
  const tookMs = Date.now() - startedAt;
  probe.goal(response.timedOut, `the gateway held the slow request open for ${tookMs} ms (read timeout ${READ_TIMEOUT_MS} ms)`);
  probe.goal(response.status >= 200 && response.status < 300, `acknowledged with ${response.status}`);
  assert.ok(response.status === 408 || (response.closed && response.status === 0), `408 or a closed connection, got ${response.head || 'nothing'}`);
  assert.ok(tookMs < READ_TIMEOUT_MS + 1_500, `refused after ${tookMs} ms`);
  s.assertNoEffect(before, probe.name);
});

attack('webhook: JSON bomb (deeply nested arrays within 64 KiB), correctly signed', async (probe) => {
  const depth = 32_000;
  const body = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  assert.ok(body.length < 64 * 1024);
  await expectRefused(probe, body, s.signedHeaders(body), 400, 'TTMA_ERR_WEBHOOK_MALFORMED');
  const health = await s.healthz();
  probe.goal(health !== 200, `the gateway stopped answering (${health})`);
});

/** A forged delivery with a hostile header block: refused by the HTTP parser (closed or 4xx), nothing acted on, still up. */
async function expectHeaderBlockRefused(probe: AttackProbe, extra: Array<[string, string]>): Promise<void> {
  const before = s.effects();
  const body = Buffer.from(s.initiated(s.callId('atk', 'headers')));
  const request = rawWebhookRequest([['telnyx-signature-ed25519', randomBytes(64).toString('base64')], ['telnyx-timestamp', String(now())], ...extra], body);
  const response = await rawHttp(s.tunnelPort, [request]);
  probe.goal(response.status >= 200 && response.status < 300, `acknowledged with ${response.status}`);
  probe.goal(response.timedOut, 'the connection was held open');
  const health = await s.healthz();
  probe.goal(health !== 200, `the gateway stopped answering (${health})`);
  assert.ok((response.status >= 400 && response.status < 500) || (response.closed && response.status === 0), response.head);
  s.assertNoEffect(before, probe.name);
}

attack('webhook: oversized header block (1 MiB header value)', async (probe) => {
  await expectHeaderBlockRefused(probe, [['x-padding', 'p'.repeat(1024 * 1024)]]);
});

attack('webhook: header count flood (500 headers)', async (probe) => {
  await expectHeaderBlockRefused(probe, Array.from({ length: 500 }, (_, i): [string, string] => [`x-h${i}`, 'v']));
});

attack('webhook: GET on the webhook path', async (probe) => {
  const before = s.effects();
  const response = await fetch(s.webhookUrl);
  probe.goal(response.status >= 200 && response.status < 300, `GET answered ${response.status}`);
  assert.equal(response.status, 404);
  s.assertNoEffect(before, probe.name);
});

test('the honest call kept flowing through every webhook attack', async () => {
  assert.equal(await s.healthz(), 200);
  await honest.finish();
});
