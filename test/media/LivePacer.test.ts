import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LivePacer } from '../../src/media/LivePacer.js';

/** Drive a pacer with frames arriving at the given times; tick every `tickMs`; return send times. */
function simulate(arrivals: number[], tickMs = 1, endMs = 2_000): number[] {
  const pacer = new LivePacer(20, 1);
  const queue: number[] = [];
  const sends: number[] = [];
  let next = 0;
  for (let t = 0; t <= endMs; t += tickMs) {
    while (next < arrivals.length && arrivals[next]! <= t) queue.push(arrivals[next++]!);
    if (pacer.due(t, queue.length) === 1) {
      queue.shift();
      pacer.sent(t);
      sends.push(t);
    }
  }
  return sends;
}

test('steady input goes out as it arrives, one frame per interval', () => {
  const arrivals = Array.from({ length: 50 }, (_, k) => 7 + 20 * k);
  const sends = simulate(arrivals);
  assert.deepEqual(sends, arrivals);
});

test('a late first frame does not delay the frames after it', () => {
  const arrivals = Array.from({ length: 50 }, (_, k) => 20 * k + (k === 0 ? 15 : 0));
  const sends = simulate(arrivals);
  // Frame 1 arrives 5 ms after frame 0 went: a quarter interval, so it goes at once; the rest are on time.
  assert.equal(sends[1], 20);
  for (let k = 2; k < 50; k++) assert.equal(sends[k], arrivals[k], `frame ${k}`);
});

test('a burst after a stall is worked off at four times real time, never faster', () => {
  // Frames 10..15 are held up and arrive together at 300 ms.
  const arrivals = Array.from({ length: 60 }, (_, k) => (k >= 10 && k <= 15 ? 300 : 20 * k));
  const sends = simulate(arrivals);
  assert.equal(sends.length, 60);
  for (let i = 1; i < sends.length; i++) assert.ok(sends[i]! - sends[i - 1]! >= 5, `gap ${i}: ${sends[i]! - sends[i - 1]!}`);
  // By frame 20 the backlog is gone: each frame leaves as it arrives again.
  for (let k = 20; k < 60; k++) assert.equal(sends[k], arrivals[k], `frame ${k}`);
});

test('jittery input goes out as it arrives, never closer than a quarter interval', () => {
  const arrivals = Array.from({ length: 100 }, (_, k) => 20 * k + ((k * 7919) % 9));
  const sends = simulate(arrivals);
  assert.deepEqual(sends, arrivals);
  const pacer = new LivePacer();
  assert.equal(pacer.due(0, 0), 0);
  assert.equal(pacer.due(0, 1), 1);
  pacer.sent(0);
  assert.equal(pacer.due(4, 5), 0);
  assert.equal(pacer.due(5, 1), 1);
  pacer.sent(5);
  assert.equal(pacer.late, 1, 'a send 5 ms after the previous one is catching up');
});

test('bad parameters are refused', () => {
  assert.throws(() => new LivePacer(0), RangeError);
  assert.throws(() => new LivePacer(20, 20), RangeError);
});

test('a caller that runs late sends the frames it owes, up to four a turn, so its queue drains instead of growing', () => {
  // Frames arrive every 20 ms, but the thread only gets a turn every 40 ms (a starved core).
  const pacer = new LivePacer(20, 1);
  const queue: number[] = [];
  let maxQueue = 0;
  let sent = 0;
  let next = 0;
  for (let t = 0; t <= 4_000; t += 40) {
    for (; next * 20 <= t; next++) queue.push(next * 20);
    const due = pacer.due(t, queue.length, queue[0]);
    assert.ok(due <= 4, `at most four frames a turn, got ${due}`);
    for (let i = 0; i < due; i++) {
      queue.shift();
      pacer.sent(t);
      sent++;
    }
    maxQueue = Math.max(maxQueue, queue.length);
  }
  assert.ok(maxQueue <= 2, `the queue stayed short (max ${maxQueue}); at one frame a turn it grows by one a turn`);
  assert.ok(sent >= 199, `sent ${sent} of 201`);
  // On time (a turn every 5 ms), the head frame just queued: one frame, never a burst.
  const onTime = new LivePacer(20, 1);
  onTime.sent(0);
  assert.equal(onTime.due(100, 6, 98), 1, 'a backlog that just arrived goes one frame a turn');
  assert.equal(onTime.due(100, 6, 60), 4, 'a backlog that waited 40 ms for a turn goes four at once');
  assert.equal(onTime.due(100, 2, 0), 2, 'never more than what is queued');
});
