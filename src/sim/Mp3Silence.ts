/**
 * A real MP3 file of silence, as long as a recording: what the simulated
 * provider serves at a recording URL. MPEG-1 Layer III, 32 kHz mono,
 * 32 kbit/s, no CRC (ISO/IEC 11172-3): every frame is 144 bytes, a 4-byte
 * header then zeros (zero side info: no main data, decoders play silence),
 * 1152 samples = 36 ms. Players and `ffprobe` read it as audio/mpeg.
 */
const FRAME_BYTES = 144;
const FRAME_MS = 36;
/** 0xFFFB: sync, MPEG-1, Layer III, no CRC; 0x18: 32 kbit/s, 32 kHz, no padding; 0xC0: mono. */
const HEADER = [0xff, 0xfb, 0x18, 0xc0] as const;
/** Bound: a 4-hour recording is 400 000 frames, 57.6 MB; keep the simulator smaller. */
const MAX_FRAMES = 20_000;

export function mp3Silence(durationMs: number): Buffer {
  const frames = Math.min(MAX_FRAMES, Math.max(1, Math.ceil(durationMs / FRAME_MS)));
  const out = Buffer.alloc(frames * FRAME_BYTES);
  for (let i = 0; i < frames; i++) out.set(HEADER, i * FRAME_BYTES);
  return out;
}
