import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundQueue } from '../../src/media/OutboundQueue.js';

test('frames leave in order with their arrival times; a mark passes when the frame before it is sent', () => {
  const q = new OutboundQueue<string>(100);
  assert.deepEqual(q.mark('nothing-queued'), ['nothing-queued'], 'with nothing queued a mark has passed at once');
  q.push('f1', 10);
  q.push('f2', 20);
  assert.deepEqual(q.mark('after-f2'), []);
  q.push('f3', 30);
  assert.deepEqual(q.mark('after-f3'), []);
  assert.deepEqual(q.mark('also-after-f3'), []);
  assert.equal(q.pendingMarks, 3);
  assert.equal(q.headInAtMs, 10);
  assert.equal(q.shift(), 'f1');
  assert.deepEqual(q.passedMarks(), []);
  assert.equal(q.headInAtMs, 20);
  assert.equal(q.shift(), 'f2');
  assert.deepEqual(q.passedMarks(), ['after-f2']);
  assert.equal(q.shift(), 'f3');
  assert.deepEqual(q.passedMarks(), ['after-f3', 'also-after-f3']);
  assert.equal(q.shift(), undefined);
  assert.ok(Number.isNaN(q.headInAtMs));
  assert.equal(q.length, 0);
});

test('clear drops every frame and every pending mark at once and says which', () => {
  const q = new OutboundQueue<number>(100);
  for (let i = 0; i < 5; i++) q.push(i, i);
  q.mark('m5');
  for (let i = 5; i < 9; i++) q.push(i, i);
  q.mark('m9');
  q.shift();
  q.shift();
  assert.deepEqual(q.passedMarks(), []);
  assert.deepEqual(q.clear(), { frames: 7, marks: ['m5', 'm9'] });
  assert.equal(q.length, 0);
  assert.equal(q.pendingMarks, 0);
  // The queue goes on after a clear: marks count from the new frames.
  q.push(100, 0);
  q.mark('new');
  assert.equal(q.shift(), 100);
  assert.deepEqual(q.passedMarks(), ['new']);
});

test('a full queue drops its oldest frame, counted, and marks behind it pass; it grows up to its bound only', () => {
  const q = new OutboundQueue<number>(40);
  q.push(0, 0);
  q.mark('after-0');
  for (let i = 1; i < 40; i++) assert.deepEqual(q.push(i, i), []);
  assert.equal(q.length, 40);
  assert.deepEqual(q.push(40, 40), ['after-0']);
  assert.equal(q.overflowDrops, 1);
  assert.equal(q.length, 40);
  const out: number[] = [];
  for (let f = q.shift(); f !== undefined; f = q.shift()) out.push(f);
  assert.deepEqual(out, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.throws(() => new OutboundQueue(0), RangeError);
});

test('ring wrap-around keeps order and marks through many pushes and shifts', () => {
  const q = new OutboundQueue<number>(64);
  let next = 0;
  let expect = 0;
  const passed: string[] = [];
  for (let round = 0; round < 200; round++) {
    for (let k = 0; k < (round % 4) + 1; k++) q.push(next++, 0);
    if (round % 5 === 0) passed.push(...q.mark(`m${next}`));
    for (let k = 0; k < (round % 5) + 1; k++) {
      const f = q.shift();
      if (f === undefined) break;
      assert.equal(f, expect++);
      for (const m of q.passedMarks()) {
        passed.push(m);
        assert.ok(Number(m.slice(1)) <= expect, `${m} passed only after frame ${Number(m.slice(1)) - 1} was sent`);
      }
    }
  }
  assert.equal(q.overflowDrops, 0);
  assert.ok(expect > 400 && passed.length >= 39, `${expect} frames, ${passed.length} marks went through`);
});

test('a weight bound (text length) drops the oldest until the new frame fits; a single frame always fits', () => {
  const q = new OutboundQueue<string>(100, { max: 10, of: (f) => f.length });
  q.push('aaaa', 0);
  q.mark('after-a');
  q.push('bbbb', 0);
  assert.deepEqual(q.push('cccc', 0), ['after-a'], 'the first went for room; its mark passed');
  assert.equal(q.overflowDrops, 1);
  q.push('dddddddddddd', 0);
  assert.equal(q.length, 1, 'a frame over the bound on its own replaces everything');
  assert.equal(q.shift(), 'dddddddddddd');
  q.push('eeeee', 0);
  q.push('fffff', 0);
  assert.equal(q.length, 2, 'the weight of frames taken is given back');
});

test('reserved frames (a greeting) count against no bound, are never dropped for room, and go first', () => {
  const q = new OutboundQueue<string>(3, { max: 100, of: (f) => f.length });
  for (let i = 0; i < 10; i++) q.pushReserved(`g${i}`.padEnd(50, '.'));
  for (let i = 0; i < 3; i++) q.push(`a${i}`, i);
  assert.equal(q.overflowDrops, 0, 'ten reserved frames and three agent frames fit a bound of 3');
  q.push('a3', 3);
  assert.equal(q.overflowDrops, 1, 'full behind the greeting: the new frame is the one dropped');
  assert.throws(() => q.pushReserved('late'), RangeError);
  const out: string[] = [];
  for (let f = q.shift(); f !== undefined; f = q.shift()) out.push(f.slice(0, 2));
  assert.deepEqual(out, ['g0', 'g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8', 'g9', 'a0', 'a1', 'a2']);
  // With the greeting gone the bounds are the agent's alone again.
  for (let i = 0; i < 4; i++) q.push(`b${i}`, i);
  assert.equal(q.length, 3);
  assert.equal(q.shift(), 'b1');
  q.clear();
  q.pushReserved('g');
  assert.equal(q.length, 1, 'after a clear reserved frames may go first again');
});

test('a ring grown by a long reply is given back once it empties', () => {
  const q = new OutboundQueue<number>(10_000);
  for (let i = 0; i < 8_000; i++) q.push(i, i);
  assert.ok(q.capacity >= 8_000);
  while (q.shift() !== undefined);
  assert.ok(q.capacity <= 16, `${q.capacity} slots kept after the queue emptied`);
  for (let i = 0; i < 8_000; i++) q.push(i, i);
  assert.equal(q.clear().frames, 8_000);
  assert.ok(q.capacity <= 16, `${q.capacity} slots kept after a clear`);
});
