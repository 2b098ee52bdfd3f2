/**
 * Measured-load admission's projection (src/actors/loadAdmission.ts): calls
 * admitted since the last measurement count at the measured cost per call.
 * The end-to-end refusal is in test/e2e/metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allFull, isSteady, LoadMeter, PerCallCost, pickWithRoom, projectedLoad, type WorkerLoad } from '../../src/actors/loadAdmission.js';

test('calls admitted since the measurement add their expected share', () => {
  // 60 calls measured at 0.6 of the core: 0.01 a call; 25 more make 0.85.
  assert.equal(projectedLoad(0.6, 0.01, 85, 60), 0.85);
  assert.equal(projectedLoad(0.6, 0.01, 60, 60), 0.6, 'no newer call: the measurement itself');
  assert.equal(projectedLoad(0.6, 0.01, 40, 60), 0.6, 'calls that ended since are not credited back before the next measurement');
  assert.equal(projectedLoad(0.02, 0, 500, 0), 0.02, 'no per-call cost measured yet: the measurement alone');
});

test('a burst into a nearly full worker is cut where the projection crosses the limit', () => {
  const limit = 0.9;
  let admitted = 0;
  for (let calls = 70; calls < 200; calls++) {
    if (projectedLoad(0.7, 0.01, calls, 70) > limit) break;
    admitted++;
  }
  assert.equal(admitted, 21, '0.7 + 20 x 0.01 = 0.9 is at the limit; the 21st admitted call is the one that reaches it');
});

/** A worker measured at `busyShare` with its current calls, costing `perCall` a call more. */
function worker(calls: number, busyShare: number, perCall = 0.01, exited = false): WorkerLoad {
  return { up: !exited, calls, projectedLoad: (callsNow) => projectedLoad(busyShare, perCall, callsNow, calls) };
}

test('the least-loaded worker with room takes the call; exited and full workers never do', () => {
  const a = worker(30, 0.5);
  const b = worker(20, 0.95);
  const c = worker(10, 0.1, 0.01, true);
  const d = worker(25, 0.4);
  assert.equal(pickWithRoom([a, b, c, d], 0.9), d, 'fewest calls among those with room (b is full, c exited)');
  assert.equal(pickWithRoom([b, c], 0.9), undefined);
  assert.equal(allFull([b, c], 0.9), true, 'the one live worker is full');
  assert.equal(allFull([c], 0.9), false, 'no live worker is not "busy": it is a gateway with no workers');
  assert.equal(allFull([], 0.9), false);
});

test('a worker that has not said ready (a replacement still starting, or one that never does) takes no call', () => {
  const starting: WorkerLoad = { up: false, calls: 0, projectedLoad: () => 0 };
  // The old check read only `exited`: this stub has no `exited`, so it was taken as live.
  const busy = worker(30, 0.5);
  assert.equal(pickWithRoom([starting, busy], 0.9), busy, 'the busier but started worker, not the idle starting one');
  assert.equal(pickWithRoom([starting], 0.9), undefined);
  assert.equal(allFull([starting], 0.9), false, 'no started worker: not "busy"');
});

test('admitted calls whose sockets have not landed are spread over the live workers', () => {
  // Two workers at 0.5 with 0.01 a call: room for 40 more each, 80 in all.
  const pair = [worker(50, 0.5), worker(50, 0.5), worker(0, 0, 0, true)];
  assert.ok(pickWithRoom(pair, 0.9, 80), '80 unplaced: 40 each, exactly at the limit');
  assert.equal(pickWithRoom(pair, 0.9, 82), undefined, '82 unplaced: 41 each, over it');
  assert.equal(allFull(pair, 0.9, 82), true);
  assert.ok(pickWithRoom(pair, 0.9, 0), 'without the unplaced calls both look half busy');
});

test('the cost per call is the median share per call of the steady measurements with nearly the most calls in the last 30 s', () => {
  const cost = new PerCallCost();
  assert.equal(cost.sample(0.3, 3, 0), 0, 'three calls mostly measure fixed costs: no estimate yet');
  assert.equal(cost.sample(0.4, 10, 1_000), 0.04);
  assert.equal(cost.sample(0.5, 50, 2_000), 0.01, 'more calls: their share per call wins');
  assert.equal(cost.sample(0.9, 20, 3_000), 0.01, 'fewer calls, even at a higher share, do not replace it');
  assert.ok(Math.abs(cost.sample(0.55, 45, 4_000) - 0.0111111) < 1e-6, '45 is within 80 % of 50: the median of 0.01 and 0.0122');
  assert.ok(Math.abs(cost.sample(0.2, 2, 5_000) - 0.0111111) < 1e-6, 'a quiet spell keeps the estimate');
  assert.ok(Math.abs(cost.sample(0.9, 20, 34_500) - 0.045) < 1e-12, 'once the larger measurements are older than 30 s the 20-call one stands');
  assert.equal(cost.estimate, cost.sample(0, 0, 70_000), 'everything forgotten: the last estimate is kept');
});

