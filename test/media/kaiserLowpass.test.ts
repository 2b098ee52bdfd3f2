import { test } from 'node:test';
import assert from 'node:assert/strict';
import { besselI0, designKaiserLowpass, kaiserBeta, kaiserTaps } from '../../src/media/kaiserLowpass.js';

test('I0 and Kaiser beta against reference values', () => {
  assert.equal(besselI0(0), 1);
  assert.ok(Math.abs(besselI0(1) - 1.2660658777520082) < 1e-12);
  assert.ok(Math.abs(besselI0(5) - 27.239871823604442) < 1e-9);
  assert.ok(Math.abs(kaiserBeta(72) - 6.97566) < 1e-5);
  assert.equal(kaiserBeta(10), 0);
  // Oppenheim and Schafer's example: 60 dB over a 0.2 pi transition needs 38 taps.
  assert.equal(kaiserTaps(60, 0.1, 1), 38);
});

test('a designed low-pass passes DC at unity and stops above the transition', () => {
  const rate = 16000;
  const h = designKaiserLowpass(121, 3700, rate, kaiserBeta(72));
  let dc = 0;
  for (const v of h) dc += v;
  assert.ok(Math.abs(dc - 1) < 1e-3, `DC ${dc}`);
  for (let n = 0; n < h.length; n++) assert.equal(h[n], h[h.length - 1 - n]);
  const gainDb = (hz: number): number => {
    let re = 0;
    let im = 0;
    for (let n = 0; n < h.length; n++) {
      re += h[n]! * Math.cos((2 * Math.PI * hz * n) / rate);
      im += h[n]! * Math.sin((2 * Math.PI * hz * n) / rate);
    }
    return 20 * Math.log10(Math.hypot(re, im) / dc);
  };
  assert.ok(Math.abs(gainDb(1000)) < 0.01);
  assert.ok(Math.abs(gainDb(3700) + 6.02) < 0.1, `cutoff ${gainDb(3700)}`);
  for (let hz = 4000; hz <= 8000; hz += 50) assert.ok(gainDb(hz) < -70, `${hz} Hz: ${gainDb(hz).toFixed(1)} dB`);
});
