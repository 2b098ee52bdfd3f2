/**
 * The "one moment" cue played while the agent thinks: two soft tones
 * (523 Hz then 659 Hz, 180 ms each with 10 ms fades, -18 dBFS), recognisable
 * as a progress sound and unlike speech. Pure: returns PCM16 at `rate`.
 */
const TONES_HZ = [523.25, 659.25];
const TONE_MS = 180;
const GAP_MS = 60;
const FADE_MS = 10;
const AMPLITUDE = Math.round(32767 * 10 ** (-18 / 20));

export const CUE_MS = TONES_HZ.length * TONE_MS + (TONES_HZ.length - 1) * GAP_MS;

export function cueTone(rate: number): Int16Array {
  const toneN = Math.round((rate * TONE_MS) / 1000);
  const gapN = Math.round((rate * GAP_MS) / 1000);
  const fadeN = Math.round((rate * FADE_MS) / 1000);
  const out = new Int16Array(TONES_HZ.length * toneN + (TONES_HZ.length - 1) * gapN);
  let at = 0;
  TONES_HZ.forEach((hz, k) => {
    for (let i = 0; i < toneN; i++) {
      const edge = Math.min(1, i / fadeN, (toneN - 1 - i) / fadeN);
      out[at + i] = Math.round(AMPLITUDE * edge * Math.sin((2 * Math.PI * hz * i) / rate));
    }
    at += toneN + (k < TONES_HZ.length - 1 ? gapN : 0);
  });
  return out;
}
