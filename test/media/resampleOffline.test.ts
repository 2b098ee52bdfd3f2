import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resampleOffline } from '../../src/media/resampleOffline.js';

const tone = (rate: number, hz: number, seconds: number, amplitude: number) =>
  Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)));

test('44.1 kHz to 48 kHz and to 8 kHz: a tone comes out at its ideal values, aligned, with SNR above 70 dB', () => {
  for (const to of [48000, 8000, 16000]) {
    const y = resampleOffline(tone(44100, 1013, 1, 16000), 44100, to);
    assert.equal(y.length, to);
    let signal = 0;
    let error = 0;
    for (let n = to / 20; n < y.length - to / 20; n++) {
      const ideal = 16000 * Math.sin((2 * Math.PI * 1013 * n) / to);
      signal += ideal * ideal;
      error += (y[n]! - ideal) ** 2;
    }
    const snr = 10 * Math.log10(signal / error);
    assert.ok(snr > 70, `44100 -> ${to}: SNR ${snr.toFixed(1)} dB`);
  }
});

test('downsampling rejects what the new rate cannot hold: a 6 kHz tone is gone at 8 kHz, 5 kHz at 11.025 kHz', () => {
  for (const [from, to, hz] of [[44100, 8000, 6000], [22050, 11025, 5600]] as const) {
    const y = resampleOffline(tone(from, hz, 1, 30000), from, to);
    let energy = 0;
    for (let n = 200; n < y.length - 200; n++) energy += y[n]! * y[n]!;
    const db = 10 * Math.log10(energy / (y.length - 400) / (30000 ** 2 / 2) + 1e-20);
    assert.ok(db < -70, `${hz} Hz from ${from} to ${to}: ${db.toFixed(1)} dB`);
  }
});

test('same rate copies; bad rates throw', () => {
  const x = Int16Array.from([1, 2, 3]);
  const y = resampleOffline(x, 8000, 8000);
  assert.deepEqual([...y], [1, 2, 3]);
  assert.notEqual(y, x);
  assert.throws(() => resampleOffline(x, 0, 8000), RangeError);
  assert.throws(() => resampleOffline(x, 8000, Number.NaN), RangeError);
});
