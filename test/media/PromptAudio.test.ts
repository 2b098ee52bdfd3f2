import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromptAudio } from '../../src/media/PromptAudio.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';

test('a prompt is cut into whole 20 ms frames at each rate asked for, once, keeping its length and its waveform', () => {
  const speech = new SpeechLikeSignal(16000, 4).next(16000 * 1.01); // 1010 ms: the last frame is padded
  const prompt = new PromptAudio({ sampleRate: 16000, pcm: speech });
  assert.equal(Math.round(prompt.durationMs), 1010);
  for (const [rate, frame] of [[8000, 160], [16000, 320], [48000, 960]] as const) {
    const frames = prompt.framesAt(rate);
    assert.equal(frames.length, 51, `${rate} Hz`);
    assert.ok(frames.every((f) => f.length === frame));
    assert.equal(prompt.framesAt(rate), frames, 'converted once, then shared');
    // Same waveform, no delay: the resampler's group delay is removed.
    const flat = new Int16Array(frames.length * frame);
    frames.forEach((f, i) => flat.set(f, i * frame));
    if (rate === 16000) {
      assert.deepEqual([...flat.subarray(200, 16000 - 200)], [...speech.subarray(200, 16000 - 200)]);
    } else {
      const back = new PromptAudio({ sampleRate: rate, pcm: flat.subarray(0, (rate * 1010) / 1000) }).framesAt(16000);
      const round = new Int16Array(back.length * 320);
      back.forEach((f, i) => round.set(f, i * 320));
      const found = bestLagCorrelation(speech.subarray(400, 15000), round.subarray(400, 15000), 40);
      assert.equal(found.lagSamples, 0, `${rate} Hz round trip lag`);
      assert.ok(found.correlation > (rate === 8000 ? 0.9 : 0.999), `${rate} Hz round trip correlation ${found.correlation}`);
    }
    // The padding after the last sample is silence.
    assert.ok(frames.at(-1)!.subarray(frame / 2).every((s) => s === 0));
  }
});

test('it starts and ends with a fade, never a click', () => {
  const loud = new Int16Array(8000).fill(20000);
  const frames = new PromptAudio({ sampleRate: 8000, pcm: loud }).framesAt(8000);
  assert.equal(frames[0]![0], 0);
  assert.ok(frames[0]![10]! > 0 && frames[0]![10]! < 10000);
  assert.equal(frames[0]![100], 20000);
  const last = frames.at(-1)!;
  assert.ok(Math.abs(last[last.length - 1]!) < 600, `last sample ${last[last.length - 1]}`);
  assert.throws(() => new PromptAudio({ sampleRate: 8000, pcm: new Int16Array(0) }), RangeError);
});