test('one noisy reading does not swing the cost per call', () => {
  // A worker at a constant 224 PCMU calls, one pong a second (2026-11-27 bench log).
  const cost = new PerCallCost();
  const shares = [0.291, 0.362, 0.413, 0.534, 0.53, 0.51, 0.372, 0.286, 0.302, 0.286, 0.281, 0.292];
  shares.forEach((share, i) => cost.sample(share, 224, i * 1_000));
  assert.ok(Math.abs(cost.estimate - 0.332 / 224) < 1e-9, `median 0.332 / 224, not the last reading's 0.292 / 224: ${cost.estimate}`);
  cost.sample(0.6, 224, 12_000);
  assert.ok(cost.estimate <= 0.362 / 224, 'one high reading moves the median by one place at most');
});

test('steady means the call count held within two calls or 2 %', () => {
  assert.equal(isSteady(0, 0), true);
  assert.equal(isSteady(50, 52), true);
  assert.equal(isSteady(50, 53), false);
  assert.equal(isSteady(500, 510), true, 'a busy box always has calls starting and ending');
  assert.equal(isSteady(500, 520), false);
  assert.equal(isSteady(150, 224), false);
});

test('a burst is projected from the steady load before it, not from the set-up inside it', () => {
  // The pongs of a 300-call PCMU burst after the bench's 50-call warm-up (2026-11-27 bench log):
  // the old rule projected 0.51 + (300 - 150) x 0.0034 and refused 76 calls of a worker that later
  // carried 600 at a busy share of 0.73.
  const meter = new LoadMeter();
  meter.record(0.02, 0, 0);
  for (const [i, share] of [0.207, 0.119, 0.091, 0.125].entries()) meter.record(share, 50, 1_000 + i * 1_000);
  meter.record(0.079, 0, 5_000);
  meter.record(0.341, 150, 6_000);
  meter.record(0.51, 224, 7_000);
  assert.ok(Math.abs(meter.perCall - 0.119 / 50) < 1e-9, `the cost per call is the warm-up's steady median, not set-up: ${meter.perCall}`);
  const view: WorkerLoad = { up: true, calls: 224, projectedLoad: (calls) => meter.projected(calls) };
  assert.ok(view.projectedLoad(300) < 0.9, `the whole burst fits: ${view.projectedLoad(300)}`);
  assert.equal(pickWithRoom([view], 0.9, 76), view, 'the 76 calls still unplaced are admitted');
  // The same pongs, but the worker really is nearly full: the latest reading stops the burst.
  meter.record(0.93, 224, 8_000);
  assert.ok(meter.projected(225) > 0.9, 'a worker measured above the limit takes no more');
});

test('an Opus burst beyond the core is cut near where the steady cost says the core is full', () => {
  const meter = new LoadMeter();
  meter.record(0.35, 50, 0);
  meter.record(0.35, 50, 1_000);
  const view: WorkerLoad = { up: true, calls: 50, projectedLoad: (calls) => meter.projected(calls) };
  let admitted = 50;
  while (pickWithRoom([view], 0.9, admitted + 1 - 50)) admitted++;
  assert.equal(admitted, 128, '0.35 + 78 x 0.007 = 0.896: 128 of 150 admitted before the first pong sees them');
});

test('a pong in the middle of a burst does not count the calls that just landed as measured', () => {
  const meter = new LoadMeter();
  meter.record(0.4, 50, 0);
  meter.record(0.4, 50, 1_000);
  assert.equal(meter.perCall, 0.008, '50 calls steady: 0.008 each');
  meter.record(0.05, 0, 10_000);
  meter.record(0.05, 0, 11_000);
  // A burst of 100 lands just before the next pong, whose share still reads the quiet second.
  meter.record(0.06, 100, 12_000);
  assert.equal(meter.perCall, 0.008, 'the quiet share did not teach a cost of 0.0006 a call');
  assert.ok(meter.projected(100) > 0.8, 'the 100 are projected at their cost from the steady load before them');
  const view: WorkerLoad = { up: true, calls: 120, projectedLoad: (calls) => meter.projected(calls) };
  assert.equal(pickWithRoom([view], 0.9), undefined, '20 more would pass the limit');
  meter.record(0.85, 100, 13_000);
  assert.equal(meter.perCall, 0.0085, 'a second later they are measured, and only calls near the most count');
  assert.ok(Math.abs(meter.projected(100) - 0.85) < 1e-12);
});

test('a limit of 1 turns admission off, as documented, even where the projection passes a whole core', () => {
  const flooded = [worker(50, 0.99, 0.02), worker(60, 1, 0.02)];
  assert.equal(allFull(flooded, 1, 500), false, 'projected 0.99 + 250 x 0.02: still admitted');
  assert.equal(pickWithRoom(flooded, 1, 500), flooded[0], 'the worker with fewer calls takes it');
  assert.equal(allFull(flooded, 0.98, 0), true, 'under 1 admission is on: both are past 0.98');
});
