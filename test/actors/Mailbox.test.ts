import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mailbox } from '../../src/actors/Mailbox.js';

test('FIFO order within capacity', () => {
  const box = new Mailbox<number>(3);
  box.push(1);
  box.push(2);
  assert.equal(box.shift(), 1);
  box.push(3);
  box.push(4);
  assert.deepEqual([box.shift(), box.shift(), box.shift(), box.shift()], [2, 3, 4, undefined]);
  assert.equal(box.dropped, 0);
});

test('when full the oldest is dropped and counted', () => {
  const box = new Mailbox<number>(2);
  assert.equal(box.push(1), undefined);
  box.push(2);
  assert.equal(box.push(3), 1);
  assert.equal(box.push(4), 2);
  assert.equal(box.dropped, 2);
  assert.equal(box.size, 2);
  assert.deepEqual([box.shift(), box.shift()], [3, 4]);
});

test('capacity must be positive', () => {
  assert.throws(() => new Mailbox(0), RangeError);
});
