import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacerSchedule } from '../../src/media/PacerSchedule.js';

/**
 * Drive a pacer with a synthetic clock: `ticks` are the times the caller's
 * clock fires; `queueAt(t)` is how many frames are queued at time t before
 * sending (frames only leave by being sent). Returns the send times.
 */
function drive(
  pacer: PacerSchedule,
  ticks: number[],
  arrivals: (t: number) => number,
  options: { reportEmpty?: boolean } = {},
): number[] {
  const reportEmpty = options.reportEmpty ?? true;
  const sends: number[] = [];
  let queued = 0;
  let arrived = 0;
  for (const t of ticks) {
    const total = arrivals(t);
    queued += total - arrived;
    arrived = total;
    if (queued === 0 && !reportEmpty) continue; // a caller that skips the pacer when idle
    const n = pacer.due(t, queued);
    assert.ok(n === 0 || n === 1, `due() gave ${n}`);
    if (n === 1) {
      queued--;
      pacer.sent(t);
      sends.push(t);
      // Asking again at the same instant never gives a second frame.
      if (queued > 0 || reportEmpty) assert.equal(pacer.due(t, queued), 0, `burst at ${t}`);
    }
  }
  return sends;
}

const every = (step: number, from: number, to: number): number[] => {
  const out: number[] = [];
  for (let t = from; t <= to + 1e-9; t += step) out.push(Math.round(t * 1000) / 1000);
  return out;
};

test('idle: nothing queued is never due; the first frame goes at once and anchors the schedule', () => {
  const pacer = new PacerSchedule();
  assert.equal(pacer.due(5, 0), 0);
  assert.equal(pacer.nextDueMs, undefined);
  assert.equal(pacer.due(1234.5, 3), 1);
  pacer.sent(1234.5);
  assert.equal(pacer.nextDueMs, 1234.5 + 20 - 1);
  assert.equal(pacer.due(1253.4, 2), 0);
  assert.equal(pacer.due(1253.5, 2), 1);
});

test('steady: frame k goes at anchor + k*20 - 1 ms with a 0.25 ms tick, one per tick', () => {
  const pacer = new PacerSchedule(20, 1);
  const sends = drive(pacer, every(0.25, 0, 1000), () => 1000);
  assert.equal(sends[0], 0);
  for (let k = 1; k < sends.length; k++) assert.equal(sends[k], k * 20 - 1, `frame ${k}`);
  assert.equal(sends.length, 51);
  assert.equal(pacer.late, 0);
});

test('a 20 ms tick (the worker clock) sends exactly one frame per tick, lead or not', () => {
  for (const lead of [0, 1, 5]) {
    const pacer = new PacerSchedule(20, lead);
    const sends = drive(pacer, every(20, 0, 2000), () => 1000);
    assert.deepEqual(sends, every(20, 0, 2000), `lead ${lead}`);
    assert.equal(pacer.late, 0);
  }
  // A tick that fires up to the lead early still sends.
  const early = new PacerSchedule(20, 1);
  const ticks = every(20, 0, 400).map((t, i) => (i === 0 ? t : t - 0.9));
  assert.equal(drive(early, ticks, () => 100).length, ticks.length);
});

test('jittery ticks: no frame lost or doubled, never closer than 10 ms, never late', () => {
  let seed = 7;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const ticks: number[] = [];
  for (let t = 0; t < 10000; t += 5 + rand() * 4) ticks.push(t); // 5-9 ms tick
  const pacer = new PacerSchedule();
  const sends = drive(pacer, ticks, () => 10000);
  assert.equal(pacer.late, 0);
  // One frame per 20 ms of clock time, give or take the first.
  assert.ok(Math.abs(sends.length - 10000 / 20) <= 1, `${sends.length} frames`);
  for (let k = 1; k < sends.length; k++) {
    const ideal = sends[0]! + k * 20 - 1;
    assert.ok(sends[k]! >= ideal && sends[k]! - ideal < 9, `frame ${k} at ${sends[k]}, due ${ideal}`);
    assert.ok(sends[k]! - sends[k - 1]! >= 10);
  }
});

