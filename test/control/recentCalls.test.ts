import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentCalls } from '../../src/control/RecentCalls.js';

describe('RecentCalls (ttma calls, the gateway side)', () => {
  it('lists live, ended and refused calls newest first, as copies, and keeps the last 1,000', async () => {
    const recent = new RecentCalls();
    const first = RecentCalls.open('v3:a', 'incoming', '+15550000001', '+15551230001');
    await new Promise((resolve) => setTimeout(resolve, 2));
    recent.refused('v3:b', 'incoming', '+15550000002', '+15551230001', 'gateway full');
    await new Promise((resolve) => setTimeout(resolve, 2));
    const live = RecentCalls.open('v3:c', 'outgoing', '+15551230001', '+15557654321');
    recent.ended(first, 1234, 'x'.repeat(300));
    const listed = recent.recent([live], 10);
    assert.deepEqual(listed.map((r) => [r.call_control_id, r.state]), [['v3:c', 'live'], ['v3:b', 'refused'], ['v3:a', 'ended']]);
    assert.equal(listed[2]!.duration_ms, 1234);
    assert.equal(listed[2]!.end_reason!.length, 200);
    assert.equal(listed[1]!.end_reason, 'gateway full');
    listed[0]!.state = 'ended';
    assert.equal(live.state, 'live', 'the list holds copies');
    assert.equal(recent.recent([], 1).length, 1);
    assert.equal(recent.recent([], -1).length, 0);
    for (let i = 0; i < 1_005; i++) recent.refused(`v3:n${i}`, 'incoming', '+1', '+2', 'busy');
    const all = recent.recent([], 5_000);
    assert.equal(all.length, 1_000);
    assert.ok(!all.some((r) => r.call_control_id === 'v3:a'));
  });
});
