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

test('an identity is kept until its signature is stale, whichever way its timestamp leans: a replay inside the window is always a duplicate', () => {
  const g = gate();
  const now = Math.floor(Date.now() / 1000) * 1000;
  // Signed 300 s ahead of our clock (the most the tolerance lets in): fresh until 600 s from now.
  const body = webhookBody('call.initiated', { call_control_id: 'ahead' });
  const headers = signer.headers(body, now / 1000 + 300);
  const args = [headers['telnyx-signature-ed25519'], headers['telnyx-timestamp'], Buffer.from(body)] as const;
  assert.equal(g.check(...args, now).status, 200);
  for (const later of [now + 299_000, now + 599_000, now + 600_999]) {
    assert.deepEqual(g.check(...args, later), { status: 200, duplicate: true }, `replayed ${(later - now) / 1000} s later`);
  }
  assert.equal(g.check(...args, now + 601_000).status, 401, 'then it is stale');
  // Signed now: its identities go after 300 s, when the signature is stale anyway.
  const plain = signed(webhookBody('call.initiated', { call_control_id: 'now' }), now);
  assert.equal(g.check(...plain, now).status, 200);
  assert.deepEqual(g.check(...plain, now + 300_999), { status: 200, duplicate: true });
  assert.equal(g.check(...plain, now + 301_000).status, 401);
});

test('a replay cache full of identities still inside their window refuses a new event with 503 and forgets none (fail closed)', () => {
  // Room for two events (two identities each).
  const g = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { replayEntries: 4 });
  const now = Math.floor(Date.now() / 1000) * 1000;
  const events = [1, 2, 3].map((k) => signed(webhookBody('call.initiated', { call_control_id: `c${k}` }), now));
  assert.equal(g.check(...events[0]!, now).status, 200);
  assert.equal(g.check(...events[1]!, now + 1_000).status, 200);
  const refused = g.check(...events[2]!, now + 2_000);
  assert.deepEqual(refused, { status: 503, code: 'TTMA_ERR_WEBHOOK_REPLAY', reason: 'replay_full' });
  assert.equal(g.counters.replay_full, 1);
  // Nothing was forgotten to make room: both earlier events are still duplicates.
  assert.deepEqual(g.check(...events[0]!, now + 3_000), { status: 200, duplicate: true });
  assert.deepEqual(g.check(...events[1]!, now + 3_000), { status: 200, duplicate: true });
  // Once the first has gone stale its room is free: the refused event, retried by the provider with a fresh signature, goes in.
  const retryAt = now + 303_000;
  const retried = signed(webhookBody('call.initiated', { call_control_id: 'c3' }), retryAt);
  assert.equal(g.check(...retried, retryAt).status, 200);
});

test('forget: an accepted event whose handling failed passes again, re-signed or as first sent, once', () => {
  const g = gate();
  const now = Date.now();
  const body = webhookBody('call.hangup', { call_control_id: 'c1' }, 'failed-once');
  const first = g.check(...signed(body, now), now);
  assert.ok(first.status === 200 && !first.duplicate);
  g.forget(first);
  assert.equal(g.counters['handling_failed'], 1);
  const retry = g.check(...signed(body, now + 2_000), now + 2_000);
  assert.ok(retry.status === 200 && !retry.duplicate, 'the provider\'s re-signed retry is handled');
  // Remembered again: neither the retry nor the first delivery passes a third time.
  assert.deepEqual(g.check(...signed(body, now + 2_000), now + 3_000), { status: 200, duplicate: true });
  assert.deepEqual(g.check(...signed(body, now), now + 3_000), { status: 200, duplicate: true });
});

test('the replay gauge drops identities past their window when read, with no webhook since (a quiet period after a peak)', () => {
  const g = gate();
  const past = Date.now() - 700_000;
  for (let k = 0; k < 5; k++) assert.equal(g.check(...signed(webhookBody('call.initiated', { call_control_id: `q${k}` }), past), past).status, 200);
  const recent = Date.now();
  assert.equal(g.check(...signed(webhookBody('call.initiated', { call_control_id: 'r1' }), recent), recent).status, 200);
  // The five old events' identities (two each) are stale by now; the recent one's are not.
  assert.deepEqual(g.replayEntries, { held: 2, max: g.replayEntries.max });
});

/**
 * The wall clock stepped after the start (NTP's step at boot, `date -s`, a VM restored from a
 * snapshot): the start is kept in the frame of the clock as it is now. The provider's clock is
 * right throughout (`real`); the gateway's read `real - 600 s` at its start, then was stepped.
 */
test('a box that started with its clock behind and was stepped forward still refuses an event captured before its start', () => {
  const real = Math.floor(Date.now() / 1000) * 1000;
  let offset = 0;
  // The process started 10 s ago (real time) while its clock said 600 s less.
  const g = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs: real - 10_000 - 600_000, clockOffsetMs: () => offset });
  offset += 600_000; // chrony's makestep
  const captured = signed(webhookBody('call.initiated', { call_control_id: 'c-before-start' }), real - 15_000);
  const replay = g.check(...captured, real);
  assert.equal(replay.status, 503, 'signed 5 s before the process started: a capture replayed into its empty replay cache');
  assert.ok(replay.status === 503 && replay.reason === 'signed_before_start');
  // What the provider sends now passes.
  assert.equal(g.check(...signed(webhookBody('call.initiated', { call_control_id: 'c-now' }), real), real).status, 200);
});

test('a box that started with its clock ahead and was stepped back takes genuine events at once, not once its clock catches up', () => {
  const real = Math.floor(Date.now() / 1000) * 1000;
  let offset = 0;
  // Started 10 s ago (real time) with the clock 120 s ahead: its start reads real + 110 s.
  const g = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs: real - 10_000 + 120_000, clockOffsetMs: () => offset });
  offset -= 120_000;
  const genuine = g.check(...signed(webhookBody('call.initiated', { call_control_id: 'c-genuine' }), real), real);
  assert.equal(genuine.status, 200, 'a delivery signed now was refused as signed before the start');
  // Still a floor: what was signed before the real start is refused.
  const captured = g.check(...signed(webhookBody('call.initiated', { call_control_id: 'c-old' }), real - 15_000), real);
  assert.equal(captured.status, 503);
});

test('a difference under a second between the two clocks\' readings is no step', () => {
  const startedAtMs = Math.floor(Date.now() / 1000) * 1000;
  let offset = 0;
  const g = new WebhookGate(parseEd25519PublicKey(signer.publicKeyBase64), { startedAtMs, clockOffsetMs: () => offset });
  offset += 999;
  assert.equal(g.check(...signed(webhookBody('call.initiated', { call_control_id: 'c-jitter' }), startedAtMs - 2_000), startedAtMs + 10).status, 200);
});
