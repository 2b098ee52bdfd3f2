import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebhookGate } from '../../src/control/WebhookGate.js';
import { parseEd25519PublicKey } from '../../src/wire/webhookSignature.js';
import { createSigner, webhookBody } from '../helpers/signing.js';

const signer = createSigner();
const gate = () => new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64));

function signed(body: string, nowMs: number) {
  const headers = signer.headers(body, Math.floor(nowMs / 1000));
  return [headers['telnyx-signature-ed25519'], headers['telnyx-timestamp'], Buffer.from(body)] as const;
}

test('accepts a verified event and returns the parsed envelope', () => {
  const now = Date.now();
  const body = webhookBody('call.initiated', { call_control_id: 'c1' });
  const outcome = gate().check(...signed(body, now), now);
  assert.equal(outcome.status, 200);
  assert.ok(outcome.status === 200 && !outcome.duplicate && outcome.envelope.data.payload.call_control_id === 'c1');
});

test('a replayed event is acknowledged as a duplicate with no envelope', () => {
  const g = gate();
  const now = Date.now();
  const args = signed(webhookBody('call.initiated', { call_control_id: 'c1' }), now);
  assert.equal(g.check(...args, now).status, 200);
  const replay = g.check(...args, now + 1000);
  assert.deepEqual(replay, { status: 200, duplicate: true });
});

test('the same event id re-signed later is still a duplicate', () => {
  const g = gate();
  const now = Date.now();
  const body = webhookBody('call.initiated', { call_control_id: 'c1' }, 'same-id');
  g.check(...signed(body, now), now);
  const later = now + 5_000;
  assert.deepEqual(g.check(...signed(body, later), later), { status: 200, duplicate: true });
});

test('fails closed with 503 when no key is configured', () => {
  const now = Date.now();
  const outcome = new WebhookGate(null).check(...signed(webhookBody('call.initiated', {}), now), now);
  assert.equal(outcome.status, 503);
});

test('bad signature 401, stale 401, malformed JSON (validly signed) 400', () => {
  const g = gate();
  const now = Date.now();
  const [sig, ts, body] = signed(webhookBody('call.initiated', { call_control_id: 'c1' }), now);
  assert.equal(g.check(sig, ts, Buffer.concat([body, Buffer.from(' ')]), now).status, 401);
  assert.equal(g.check(sig, ts, body, now + 301_000).status, 401);
  assert.equal(g.check(...signed('{not json', now), now).status, 400);
  assert.equal(g.check(...signed('{"data":{}}', now), now).status, 400);
  assert.equal(g.check(...signed('null', now), now).status, 400);
  assert.ok((g.counters.bad_signature ?? 0) >= 1);
});
