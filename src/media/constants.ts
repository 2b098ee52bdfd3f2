/** Media constants shared by every stage of the audio path. */

/** One frame of audio is 20 ms on both legs (DESIGN.md section 5; RTP ptime 20, RFC 3551). */
export const FRAME_MS = 20;

const MS_PER_SECOND = 1000;

/**
 * Samples in one FRAME_MS frame at `rate` Hz (160 at 8 kHz, 320 at 16 kHz).
 * A frame must be whole samples, so a rate that does not divide evenly is refused.
 */
export function samplesPerFrame(rate: number): number {
  const samples = (rate * FRAME_MS) / MS_PER_SECOND;
  if (!Number.isInteger(samples) || samples <= 0) {
    throw new RangeError(`samplesPerFrame: ${rate} Hz does not give a whole number of samples per ${FRAME_MS} ms frame`);
  }
  return samples;
}
