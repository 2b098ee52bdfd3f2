/**
 * The install envelope with real AES-256-GCM and HKDF (node:crypto): every
 * tampering is refused, and a short tag never reaches a successful decipher.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isTtmaError, ErrorCodes } from '../../src/errors.js';
import {
  formatInstallToken,
  newInstallToken,
  openInstallEnvelope,
  parseInstallToken,
  sealInstallPayload,
  type InstallEnvelope,
} from '../../src/wire/installToken.js';

const NOW = 1_700_000_000_000;
const EXPIRES = NOW + 15 * 60 * 1000;

function sealed() {
  const token = newInstallToken();
  const payload = { deploymentId: 'dep-one', expiresAt: EXPIRES, agentSecret: 'x'.repeat(43) };
  const envelope = sealInstallPayload(token, 'dep-one', EXPIRES, payload);
  return { token, envelope, payload };
}

const refusedAsToken = (err: unknown) => isTtmaError(err, ErrorCodes.INSTALL_TOKEN);

test('a sealed payload opens with its token before the expiry', () => {
  const { token, envelope, payload } = sealed();
  assert.deepEqual(openInstallEnvelope(envelope, token, NOW), payload);
  // The token text round-trips, and the envelope carries no secret in clear.
  const text = formatInstallToken(token);
  assert.match(text, /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(parseInstallToken(text).secret, token.secret);
  assert.ok(!JSON.stringify(envelope).includes(payload.agentSecret));
  assert.ok(!JSON.stringify(envelope).includes(token.secret.toString('base64url')));
});

test('each salt and nonce is fresh: two seals of one payload share nothing', () => {
  const token = newInstallToken();
  const a = sealInstallPayload(token, 'dep-one', EXPIRES, { deploymentId: 'dep-one', expiresAt: EXPIRES });
  const b = sealInstallPayload(token, 'dep-one', EXPIRES, { deploymentId: 'dep-one', expiresAt: EXPIRES });
  assert.notEqual(a.salt, b.salt);
  assert.notEqual(a.nonce, b.nonce);
  assert.notEqual(a.ciphertext, b.ciphertext);
});

test('a flipped ciphertext byte is refused, at every position', () => {
  const { token, envelope } = sealed();
  const bytes = Buffer.from(envelope.ciphertext, 'base64url');
  for (let i = 0; i < bytes.length; i++) {
    const flipped = Buffer.from(bytes);
    flipped[i] = flipped[i]! ^ 0x01;
    assert.throws(() => openInstallEnvelope({ ...envelope, ciphertext: flipped.toString('base64url') }, token, NOW), refusedAsToken);
  }
});

test('a changed AAD field (deployment, expiry, version, id) is refused', () => {
  const { token, envelope } = sealed();
  const variants: Partial<InstallEnvelope>[] = [
    { deploymentId: 'dep-two' },
    { expiresAt: EXPIRES + 60_000 },
    { v: 2 },
    { id: newInstallToken().id },
  ];
  for (const change of variants) {
    assert.throws(() => openInstallEnvelope({ ...envelope, ...change }, token, NOW), refusedAsToken, JSON.stringify(change));
  }
  // A changed tag, salt or nonce too.
  for (const field of ['tag', 'salt', 'nonce'] as const) {
    const bytes = Buffer.from(envelope[field], 'base64url');
    bytes[0] = bytes[0]! ^ 0x80;
    assert.throws(() => openInstallEnvelope({ ...envelope, [field]: bytes.toString('base64url') }, token, NOW), refusedAsToken, field);
  }
});

test('a short tag is refused; and node itself refuses it with authTagLength 16', () => {
  const { token, envelope } = sealed();
  for (const length of [0, 4, 8, 12, 15]) {
    const short = Buffer.from(envelope.tag, 'base64url').subarray(0, length).toString('base64url');
    assert.throws(() => openInstallEnvelope({ ...envelope, tag: short }, token, NOW), (err: unknown) => refusedAsToken(err) && /tag must be 16 bytes/.test((err as Error).message));
  }
  // The second wall: a decipher created with authTagLength 16 will not take a 4-byte tag.
  const decipher = createDecipheriv('aes-256-gcm', randomBytes(32), randomBytes(12), { authTagLength: 16 });
  assert.throws(() => decipher.setAuthTag(Buffer.alloc(4)));
});

test('the wrong secret is refused', () => {
  const { token, envelope } = sealed();
  const other = { id: token.id, secret: randomBytes(32) };
  assert.throws(() => openInstallEnvelope(envelope, other, NOW), refusedAsToken);
});

test('an expired payload is refused even with the right secret', () => {
  const { token, envelope } = sealed();
  assert.throws(() => openInstallEnvelope(envelope, token, EXPIRES), (err: unknown) => refusedAsToken(err) && /expired/.test((err as Error).message));
});

test('malformed token texts are refused before any use', () => {
  const bad = ['', 'abc', 'a.b', `${'a'.repeat(16)}.${'b'.repeat(42)}`, `${'a'.repeat(16)};${'b'.repeat(43)}`, `${'a'.repeat(16)}.${'b'.repeat(43)}\n`, `$(id)${'a'.repeat(11)}.${'b'.repeat(43)}`, 42, null];
  for (const text of bad) assert.throws(() => parseInstallToken(text), refusedAsToken, JSON.stringify(text));
  // Non-canonical base64url (last character carries unused bits) is refused too.
  assert.throws(() => parseInstallToken(`${'a'.repeat(16)}.${'b'.repeat(42)}B`), refusedAsToken);
});

test('a fresh token never starts with "-" (it is pasted after --token) and always parses', () => {
  // 1 in 64 raw ids starts with '-': 4,000 tokens would show about 60 if ids were not redrawn.
  for (let i = 0; i < 4_000; i++) {
    const text = formatInstallToken(newInstallToken());
    assert.notEqual(text[0], '-', text);
    assert.equal(formatInstallToken(parseInstallToken(text)), text);
  }
});
