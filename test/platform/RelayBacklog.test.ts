/** Webhooks held for a gateway with no control connection: bounded by age, bytes and deployments. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RelayBacklog } from '../../src/platform/RelayBacklog.js';

test('held in order for the next connection, then forgotten; past their age they are dropped and counted', () => {
  const backlog = new RelayBacklog({ maxAgeMs: 1_000 });
  assert.ok(backlog.hold('a', 'one', 0));
  assert.ok(backlog.hold('a', 'two', 500));
  assert.ok(backlog.hold('b', 'other', 500));
  assert.deepEqual(backlog.take('a', 1_200), ['two'], 'the first is past its age');
  assert.equal(backlog.dropped, 1);
  assert.deepEqual(backlog.take('a', 1_200), [], 'taken once');
  assert.deepEqual(backlog.take('b', 1_200), ['other']);
  assert.equal(backlog.size, 0);
});

test('a deployment holds at most its byte bound: the oldest go first; one entry larger than the bound is refused', () => {
  const backlog = new RelayBacklog({ maxBytesPerDeployment: 10 });
  for (const text of ['aaaa', 'bbbb', 'cccc']) assert.ok(backlog.hold('a', text, 0));
  assert.deepEqual(backlog.take('a', 0), ['bbbb', 'cccc']);
  assert.equal(backlog.hold('a', 'x'.repeat(11), 0), false);
  assert.equal(backlog.dropped, 2);
});

test('at most maxDeployments deployments: a new one past it is refused unless old ones have aged out', () => {
  const backlog = new RelayBacklog({ maxDeployments: 2, maxAgeMs: 100 });
  assert.ok(backlog.hold('a', 'x', 0));
  assert.ok(backlog.hold('b', 'x', 0));
  assert.equal(backlog.hold('c', 'x', 50), false);
  assert.ok(backlog.hold('c', 'x', 200), 'the others aged out and made room');
  assert.equal(backlog.size, 1);
});
