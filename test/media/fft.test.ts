import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fft, isPowerOfTwo, nextPowerOfTwo, realInverseFft } from '../../src/media/fft.js';

function random(n: number, seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

test('matches a direct DFT', () => {
  for (const n of [1, 2, 4, 8, 64, 256]) {
    const xr = random(n, n);
    const xi = random(n, n + 1);
    const re = xr.slice();
    const im = xi.slice();
    fft(re, im);
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let t = 0; t < n; t++) {
        const a = (-2 * Math.PI * k * t) / n;
        sr += xr[t]! * Math.cos(a) - xi[t]! * Math.sin(a);
        si += xr[t]! * Math.sin(a) + xi[t]! * Math.cos(a);
      }
      assert.ok(Math.abs(re[k]! - sr) < 1e-9 && Math.abs(im[k]! - si) < 1e-9, `n=${n} k=${k}`);
    }
  }
});

test('inverse undoes forward; the half-size real inverse agrees with the full one', () => {
  const n = 1024;
  const x = random(n, 3);
  const re = x.slice();
  const im = new Float64Array(n);
  fft(re, im);
  const out = new Float64Array(n);
  realInverseFft(re, im, out);
  fft(re, im, true);
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(re[i]! - x[i]!) < 1e-12 && Math.abs(im[i]!) < 1e-12);
    assert.ok(Math.abs(out[i]! - x[i]!) < 1e-12);
  }
});

test('sizes: powers of two only', () => {
  assert.throws(() => fft(new Float64Array(12), new Float64Array(12)), RangeError);
  assert.throws(() => fft(new Float64Array(8), new Float64Array(4)), RangeError);
  assert.equal(nextPowerOfTwo(1), 1);
  assert.equal(nextPowerOfTwo(84000), 131072);
  assert.ok(isPowerOfTwo(4096) && !isPowerOfTwo(0) && !isPowerOfTwo(6));
});
