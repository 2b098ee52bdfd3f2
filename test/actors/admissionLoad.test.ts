/**
 * Measured-load admission's projection (src/actors/loadAdmission.ts): calls
 * admitted since the last measurement count at the measured cost per call.
 * The end-to-end refusal is in test/e2e/metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allFull, LoadMeter, PerCallCost, pickWithRoom, projectedLoad, type WorkerLoad } from '../../src/actors/loadAdmission.js';

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

function worker(calls: number, lastBusyShare: number, busySharePerCall = 0.01, exited = false): WorkerLoad {
  return { exited, calls, lastBusyShare, busySharePerCall, callsMeasured: calls };
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

test('admitted calls whose sockets have not landed are spread over the live workers', () => {
  // Two workers at 0.5 with 0.01 a call: room for 40 more each, 80 in all.
  const pair = [worker(50, 0.5), worker(50, 0.5), worker(0, 0, 0, true)];
  assert.ok(pickWithRoom(pair, 0.9, 80), '80 unplaced: 40 each, exactly at the limit');
  assert.equal(pickWithRoom(pair, 0.9, 82), undefined, '82 unplaced: 41 each, over it');
  assert.equal(allFull(pair, 0.9, 82), true);
  assert.ok(pickWithRoom(pair, 0.9, 0), 'without the unplaced calls both look half busy');
});

test('the cost per call comes from the measurement with the most calls in the last 30 s, never from fewer than 5', () => {
  const cost = new PerCallCost();
  assert.equal(cost.sample(0.3, 3, 0), 0, 'three calls mostly measure fixed costs: no estimate yet');
  assert.equal(cost.sample(0.4, 10, 1_000), 0.04);
  assert.equal(cost.sample(0.5, 50, 2_000), 0.01, 'more calls: their share per call wins');
  assert.equal(cost.sample(0.9, 20, 3_000), 0.01, 'fewer calls, even at a higher share, do not replace it');
  assert.equal(cost.sample(0.2, 2, 4_000), 0.01, 'a quiet spell keeps the estimate');
  assert.ok(Math.abs(cost.sample(0.9, 20, 32_500) - 0.045) < 1e-12, 'once the 50-call measurement is older than 30 s the 20-call one stands');
  assert.equal(cost.estimate, cost.sample(0, 0, 70_000), 'everything forgotten: the last estimate is kept');
});

test('a pong in the middle of a burst does not count the calls that just landed as measured', () => {
  const meter = new LoadMeter();
  meter.record(0.4, 50, 0);
  meter.record(0.4, 50, 1_000);
  assert.equal(meter.perCall, 0.008, '50 calls steady: 0.008 each');
  meter.record(0.05, 0, 10_000);
  // A burst of 100 lands just before the next pong, whose share still reads the quiet second.
  meter.record(0.06, 100, 11_000);
  assert.equal(meter.callsMeasured, 0, 'none of the 100 was live through the interval');
  assert.equal(meter.perCall, 0.008, 'and the quiet share did not teach a cost of 0.0006 a call');
  const view: WorkerLoad = { exited: false, calls: 100, lastBusyShare: meter.lastBusyShare, busySharePerCall: meter.perCall, callsMeasured: meter.callsMeasured };
  assert.ok(projectedLoad(view.lastBusyShare, view.busySharePerCall, view.calls, view.callsMeasured) > 0.8, 'the 100 are projected at their cost');
  assert.equal(pickWithRoom([{ ...view, calls: 120 }], 0.9), undefined, '20 more would pass the limit');
  meter.record(0.85, 100, 12_000);
  assert.equal(meter.callsMeasured, 100, 'a second later they are measured');
  assert.equal(meter.perCall, 0.0085);
});

test('a limit of 1 turns admission off, as documented, even where the projection passes a whole core', () => {
  const flooded = [worker(50, 0.99, 0.02), worker(60, 1, 0.02)];
  assert.equal(allFull(flooded, 1, 500), false, 'projected 0.99 + 300 x 0.02: still admitted');
  assert.equal(pickWithRoom(flooded, 1, 500), flooded[0], 'the worker with fewer calls takes it');
  assert.equal(allFull(flooded, 0.98, 0), true, 'under 1 admission is on: both are past 0.98');
});
