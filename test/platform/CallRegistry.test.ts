import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallRegistry } from '../../src/platform/CallRegistry.js';

const inbound = { direction: 'incoming' as const, from: '+15550000001', to: '+15551230001' };

describe('CallRegistry', () => {
  it('locks a call at first sight and never re-assigns it', () => {
    const calls = new CallRegistry();
    assert.equal(calls.lock('c1', 'dep-a', inbound).ok, true);
    assert.equal(calls.lock('c1', 'dep-a', inbound).ok, true);
    const stolen = calls.lock('c1', 'dep-b', inbound);
    assert.equal(stolen.ok, false);
    assert.equal(calls.ownerOf('c1')?.deploymentId, 'dep-a');
    // Unowned is a lock too.
    calls.lock('c2', null, inbound);
    assert.equal(calls.lock('c2', 'dep-b', inbound).ok, false);
    assert.deepEqual(calls.ownerOf('c2'), { locked: true, deploymentId: null });
  });

  it('keeps an outgoing call seen first by webhook unlocked until the dial locks it', () => {
    const calls = new CallRegistry();
    const out = { direction: 'outgoing' as const, from: '+15551230001', to: '+15559990000' };
    calls.recordEvent('o1', out, { event_type: 'call.initiated', occurred_at: '2025-01-01T00:00:00.000Z' });
    assert.deepEqual(calls.ownerOf('o1'), { locked: false, deploymentId: null });
    assert.equal(calls.lock('o1', 'dep-a', out).ok, true);
    assert.equal(calls.get('o1')?.timeline.length, 1);
    assert.equal(calls.lock('o1', 'dep-b', out).ok, false);
  });

  it('orders the timeline by occurred_at and only moves the state forward', () => {
    const calls = new CallRegistry();
    calls.lock('c1', 'dep-a', inbound);
    calls.recordEvent('c1', inbound, { event_type: 'call.hangup', occurred_at: '2025-01-01T00:00:09.000Z', hangup_cause: 'normal_clearing' });
    calls.recordEvent('c1', inbound, { event_type: 'call.initiated', occurred_at: '2025-01-01T00:00:00.000Z' });
    calls.recordEvent('c1', inbound, { event_type: 'call.answered', occurred_at: '2025-01-01T00:00:01.000Z' });
    const record = calls.get('c1');
    assert.deepEqual(
      record?.timeline.map((e) => e.event),
      ['call.initiated', 'call.answered', 'call.hangup'],
    );
    assert.equal(record?.state, 'ended');
    assert.equal(record?.hangupCause, 'normal_clearing');
  });

  it('stays bounded, forgetting ended calls first', () => {
    const calls = new CallRegistry({ maxCalls: 3 });
    calls.lock('a', 'd', inbound);
    calls.lock('b', 'd', inbound);
    calls.recordEvent('b', inbound, { event_type: 'call.hangup', occurred_at: '2025-01-01T00:00:00.000Z' });
    calls.lock('c', 'd', inbound);
    calls.lock('d', 'd', inbound);
    assert.equal(calls.size, 3);
    assert.equal(calls.get('b'), undefined);
    assert.ok(calls.get('a'));
  });
});
