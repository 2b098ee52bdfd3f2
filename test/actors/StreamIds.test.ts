/**
 * Which stream a `streaming.failed` is about (src/actors/StreamIds.ts): the
 * live stream's own failure counts, a failure of a stream that was replaced
 * (late, out of order) does not, and without a socket a failure that may be
 * the requested stream's does. The e2e file test/e2e/staleStreamFailed.test.ts
 * drives the same through a real gateway.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamIds, occurredAtMsOf, streamIdOf } from '../../src/actors/StreamIds.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');

describe('StreamIds', () => {
  it('no stream yet: any failure may be the requested stream (the answer\'s)', () => {
    const ids = new StreamIds();
    assert.equal(ids.failure(undefined, T0, false), 'requested');
    assert.equal(ids.failure('s-1', T0, false), 'requested');
  });

  it('a live socket: only a failure naming its stream counts', () => {
    const ids = new StreamIds();
    ids.opened();
    assert.equal(ids.failure('s-1', T0, true), 'other', 'its start not read yet: nothing named is known to be it');
    ids.landed('s-1');
    assert.equal(ids.failure('s-1', T0, true), 'live');
    assert.equal(ids.failure('s-0', T0, true), 'other');
    assert.equal(ids.failure(undefined, T0, true), 'other', 'a failure without a name cannot be told from an old one');
  });

  it('the socket lost: the lost stream\'s failure is old; another may be the requested stream\'s', () => {
    const ids = new StreamIds();
    ids.opened();
    ids.landed('lost');
    assert.equal(ids.failure('lost', T0, false), 'other');
    assert.equal(ids.failure('never-seen', T0, false), 'requested');
    assert.equal(ids.failure(undefined, T0, false), 'requested');
    // The new stream lands: the lost one's failure still changes nothing, with the socket or without.
    ids.opened();
    assert.equal(ids.failure('lost', T0, true), 'other', 'the new socket\'s start not read yet');
    ids.landed('new');
    assert.equal(ids.failure('lost', T0, true), 'other');
    assert.equal(ids.failure('new', T0, true), 'live');
  });

  it('streaming.started names streams too, and a failure that occurred before a later start is old', () => {
    const ids = new StreamIds();
    ids.reportedStarted('s-1', T0 + 1_000);
    assert.equal(ids.failure('s-1', T0 + 2_000, false), 'other');
    assert.equal(ids.failure(undefined, T0 + 500, false), 'other', 'it occurred before s-1 started');
    assert.equal(ids.failure(undefined, T0 + 2_000, false), 'requested');
    ids.reportedStarted(undefined, T0 - 5_000);
    assert.equal(ids.failure(undefined, T0 + 500, false), 'other', 'a late start does not move the latest back');
  });

  it('ids and times are read strictly', () => {
    assert.equal(streamIdOf('a'.repeat(128)), 'a'.repeat(128));
    for (const bad of ['', 'a'.repeat(129), 7, null, {}]) assert.equal(streamIdOf(bad), undefined);
    assert.equal(occurredAtMsOf('2025-01-01T00:00:00.000Z'), T0);
    for (const bad of ['yesterday', 12, undefined]) assert.equal(occurredAtMsOf(bad), undefined);
  });
});
