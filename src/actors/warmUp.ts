/**
 * Run the media path once at worker start, before the worker says ready:
 * the resampler filters are designed (cached per rate pair) and the hot
 * functions compiled, so the first call does not pay for them mid-stream.
 * Measured: without this the first call on a fresh worker stalled about
 * 150 ms, and its echo carried that delay to the end of the call.
 */
import { createPhoneCodec } from '../media/codecs.js';
import { samplesPerFrame } from '../media/constants.js';
import { Framer } from '../media/Framer.js';
import { createResampler } from '../media/createResampler.js';

const WARM_UP_FRAMES = 200;
const PHONE_FORMATS = [
  { encoding: 'PCMU', sample_rate: 8000 },
  { encoding: 'PCMA', sample_rate: 8000 },
  { encoding: 'G722', sample_rate: 16000 },
  { encoding: 'OPUS', sample_rate: 16000 },
];

export function warmUpMediaPath(agentRate: number): void {
  for (const format of PHONE_FORMATS) {
    const codec = createPhoneCodec(format);
    // One 20 ms frame at the codec's own rate (Opus takes nothing else).
    const frame = new Int16Array(samplesPerFrame(codec.sampleRate));
    for (let i = 0; i < frame.length; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / codec.sampleRate));
    const up = createResampler(codec.sampleRate, agentRate);
    const down = createResampler(agentRate, codec.sampleRate);
    const framer = new Framer(samplesPerFrame(codec.sampleRate));
    const text = JSON.stringify({ event: 'media', media: { track: 'inbound', payload: Buffer.from(codec.encode(frame)).toString('base64') } });
    const scratch = Buffer.allocUnsafe(1024);
    for (let i = 0; i < WARM_UP_FRAMES; i++) {
      const parsed = JSON.parse(text) as { media: { payload: string } };
      const n = scratch.write(parsed.media.payload, 'base64');
      framer.push(down.process(up.process(codec.decode(scratch.subarray(0, n)))));
      for (let out = framer.shift(); out; out = framer.shift()) Buffer.from(codec.encode(out)).toString('base64');
    }
  }
}
