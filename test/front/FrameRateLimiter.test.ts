import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameRateLimiter } from '../../src/front/FrameRateLimiter.js';

test('a call at 50 frames/s is never limited, even after a catch-up burst', () => {
  const limiter = new FrameRateLimiter(100, 150, 0);
  for (let k = 0; k < 3000; k++) assert.ok(limiter.take(k * 20), `frame ${k}`);
  // A 2 s network stall, then the provider sends the 100 frames it held.
  const t = 3000 * 20 + 2000;
  for (let k = 0; k < 100; k++) assert.ok(limiter.take(t), `burst frame ${k}`);
});

test('a flood is cut off after the burst', () => {
  const limiter = new FrameRateLimiter(100, 150, 0);
  let accepted = 0;
  for (let k = 0; k < 600; k++) if (limiter.take(k * 0.01)) accepted++;
  assert.ok(accepted >= 150 && accepted <= 152, `accepted ${accepted}`);
});

test('sustained 200 frames/s is refused, 100 frames/s is not', () => {
  const fast = new FrameRateLimiter(100, 150, 0);
  let refused = 0;
  for (let k = 0; k < 2000; k++) if (!fast.take(k * 5)) refused++;
  assert.ok(refused > 500, `refused ${refused}`);
  const ok = new FrameRateLimiter(100, 150, 0);
  for (let k = 0; k < 2000; k++) assert.ok(ok.take(k * 10));
});
