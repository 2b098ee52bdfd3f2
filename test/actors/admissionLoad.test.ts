/**
 * Measured-load admission's projection (src/actors/Supervisor.ts): calls
 * admitted since the last measurement count at the measured cost per call.
 * The end-to-end refusal is in test/e2e/metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { projectedLoad } from '../../src/actors/Supervisor.js';

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
