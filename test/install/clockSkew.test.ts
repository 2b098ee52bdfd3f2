/**
 * The installer's clock warning (src/installer/clockSkew.ts): the platform
 * decides expiry, so a skewed clock never stops an install; it is named,
 * measured against the platform's Date header, because the gateway checks
 * webhook timestamps against it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOCK_SKEW_WARN_MS, clockWarnings } from '../../src/installer/clockSkew.js';

const T = Date.UTC(2026, 0, 1, 12);

test('within a minute of the platform: no warning, whatever the token expiry says', () => {
  assert.deepEqual(clockWarnings(T + CLOCK_SKEW_WARN_MS, T, T - 1), []);
  assert.deepEqual(clockWarnings(T - CLOCK_SKEW_WARN_MS, T, T + 1), []);
});

test('ahead or behind: one warning naming the skew and the direction', () => {
  const [ahead] = clockWarnings(T + 16 * 60_000, T, T + 60_000);
  assert.match(ahead!, /^this machine's clock is 16 min ahead of the platform's \(its Date header at redemption\): the install went ahead/);
  assert.match(ahead!, /webhook timestamps .*within 300 s/);
  assert.match(clockWarnings(T - 90_000, T, T + 60_000)[0]!, /^this machine's clock is 90 s behind the platform's/);
});

test('without a Date header: a warning only when this clock is past the expiry the platform just honoured', () => {
  assert.deepEqual(clockWarnings(T, null, T + 1), []);
  assert.match(clockWarnings(T, null, T)[0]!, /^by this machine's clock the token expired at 2026-01-01T12:00:00\.000Z, yet the platform accepted it/);
});
