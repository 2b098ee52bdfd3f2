/**
 * A real WAV file of silence, as long as a recording: what the simulated
 * provider serves when record_start asked for `format: wav`. 16-bit PCM mono
 * at 8 kHz (the phone network's rate), written by the media layer's encodeWav.
 */
import { encodeWav } from '../media/wav.js';

const SAMPLE_RATE = 8_000;
/** Bound, as Mp3Silence's: 12 minutes, 11.5 MB; keep the simulator smaller than a real archive. */
const MAX_SAMPLES = 720 * SAMPLE_RATE;

export function wavSilence(durationMs: number): Buffer {
  const samples = Math.min(MAX_SAMPLES, Math.max(1, Math.ceil((durationMs * SAMPLE_RATE) / 1000)));
  const wav = encodeWav(new Int16Array(samples), SAMPLE_RATE);
  return Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength);
}
