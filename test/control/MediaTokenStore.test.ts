import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TOKENS_PER_CALL, MediaTokenStore } from '../../src/control/MediaTokenStore.js';

test('a token works once, for its own call only', () => {
  const store = new MediaTokenStore(30_000);
  const token = store.issue('call-a', 0);
  assert.ok(token.length >= 43, '256-bit token');
  assert.deepEqual(store.consume('call-a', token, 1), { ok: true });
  assert.deepEqual(store.consume('call-a', token, 2), { ok: false, reason: 'unknown' });
});

test('a token presented for another call is refused and burnt', () => {
  const store = new MediaTokenStore(30_000);
  const token = store.issue('call-a', 0);
  store.issue('call-b', 0);
  assert.deepEqual(store.consume('call-b', token, 1), { ok: false, reason: 'wrong_call' });
  assert.deepEqual(store.consume('call-a', token, 2), { ok: false, reason: 'unknown' });
});

test('missing, wrong and expired tokens are refused', () => {
  const store = new MediaTokenStore(30_000);
  const token = store.issue('call-a', 0);
  assert.deepEqual(store.consume('call-a', undefined, 1), { ok: false, reason: 'missing' });
  assert.deepEqual(store.consume('call-a', '', 1), { ok: false, reason: 'missing' });
  assert.deepEqual(store.consume('call-a', `${token}x`, 1), { ok: false, reason: 'unknown' });
  // Told apart from a guess (the operator's metric says `expired`), and spent: the next try is unknown.
  assert.deepEqual(store.consume('call-a', token, 30_000), { ok: false, reason: 'expired' });
  assert.deepEqual(store.consume('call-a', token, 30_001), { ok: false, reason: 'unknown' });
});

test('revoking a call (it ended) makes its token useless', () => {
  const store = new MediaTokenStore(30_000);
  const token = store.issue('call-a', 0);
  store.revokeCall('call-a');
  assert.deepEqual(store.consume('call-a', token, 1), { ok: false, reason: 'unknown' });
  assert.equal(store.size, 0);
});

test('re-issuing replaces the old token', () => {
  const store = new MediaTokenStore(30_000);
  const first = store.issue('call-a', 0);
  const second = store.issue('call-a', 0);
  assert.notEqual(first, second);
  assert.equal(store.consume('call-a', first, 1).ok, false);
  assert.equal(store.consume('call-a', second, 1).ok, true);
});

test('sweep drops expired entries', () => {
  const store = new MediaTokenStore(1_000);
  store.issue('a', 0);
  store.issue('b', 500);
  store.sweep(1_200);
  assert.equal(store.size, 1);
  assert.equal(store.hasPendingToken('a'), false);
  assert.equal(store.hasPendingToken('b'), true);
});

test('issuing another keeps the unused ones; the first redeemed revokes the rest', () => {
  const store = new MediaTokenStore(30_000);
  const first = store.issueAnother('call-a', 0);
  const second = store.issueAnother('call-a', 0);
  const third = store.issueAnother('call-a', 0);
  store.issue('call-b', 0);
  assert.equal(store.size, 4);
  assert.deepEqual(store.consume('call-a', first, 1), { ok: true }, 'the earlier request\'s token still opens the call');
  assert.deepEqual(store.consume('call-a', second, 2), { ok: false, reason: 'unknown' });
  assert.deepEqual(store.consume('call-a', third, 2), { ok: false, reason: 'unknown' });
  assert.equal(store.hasPendingToken('call-a'), false);
  assert.equal(store.hasPendingToken('call-b'), true, 'another call\'s token is untouched');
});

test('revoking one token leaves the call\'s others; a call holds a bounded number', () => {
  const store = new MediaTokenStore(30_000);
  const kept = store.issueAnother('call-a', 0);
  const refused = store.issueAnother('call-a', 0);
  store.revoke('call-b', refused); // not that call's: nothing
  store.revoke('call-a', refused);
  assert.equal(store.consume('call-a', refused, 1).ok, false);
  assert.equal(store.consume('call-a', kept, 1).ok, true);
  const many = Array.from({ length: MAX_TOKENS_PER_CALL + 2 }, () => store.issueAnother('call-c', 0));
  assert.equal(store.size, MAX_TOKENS_PER_CALL);
  assert.equal(store.consume('call-c', many[0], 1).ok, false, 'the oldest went');
  assert.equal(store.consume('call-c', many.at(-1), 1).ok, true);
  store.issueAnother('call-d', 0);
  store.issueAnother('call-d', 0);
  store.revokeCall('call-d');
  assert.equal(store.size, 0);
});

test('a dial\'s token, filed under its call once named, is one set with the call\'s: either redeemed revokes the other', () => {
  const store = new MediaTokenStore(30_000);
  const dial = store.issue('o-media', 0);
  store.fileUnder('o-media', 'call-a');
  assert.equal(store.hasPendingToken('o-media'), false);
  const again = store.issueAnother('call-a', 1);
  assert.deepEqual(store.consume('call-a', again, 2), { ok: true });
  assert.deepEqual(store.consume('o-media', dial, 3), { ok: false, reason: 'unknown' }, 'the call id\'s token landing revoked the dial\'s');

  const dial2 = store.issue('o-media2', 0);
  store.fileUnder('o-media2', 'call-b');
  const again2 = store.issueAnother('call-b', 1);
  assert.deepEqual(store.consume('o-media2', dial2, 2), { ok: true }, 'the dial\'s token still opens its own path');
  assert.deepEqual(store.consume('call-b', again2, 3), { ok: false, reason: 'unknown' }, 'the dial\'s token landing revoked the call id\'s');
  assert.equal(store.size, 0);
});

test('a filed dial token opens only its media id\'s path, and goes when the call ends', () => {
  const store = new MediaTokenStore(30_000);
  const crossed = store.issue('o-media', 0);
  store.fileUnder('o-media', 'call-a');
  assert.deepEqual(store.consume('call-a', crossed, 1), { ok: false, reason: 'wrong_call' }, 'not on the call id\'s path');
  assert.deepEqual(store.consume('o-media', crossed, 2), { ok: false, reason: 'unknown' }, 'and burnt');
  const ended = store.issue('o-media2', 0);
  store.fileUnder('o-media2', 'call-b');
  store.issueAnother('call-b', 1);
  store.revokeCall('call-b');
  assert.deepEqual(store.consume('o-media2', ended, 2), { ok: false, reason: 'unknown' });
  assert.equal(store.size, 0);
});

test('a dial\'s token outlasts the ringing, then has the TTL from the answer', () => {
  const store = new MediaTokenStore(1_000);
  const rang = store.issue('o-media', 0, 600_000);
  store.fileUnder('o-media', 'call-a');
  store.sweep(500_000);
  store.answered('call-a', 500_000);
  assert.deepEqual(store.consume('o-media', rang, 500_900), { ok: true }, 'answered after 500 s of ringing: the stream lands');
  const unused = store.issue('o-media2', 0, 600_000);
  store.fileUnder('o-media2', 'call-b');
  store.answered('call-b', 10_000);
  assert.deepEqual(store.consume('o-media2', unused, 11_000), { ok: false, reason: 'expired' }, 'a TTL after the answer it is spent');
  const inbound = store.issue('call-c', 0);
  store.answered('call-c', 900);
  assert.deepEqual(store.consume('call-c', inbound, 1_000), { ok: false, reason: 'expired' }, 'an answer never lengthens a token');
});
