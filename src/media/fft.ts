/**
 * In-place radix-2 complex FFT (Cooley-Tukey, decimation in time) on split
 * real/imaginary Float64Arrays. Used off the hot path: correlation searches and
 * spectrum checks in tests. Twiddle and bit-reversal tables are built once per size.
 */

interface FftTables {
  readonly cos: Float64Array;
  readonly sin: Float64Array;
  readonly reverse: Uint32Array;
}

const tablesBySize = new Map<number, FftTables>();

function tablesFor(size: number): FftTables {
  let tables = tablesBySize.get(size);
  if (tables === undefined) {
    const half = size >> 1;
    const cos = new Float64Array(half);
    const sin = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      cos[k] = Math.cos((2 * Math.PI * k) / size);
      sin[k] = Math.sin((2 * Math.PI * k) / size);
    }
    const bits = Math.log2(size);
    const reverse = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1);
      reverse[i] = r;
    }
    tables = { cos, sin, reverse };
    tablesBySize.set(size, tables);
  }
  return tables;
}

/** One radix-2 stage of span `size`, twiddles e^(sign 2 pi i k / size) = table[k * step]. */
function butterflies(
  re: Float64Array,
  im: Float64Array,
  cos: Float64Array,
  sin: Float64Array,
  sign: number,
  size: number,
  step: number,
): void {
  const n = re.length;
  const half = size >> 1;
  for (let start = 0; start < n; start += size) {
    for (let k = 0, twiddle = 0; k < half; k++, twiddle += step) {
      const wr = cos[twiddle]!;
      const wi = sign * sin[twiddle]!;
      const a = start + k;
      const b = a + half;
      const xr = re[b]!;
      const xi = im[b]!;
      const tr = wr * xr - wi * xi;
      const ti = wr * xi + wi * xr;
      const ur = re[a]!;
      const ui = im[a]!;
      re[a] = ur + tr;
      im[a] = ui + ti;
      re[b] = ur - tr;
      im[b] = ui - ti;
    }
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Smallest power of two >= n (n >= 1). */
export function nextPowerOfTwo(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}

/**
 * Forward transform X[k] = sum x[n] e^(-2 pi i k n / N); with `inverse`, the
 * inverse including the 1/N scale. `re.length` must be a power of two.
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (!isPowerOfTwo(n) || im.length !== n) {
    throw new RangeError(`fft: size must be a power of two with equal re/im lengths, got ${n} and ${im.length}`);
  }
  if (n === 1) return; // one point is its own transform
  const { cos, sin, reverse } = tablesFor(n);
  for (let i = 0; i < n; i++) {
    const j = reverse[i]!;
    if (j > i) {
      const tr = re[i]!;
      re[i] = re[j]!;
      re[j] = tr;
      const ti = im[i]!;
      im[i] = im[j]!;
      im[j] = ti;
    }
  }
  // First stage on its own: its only twiddle is 1.
  for (let a = 0; a < n; a += 2) {
    const ar = re[a]!;
    const ai = im[a]!;
    const br = re[a + 1]!;
    const bi = im[a + 1]!;
    re[a] = ar + br;
    im[a] = ai + bi;
    re[a + 1] = ar - br;
    im[a + 1] = ai - bi;
  }
  const sign = inverse ? 1 : -1;
  for (let size = 4; size <= n; size <<= 1) butterflies(re, im, cos, sin, sign, size, n / size);
  if (inverse) {
    const scale = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! * scale;
      im[i] = im[i]! * scale;
    }
  }
}

/**
 * Inverse transform of a Hermitian spectrum (the spectrum of a real signal) of
 * size N, with one complex transform of size N/2: even and odd output samples
 * travel as the real and imaginary parts of one half-size signal. Writes the
 * N real samples (1/N scale included) to `out`.
 */
export function realInverseFft(re: Float64Array, im: Float64Array, out: Float64Array): void {
  const n = re.length;
  if (!isPowerOfTwo(n) || n < 2 || im.length !== n || out.length < n) {
    throw new RangeError(`realInverseFft: size must be a power of two >= 2 with room in out, got ${n}`);
  }
  const half = n >> 1;
  const { cos, sin } = tablesFor(n);
  const zr = new Float64Array(half);
  const zi = new Float64Array(half);
  for (let k = 0; k < half; k++) {
    // Even part A[k] = (X[k] + X[k + N/2]) / 2, odd part B[k] = (X[k] - X[k + N/2]) e^(2 pi i k / N) / 2.
    const xr = re[k]!;
    const xi = im[k]!;
    const yr = re[k + half]!;
    const yi = im[k + half]!;
    const ar = (xr + yr) / 2;
    const ai = (xi + yi) / 2;
    const dr = (xr - yr) / 2;
    const di = (xi - yi) / 2;
    const wr = cos[k]!;
    const wi = sin[k]!;
    const br = dr * wr - di * wi;
    const bi = dr * wi + di * wr;
    // Z = A + iB.
    zr[k] = ar - bi;
    zi[k] = ai + br;
  }
  fft(zr, zi, true);
  for (let m = 0; m < half; m++) {
    out[2 * m] = zr[m]!;
    out[2 * m + 1] = zi[m]!;
  }
}
