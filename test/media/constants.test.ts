import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_MS, samplesPerFrame } from '../../src/media/constants.js';

test('20 ms frames: 160, 320, 480 and 960 samples', () => {
  assert.equal(FRAME_MS, 20);
  assert.equal(samplesPerFrame(8000), 160);
  assert.equal(samplesPerFrame(16000), 320);
  assert.equal(samplesPerFrame(24000), 480);
  assert.equal(samplesPerFrame(48000), 960);
  assert.equal(samplesPerFrame(44100), 882);
});

test('a rate without whole samples per frame is refused', () => {
  assert.throws(() => samplesPerFrame(11025), RangeError);
  assert.throws(() => samplesPerFrame(0), RangeError);
  assert.throws(() => samplesPerFrame(-8000), RangeError);
});
