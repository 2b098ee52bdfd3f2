/**
 * Best-lag normalized cross-correlation: how well `received` matches a delayed
 * copy of `sent`, and at which delay. Used by tests and the simulator to prove
 * that audio went through the path intact, in order and to the right call.
 *
 * For every lag L in [0, maxLag] the Pearson correlation of received[n] and
 * sent[n - L] is taken over their overlap (means and energies of the overlap
 * only), so an exact delayed copy scores 1 and speech through a G.711 round trip about 0.9999.
 * The cross sums for all lags come from one FFT correlation (O(N log N), exact
 * at every lag, whatever the signals' spectra), and the per-lag means and
 * energies from prefix sums.
 */
import { fft, nextPowerOfTwo, realInverseFft } from './fft.js';

export interface LagCorrelation {
  /** Delay of `received` relative to `sent`, in samples. */
  lagSamples: number;
  /** Pearson correlation at that lag, in [-1, 1]; 0 when there is nothing to compare. */
  correlation: number;
}

/**
 * A lag counts only when the overlap covers at least this share of the shorter
 * signal: a handful of overlapping samples would correlate by chance.
 */
const MIN_OVERLAP_FRACTION = 0.5;
/** Variance products below this are silence on one side: no correlation. */
const MIN_VARIANCE_PRODUCT = 1e-9;

function prefixSums(x: Int16Array): { sum: Float64Array; sumSq: Float64Array } {
  const sum = new Float64Array(x.length + 1);
  const sumSq = new Float64Array(x.length + 1);
  let s = 0;
  let q = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    s += v;
    q += v * v;
    sum[i + 1] = s;
    sumSq[i + 1] = q;
  }
  return { sum, sumSq };
}

/** cross[L] = sum over n of received[n] * sent[n - L], for L = 0..maxLag. */
function crossSums(sent: Int16Array, received: Int16Array, maxLag: number): Float64Array {
  // Zero padding to at least len(sent) + maxLag keeps the circular correlation from wrapping.
  const size = nextPowerOfTwo(Math.max(received.length, sent.length + maxLag));
  // Both real signals in one complex transform: z = received + i * sent.
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(received);
  im.set(sent);
  fft(re, im);
  // R[k] = (Z[k] + conj Z[-k]) / 2, S[k] = (Z[k] - conj Z[-k]) / 2i; C[k] = R[k] conj(S[k]).
  const cr = new Float64Array(size);
  const ci = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    const m = (size - k) & (size - 1);
    const zr = re[k]!;
    const zi = im[k]!;
    const mr = re[m]!;
    const mi = im[m]!;
    const rr = (zr + mr) / 2;
    const ri = (zi - mi) / 2;
    const sr = (zi + mi) / 2;
    const si = (mr - zr) / 2;
    cr[k] = rr * sr + ri * si;
    ci[k] = ri * sr - rr * si;
  }
  // The cross-spectrum is Hermitian (both signals are real): a half-size inverse suffices.
  realInverseFft(cr, ci, re);
  return re.subarray(0, maxLag + 1);
}

export function bestLagCorrelation(sent: Int16Array, received: Int16Array, maxLagSamples: number): LagCorrelation {
  const none: LagCorrelation = { lagSamples: 0, correlation: 0 };
  if (sent.length === 0 || received.length === 0) return none;
  const maxLag = Math.max(0, Math.min(Math.floor(maxLagSamples), received.length - 1));
  const s = prefixSums(sent);
  const r = prefixSums(received);
  if (s.sumSq[sent.length] === 0 || r.sumSq[received.length] === 0) return none;

  const cross = crossSums(sent, received, maxLag);
  const minOverlap = Math.max(1, Math.ceil(Math.min(sent.length, received.length) * MIN_OVERLAP_FRACTION));
  let bestLag = -1;
  let bestCorrelation = -Infinity;
  for (let lag = 0; lag <= maxLag; lag++) {
    // Overlap: received[lag .. lag + count) against sent[0 .. count).
    const count = Math.min(received.length - lag, sent.length);
    if (count < minOverlap) break;
    const sumR = r.sum[lag + count]! - r.sum[lag]!;
    const sumRR = r.sumSq[lag + count]! - r.sumSq[lag]!;
    const sumS = s.sum[count]!;
    const sumSS = s.sumSq[count]!;
    const varR = sumRR - (sumR * sumR) / count;
    const varS = sumSS - (sumS * sumS) / count;
    const varProduct = varR * varS;
    if (!(varProduct > MIN_VARIANCE_PRODUCT)) continue;
    const cov = cross[lag]! - (sumR * sumS) / count;
    const correlation = Math.max(-1, Math.min(1, cov / Math.sqrt(varProduct)));
    if (correlation > bestCorrelation) {
      bestCorrelation = correlation;
      bestLag = lag;
    }
  }
  return bestLag < 0 ? none : { lagSamples: bestLag, correlation: bestCorrelation };
}