test('stall: more than a frame behind re-anchors at now, counts late, and sends no backlog', () => {
  const pacer = new PacerSchedule();
  // Clock runs every 5 ms to 100, the loop stalls until 250, then runs again.
  const ticks = [...every(5, 0, 100), ...every(5, 250, 400)];
  const sends = drive(pacer, ticks, () => 1000);
  assert.deepEqual(sends.filter((t) => t <= 100), [0, 20, 40, 60, 80, 100]);
  const after = sends.filter((t) => t > 100);
  assert.equal(after[0], 250); // one frame, at once
  assert.equal(after[1], 270); // re-anchored: 250 + 20 - 1, on the next tick
  assert.deepEqual(after, [250, 270, 290, 310, 330, 350, 370, 390]);
  assert.equal(pacer.late, 1);
});

test('behind by less than a frame: catches up without a burst and keeps the anchor', () => {
  const pacer = new PacerSchedule();
  // Ticks at 0, then the loop is 15 ms late (34 instead of 19), then a 1 ms clock.
  const sends = drive(pacer, [0, 34, ...every(1, 35, 100)], () => 100);
  assert.deepEqual(sends, [0, 34, 44, 59, 79, 99]);
  assert.equal(pacer.late, 0);
});

test('exactly one frame behind is still catch-up, and never two frames at one instant', () => {
  const pacer = new PacerSchedule();
  const sends = drive(pacer, [0, 39, 39, 40, 49, 59, 60], () => 100);
  assert.deepEqual(sends, [0, 39, 49, 59]);
  assert.equal(pacer.late, 0);
});

test('underrun: a queue dry for over a frame restarts the schedule at once, not counted late', () => {
  const pacer = new PacerSchedule();
  // Three frames at 0, more at 100 and at 103.
  const arrivals = (t: number): number => (t < 100 ? 3 : t < 103 ? 4 : 8);
  const sends = drive(pacer, every(1, 0, 250), arrivals);
  assert.deepEqual(sends, [0, 19, 39, 100, 119, 139, 159, 179]);
  assert.equal(pacer.late, 0);
});

test('short underrun (within a frame of the schedule) keeps the schedule', () => {
  const pacer = new PacerSchedule();
  // Frame 3 was due at 59 but arrives at 65; frame 4 is queued by then too.
  const arrivals = (t: number): number => (t < 65 ? 3 : 5);
  const sends = drive(pacer, every(1, 0, 120), arrivals);
  assert.deepEqual(sends, [0, 19, 39, 65, 79]);
  assert.equal(pacer.late, 0);
});

test('a caller that only asks when it has frames: talk spurts after silence are idle, not late', () => {
  const pacer = new PacerSchedule();
  // Ten spurts of 5 frames, 500 ms apart; the caller skips due() while its queue is empty.
  const arrivals = (t: number): number => Math.min(10, Math.floor(t / 500) + 1) * 5;
  const sends = drive(pacer, every(5, 0, 5000), arrivals, { reportEmpty: false });
  assert.equal(sends.length, 50);
  assert.equal(pacer.late, 0);
  for (let spurt = 0; spurt < 10; spurt++) {
    const start = spurt * 500;
    assert.deepEqual(sends.slice(spurt * 5, spurt * 5 + 5), [start, start + 20, start + 40, start + 60, start + 80]);
  }
});

test('reset: back to idle, the next frame goes at once; late is kept', () => {
  const pacer = new PacerSchedule();
  drive(pacer, [...every(5, 0, 50), 200], () => 100);
  assert.equal(pacer.late, 1);
  pacer.sent(201); // sent right after 200 anyway
  pacer.reset();
  assert.equal(pacer.nextDueMs, undefined);
  assert.equal(pacer.due(202, 1), 1);
  pacer.sent(202);
  assert.equal(pacer.due(210, 1), 0);
  assert.equal(pacer.due(221, 1), 1);
  assert.equal(pacer.late, 1);
});

test('other frame sizes and bad arguments', () => {
  const pacer = new PacerSchedule(10, 0);
  assert.deepEqual(drive(pacer, every(1, 0, 50), () => 100), [0, 10, 20, 30, 40, 50]);
  assert.throws(() => new PacerSchedule(0), RangeError);
  assert.throws(() => new PacerSchedule(20, 20), RangeError);
  assert.throws(() => new PacerSchedule(20, -1), RangeError);
  assert.equal(new PacerSchedule().frameMs, 20);
  assert.equal(new PacerSchedule().leadMs, 1);
});
