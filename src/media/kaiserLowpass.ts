/**
 * Windowed-sinc low-pass design with a Kaiser window (Kaiser 1974; Oppenheim
 * and Schafer, Discrete-Time Signal Processing, 3rd ed., section 7.6): the
 * window trades main-lobe width for side-lobe level through one parameter,
 * beta, so a stopband attenuation and a transition width give the length.
 */

/** Series terms stop adding once they fall below this share of the sum. */
const BESSEL_TOLERANCE = 1e-12;

/** Modified Bessel function of the first kind, order 0, by its power series. */
export function besselI0(x: number): number {
  const quarterSq = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; term > BESSEL_TOLERANCE * sum; k++) {
    term *= quarterSq / (k * k);
    sum += term;
  }
  return sum;
}

/** Kaiser's empirical beta for a stopband attenuation of `attenuationDb`. */
export function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21);
  return 0;
}

/** Kaiser's length estimate: taps for `attenuationDb` over a transition of `transitionHz` at `sampleRate`. */
export function kaiserTaps(attenuationDb: number, transitionHz: number, sampleRate: number): number {
  const transitionRadians = (2 * Math.PI * transitionHz) / sampleRate;
  return Math.ceil((attenuationDb - 7.95) / (2.285 * transitionRadians)) + 1;
}

/**
 * `taps` coefficients of a linear-phase low-pass with cutoff `cutoffHz` (the
 * -6 dB point, mid-transition) at `sampleRate`, DC gain 1 before any caller scaling.
 */
export function designKaiserLowpass(taps: number, cutoffHz: number, sampleRate: number, beta: number): Float64Array {
  const h = new Float64Array(taps);
  const centre = (taps - 1) / 2;
  const fc = cutoffHz / sampleRate; // cycles per sample
  const i0Beta = besselI0(beta);
  for (let n = 0; n < taps; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = centre === 0 ? 0 : t / centre;
    h[n] = (sinc * besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r)))) / i0Beta;
  }
  return h;
}
