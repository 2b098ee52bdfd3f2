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

test('an event captured before a restart is refused by the next process (503), and the provider\'s fresh retry of it is accepted', () => {
  const first = Date.now();
  const old = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs: first });
  const body = webhookBody('call.hangup', { call_control_id: 'c-restart' });
  const captured = signed(body, first);
  assert.equal(old.check(...captured, first).status, 200);
  // The next process starts 3 s later with an empty replay cache: the same bytes must not pass.
  const restartAt = first + 3_000;
  const next = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs: restartAt });
  const replay = next.check(...captured, restartAt + 100);
  assert.equal(replay.status, 503);
  assert.ok(replay.status === 503 && replay.code === 'TTMA_ERR_WEBHOOK_REPLAY' && replay.reason === 'signed_before_start');
  assert.equal(next.counters.signed_before_start, 1);
  assert.equal(next.counters.accepted, undefined);
  // What the provider does with a delivery that failed: signs the next attempt when it sends it.
  const retry = next.check(...signed(body, restartAt + 200), restartAt + 200);
  assert.equal(retry.status, 200);
  assert.ok(retry.status === 200 && !retry.duplicate);
});

test('a signature up to the skew allowance before the start is accepted (provider clock slightly behind)', () => {
  const startedAtMs = Math.floor(Date.now() / 1000) * 1000;
  const g = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs });
  const body = webhookBody('call.initiated', { call_control_id: 'c-skew' });
  assert.equal(g.check(...signed(body, startedAtMs - 2_000), startedAtMs + 10).status, 200);
  const early = webhookBody('call.initiated', { call_control_id: 'c-early' });
  assert.equal(g.check(...signed(early, startedAtMs - 3_000), startedAtMs + 10).status, 503);
});
