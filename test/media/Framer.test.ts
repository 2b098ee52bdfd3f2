import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer } from '../../src/media/Framer.js';

function ramp(from: number, n: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => ((from + i) % 65536) - 32768);
}

test('re-chunks any push sizes into exact frames, in order', () => {
  const framer = new Framer(160);
  assert.equal(framer.shift(), undefined);
  framer.push(ramp(0, 100));
  assert.equal(framer.buffered, 100);
  assert.equal(framer.shift(), undefined);
  framer.push(ramp(100, 300));
  assert.equal(framer.buffered, 400);
  assert.equal(framer.frames, 2);
  assert.deepEqual(framer.shift(), ramp(0, 160));
  assert.deepEqual(framer.shift(), ramp(160, 160));
  assert.equal(framer.shift(), undefined);
  assert.equal(framer.buffered, 80);
  framer.push(new Int16Array(0));
  framer.push(ramp(400, 80));
  assert.deepEqual(framer.shift(), ramp(320, 160));
  assert.equal(framer.buffered, 0);
});

test('matches the pushed ramp under random pushes and shifts (ring wrap and growth)', () => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (const frameSize of [1, 160, 320, 441]) {
    const framer = new Framer(frameSize);
    // The reference is the ramp itself: pushed samples are ramp(0, pushed), shifted ones ramp(0, taken).
    let pushed = 0;
    let taken = 0;
    for (let step = 0; step < 1000; step++) {
      if (rand(3) > 0) {
        const chunk = ramp(pushed, rand(rand(10) === 0 ? 5000 : 700));
        pushed += chunk.length;
        framer.push(chunk);
      } else {
        for (let k = rand(4); k > 0; k--) {
          const frame = framer.shift();
          if (pushed - taken < frameSize) {
            assert.equal(frame, undefined);
          } else {
            assert.ok(frame !== undefined && frame.length === frameSize);
            const expected = ramp(taken, frameSize);
            for (let i = 0; i < frameSize; i++) if (frame[i] !== expected[i]) assert.fail(`frame at ${taken}, sample ${i}`);
            taken += frameSize;
          }
        }
      }
      assert.equal(framer.buffered, pushed - taken);
    }
  }
});

test('shiftInto fills a caller buffer without allocating; clear drops everything', () => {
  const framer = new Framer(4);
  framer.push(new Int16Array([1, 2, 3, 4, 5, 6]));
  const out = new Int16Array(5).fill(-1);
  assert.equal(framer.shiftInto(out), true);
  assert.deepEqual([...out], [1, 2, 3, 4, -1]);
  assert.equal(framer.shiftInto(out), false);
  assert.throws(() => framer.shiftInto(new Int16Array(3)), RangeError);
  framer.clear();
  assert.equal(framer.buffered, 0);
  framer.push(new Int16Array([7, 8, 9, 10]));
  assert.deepEqual(framer.shift(), new Int16Array([7, 8, 9, 10]));
  assert.throws(() => new Framer(0), RangeError);
  assert.throws(() => new Framer(1.5), RangeError);
});

test('linear cost: 60 s at 48 kHz pushed at once, then shifted frame by frame', () => {
  const framer = new Framer(960);
  const total = 48000 * 60;
  const start = performance.now();
  framer.push(ramp(0, total));
  let frames = 0;
  let last: Int16Array | undefined;
  for (let f = framer.shift(); f; f = framer.shift()) {
    frames++;
    last = f;
  }
  const ms = performance.now() - start;
  assert.equal(frames, total / 960);
  assert.deepEqual(last, ramp(total - 960, 960));
  // A copy-the-rest-per-shift framer would move ~4e9 samples here.
  assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
});
