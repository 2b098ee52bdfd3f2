/**
 * What the platform takes from a verified provider event's time
 * (src/platform/providerEvents.ts) and what it bills from the webhooks when
 * the provider's record never comes (src/platform/Settlement.ts): the
 * provider's own ISO 8601 form only, normalised, never in the future, and a
 * fallback duration no longer than the platform has known the call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callEventOf, occurredAtOf } from '../../src/platform/providerEvents.js';
import { timelineDurationMs } from '../../src/platform/Settlement.js';

const NOW = Date.parse('2026-11-29T12:00:00.000Z');

describe('occurred_at', () => {
  it("takes the provider's ISO 8601 forms, normalised to milliseconds in UTC", () => {
    assert.equal(occurredAtOf('2026-11-29T11:59:58.521992Z', NOW), '2026-11-29T11:59:58.521Z');
    assert.equal(occurredAtOf('2026-11-29T11:59:58Z', NOW), '2026-11-29T11:59:58.000Z');
    assert.equal(occurredAtOf('2026-11-29T12:59:58.5+01:00', NOW), '2026-11-29T11:59:58.500Z');
  });

  it('refuses what Date.parse would take but the provider never sends, and times before 2020', () => {
    for (const value of ['2000', '1', '2024-01-01 (x)', `2024-01-01T00:00:00Z${' '.repeat(10)}`, '2024-01-01', 'Sun, 29 Nov 2026 12:00:00 GMT', '2019-12-31T23:59:59Z', '2026-13-01T00:00:00Z', 7, null, undefined, {}]) {
      assert.equal(occurredAtOf(value, NOW), null, String(value));
    }
    assert.equal(occurredAtOf(`2024-01-01T00:00:00.${'1'.repeat(60_000)}Z`, NOW), null, 'a 60 KB time');
  });

  it('takes a time ahead of our clock as now', () => {
    assert.equal(occurredAtOf('2027-01-01T00:00:00Z', NOW), '2026-11-29T12:00:00.000Z');
  });

  it('an event with a time it refuses is no call event', () => {
    const data = { event_type: 'call.answered', occurred_at: '2000', payload: { call_control_id: 'v3:abc', direction: 'incoming', from: '+15550000001', to: '+15550000002' } };
    assert.equal(callEventOf(data, NOW), null);
    assert.equal(callEventOf({ ...data, occurred_at: '2026-11-29T11:00:00Z' }, NOW)?.occurredAt, '2026-11-29T11:00:00.000Z');
  });
});

describe('billing from the webhooks', () => {
  const seen = '2026-11-29T11:50:00.000Z';
  it('is answer to hang-up', () => {
    assert.equal(timelineDurationMs({ firstSeenAt: seen, answeredAt: '2026-11-29T11:55:00.000Z', endedAt: '2026-11-29T11:57:30.000Z' }, NOW), 150_000);
  });

  it('never longer than the platform has known the call, whatever the events say', () => {
    assert.equal(timelineDurationMs({ firstSeenAt: seen, answeredAt: '2020-01-01T00:00:00.000Z', endedAt: '2026-11-29T11:59:00.000Z' }, NOW), 600_000);
  });

  it('is 0 without an answer or an end, or with an end before the answer', () => {
    assert.equal(timelineDurationMs({ firstSeenAt: seen, answeredAt: null, endedAt: '2026-11-29T11:57:30.000Z' }, NOW), 0);
    assert.equal(timelineDurationMs({ firstSeenAt: seen, answeredAt: '2026-11-29T11:55:00.000Z', endedAt: null }, NOW), 0);
    assert.equal(timelineDurationMs({ firstSeenAt: seen, answeredAt: '2026-11-29T11:58:00.000Z', endedAt: '2026-11-29T11:57:00.000Z' }, NOW), 0);
  });
});
