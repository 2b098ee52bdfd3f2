import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechDetector } from '../../src/media/SpeechDetector.js';

const RATE = 8000;
function tone(ms: number, amplitude: number): Int16Array {
  const out = new Int16Array((RATE * ms) / 1000);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * 300 * i) / RATE));
  return out;
}
/** Feeds 20 ms frames; returns the ms (from the start) of each transition. */
function run(detector: SpeechDetector, pcm: Int16Array): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let at = 0; at < pcm.length; at += 160) {
    const t = detector.push(pcm.subarray(at, at + 160));
    if (t) out.push([t, ((at + 160) * 1000) / RATE]);
  }
  return out;
}
const concat = (...parts: Int16Array[]) => {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

test('SpeechDetector: speech counts after the minimum duration, ends after the hangover', () => {
  const d = new SpeechDetector({ sampleRate: RATE, thresholdDbfs: -35, minSpeechMs: 200, hangoverMs: 500 });
  const events = run(d, concat(tone(300, 0), tone(600, 8000), tone(800, 0)));
  assert.deepEqual(events, [['started', 500], ['stopped', 1400]]);
});

test('SpeechDetector: a blip shorter than the minimum and room tone below the threshold never start speech', () => {
  const d = new SpeechDetector({ sampleRate: RATE, thresholdDbfs: -35, minSpeechMs: 200 });
  // -40 dBFS room tone (amplitude ~460 peak, RMS ~ -43 dBFS) for 2 s, and a loud 100 ms click.
  assert.deepEqual(run(d, concat(tone(2000, 460), tone(100, 16000), tone(500, 0))), []);
  const lower = new SpeechDetector({ sampleRate: RATE, thresholdDbfs: -50, minSpeechMs: 200 });
  assert.equal(run(lower, tone(400, 460))[0]?.[0], 'started', 'a lower threshold hears the same room tone');
});
