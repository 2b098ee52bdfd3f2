import assert from 'node:assert/strict';
import { test } from 'node:test';
import nacl from 'tweetnacl';
import { isTtmaError } from '../../src/errors.js';
import { ed25519PublicKeyProblem } from '../../src/wire/ed25519Point.js';
import { parseEd25519PublicKey, verifyWebhookSignature } from '../../src/wire/webhookSignature.js';
import { forgeries, FORGED_SIGNATURE, opensslKey, SMALL_ORDER_KEYS } from '../helpers/smallOrderKeys.js';

test('the small-order keys are degenerate under OpenSSL itself: one fixed signature verifies messages nobody signed', () => {
  // Why they must be refused, shown with node's verifier rather than our arithmetic.
  const canonical = SMALL_ORDER_KEYS.filter((k) => k.canonical);
  assert.equal(canonical.length, 8, canonical.map((k) => k.name).join('; '));
  for (const key of canonical) assert.ok(forgeries(opensslKey(key.raw), 64) > 0, `${key.name}: no forgery in 64 messages`);
  assert.equal(forgeries(opensslKey(SMALL_ORDER_KEYS.find((k) => k.name === '1 (identity), sign 0')!.raw), 64), 64, 'the identity key verifies every message');
});

test('every small-order encoding (libsodium\'s 14) is refused as a webhook key with TTMA_ERR_CONFIG', () => {
  for (const key of SMALL_ORDER_KEYS) {
    assert.notEqual(ed25519PublicKeyProblem(key.raw), null, key.name);
    assert.throws(() => parseEd25519PublicKey(key.base64), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /Ed25519/.test((err as Error).message), key.name);
  }
});

test('probe7: with the identity key the forged call.initiated cannot get past the parser', () => {
  const identity = SMALL_ORDER_KEYS.find((k) => k.name === '1 (identity), sign 0')!;
  assert.equal(identity.base64, 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
  assert.throws(() => parseEd25519PublicKey(identity.base64), /small-order/);
  // The same forgery against a genuine key: refused.
  const genuine = parseEd25519PublicKey(Buffer.from(nacl.sign.keyPair().publicKey).toString('base64'));
  const now = Math.floor(Date.now() / 1000);
  const body = Buffer.from('{"data":{"event_type":"call.initiated","id":"g1","payload":{"call_control_id":"y"}}}');
  const verdict = verifyWebhookSignature({ publicKey: genuine, signatureHeader: FORGED_SIGNATURE.toString('base64'), timestampHeader: String(now), rawBody: body, nowSec: now });
  assert.deepEqual(verdict, { ok: false, reason: 'bad_signature' });
});

test('bytes that are no curve point, and y spelled past p, are refused', () => {
  // y = 2: (y^2 - 1) / (d y^2 + 1) is not a square mod p, so no x exists.
  const two = Buffer.alloc(32);
  two[0] = 2;
  assert.equal(ed25519PublicKeyProblem(two), 'not_on_curve');
  assert.throws(() => parseEd25519PublicKey(two.toString('base64')), /not a point on the Ed25519 curve/);
  const allOnes = Buffer.alloc(32, 0xff);
  assert.equal(ed25519PublicKeyProblem(allOnes), 'non_canonical');
});

test('genuine keys pass, whatever their sign bit', () => {
  let signs = 0;
  for (let i = 0; i < 200; i++) {
    const raw = nacl.sign.keyPair().publicKey;
    signs += raw[31]! >> 7;
    assert.equal(ed25519PublicKeyProblem(raw), null, Buffer.from(raw).toString('base64'));
  }
  assert.ok(signs > 0 && signs < 200, 'both signs were tried');
});
