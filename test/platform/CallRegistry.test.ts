/**
 * The registry in front of the call store: what it picks by default. The
 * store's behaviour itself is tested on both stores in callStore.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallRegistry, directionOf } from '../../src/platform/CallRegistry.js';

const inbound = { direction: 'incoming' as const, from: '+15550000001', to: '+15551230001' };

describe('CallRegistry', () => {
  it('keeps records in process by default, bounded by maxCalls', async () => {
    const calls = new CallRegistry({ maxCalls: 2 });
    assert.equal(calls.store.kind, 'memory');
    for (const id of ['a', 'b', 'c']) await calls.lock(id, 'dep-a', inbound);
    assert.deepEqual((await calls.list()).map((r) => r.callControlId).sort(), ['b', 'c']);
    assert.equal(await calls.ownerOf('a'), undefined);
  });

  it('reads both spellings of a direction and nothing else', () => {
    assert.equal(directionOf('inbound'), 'incoming');
    assert.equal(directionOf('incoming'), 'incoming');
    assert.equal(directionOf('outbound'), 'outgoing');
    assert.equal(directionOf('outgoing'), 'outgoing');
    assert.equal(directionOf('sideways'), null);
  });
});
