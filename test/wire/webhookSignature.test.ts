import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeStrictBase64, notBeforeSecOf, parseEd25519PublicKey, START_SKEW_ALLOWANCE_SEC, verifyWebhookSignature } from '../../src/wire/webhookSignature.js';
import { isTtmaError } from '../../src/errors.js';
import { createSigner } from '../helpers/signing.js';

const signer = createSigner();
const key = parseEd25519PublicKey(signer.publicKeyBase64);
const body = Buffer.from('{"data":{"id":"e1"}}');
const now = 1_800_000_000;
const ts = String(now);

function verify(overrides: Partial<Parameters<typeof verifyWebhookSignature>[0]>) {
  return verifyWebhookSignature({ publicKey: key, signatureHeader: signer.sign(ts, body), timestampHeader: ts, rawBody: body, nowSec: now, ...overrides });
}

test('a correctly signed webhook verifies (tweetnacl signs, node crypto verifies)', () => {
  assert.equal(verify({}).ok, true);
});

test('fails closed without a key', () => {
  assert.deepEqual(verify({ publicKey: null }), { ok: false, reason: 'no_key' });
});

test('missing headers are refused', () => {
  assert.deepEqual(verify({ signatureHeader: undefined }), { ok: false, reason: 'missing_headers' });
  assert.deepEqual(verify({ timestampHeader: undefined }), { ok: false, reason: 'missing_headers' });
});

test('a body changed by one byte is refused', () => {
  const tampered = Buffer.from(body);
  tampered[5] = tampered[5]! ^ 1;
  assert.deepEqual(verify({ rawBody: tampered }), { ok: false, reason: 'bad_signature' });
});

test('a signature from another key is refused', () => {
  const other = createSigner();
  assert.deepEqual(verify({ signatureHeader: other.sign(ts, body) }), { ok: false, reason: 'bad_signature' });
});

test('the timestamp is part of the signed bytes', () => {
  const later = String(now + 10);
  assert.deepEqual(verify({ timestampHeader: later }), { ok: false, reason: 'bad_signature' });
});

test('stale and future timestamps beyond 300 s are refused, inside the window accepted', () => {
  const old = String(now - 301);
  assert.deepEqual(verify({ timestampHeader: old, signatureHeader: signer.sign(old, body) }), { ok: false, reason: 'stale' });
  const future = String(now + 301);
  assert.deepEqual(verify({ timestampHeader: future, signatureHeader: signer.sign(future, body) }), { ok: false, reason: 'stale' });
  const edge = String(now - 300);
  assert.equal(verify({ timestampHeader: edge, signatureHeader: signer.sign(edge, body) }).ok, true);
});

test('a genuine signature made before the receiver started is refused; from the allowance on it verifies', () => {
  const started = now + 60;
  const notBeforeSec = notBeforeSecOf(started * 1000 + 999);
  assert.equal(notBeforeSec, started - START_SKEW_ALLOWANCE_SEC);
  const atFloor = String(notBeforeSec);
  assert.equal(verify({ timestampHeader: atFloor, signatureHeader: signer.sign(atFloor, body), nowSec: started, notBeforeSec }).ok, true);
  const before = String(notBeforeSec - 1);
  assert.deepEqual(verify({ timestampHeader: before, signatureHeader: signer.sign(before, body), nowSec: started, notBeforeSec }), { ok: false, reason: 'signed_before_start' });
  // A forgery is a forgery first: the start time is told only to the provider's own signatures.
  assert.deepEqual(verify({ timestampHeader: before, signatureHeader: createSigner().sign(before, body), nowSec: started, notBeforeSec }), { ok: false, reason: 'bad_signature' });
  // Outside the window it is stale, whatever the start.
  const old = String(started - 301);
  assert.deepEqual(verify({ timestampHeader: old, signatureHeader: signer.sign(old, body), nowSec: started, notBeforeSec }), { ok: false, reason: 'stale' });
});

test('malformed timestamps are refused', () => {
  for (const bad of ['', 'abc', '1e9', '-5', ' 123', '1800000000.5', '9'.repeat(20)]) {
    const verdict = verify({ timestampHeader: bad });
    assert.equal(verdict.ok, false, bad);
  }
});

test('truncated, padded and junk signatures are refused by length before verifying', () => {
  const good = signer.sign(ts, body);
  const raw = Buffer.from(good, 'base64');
  const truncated = raw.subarray(0, 63).toString('base64');
  const padded = Buffer.concat([raw, Buffer.from([0])]).toString('base64');
  for (const bad of [truncated, padded, `${good}!!`, good.replace(/=+$/, ''), 'A'.repeat(88), '']) {
    const verdict = verify({ signatureHeader: bad });
    assert.equal(verdict.ok, false, bad);
  }
  assert.deepEqual(verify({ signatureHeader: truncated }), { ok: false, reason: 'bad_signature_encoding' });
});

test('strict base64 checks shape and exact length', () => {
  assert.equal(decodeStrictBase64('AAAA', 3)?.length, 3);
  assert.equal(decodeStrictBase64('AAAA', 4), null);
  assert.equal(decodeStrictBase64('AA*A', 3), null);
  assert.equal(decodeStrictBase64('AAA', 2), null);
});

test('public keys of the wrong length or encoding are a config error', () => {
  for (const bad of ['', 'not base64!', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64')]) {
    assert.throws(() => parseEd25519PublicKey(bad), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG'));
  }
});
