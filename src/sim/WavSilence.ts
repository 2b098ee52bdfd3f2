/**
 * A real WAV file of silence, as long as a recording: what the simulated
 * provider serves when record_start asked for `format: wav`. RIFF/WAVE with
 * one PCM `fmt ` chunk (format 1, mono, 8 kHz, 16-bit: the phone network's
 * rate) and a `data` chunk of zeros. Players and `ffprobe` read it as audio/wav.
 */
const SAMPLE_RATE = 8_000;
const BYTES_PER_SAMPLE = 2;
const HEADER_BYTES = 44;
/** Bound, as Mp3Silence's: 12 minutes, 11.5 MB; keep the simulator smaller than a real archive. */
const MAX_SAMPLES = 720 * SAMPLE_RATE;

export function wavSilence(durationMs: number): Buffer {
  const samples = Math.min(MAX_SAMPLES, Math.max(1, Math.ceil((durationMs * SAMPLE_RATE) / 1000)));
  const dataBytes = samples * BYTES_PER_SAMPLE;
  const out = Buffer.alloc(HEADER_BYTES + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(HEADER_BYTES - 8 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16); // fmt chunk size
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(SAMPLE_RATE, 24);
  out.writeUInt32LE(SAMPLE_RATE * BYTES_PER_SAMPLE, 28); // byte rate
  out.writeUInt16LE(BYTES_PER_SAMPLE, 32); // block align
  out.writeUInt16LE(8 * BYTES_PER_SAMPLE, 34); // bits per sample
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  return out;
}
