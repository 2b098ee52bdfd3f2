/** The phone-side codecs the simulator speaks: G.711 mu-law and A-law at 8 kHz. */
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from '../media/g711.js';

export type SimCodec = 'PCMU' | 'PCMA';

export const SIM_CODECS: readonly SimCodec[] = ['PCMU', 'PCMA'];

export function isSimCodec(value: unknown): value is SimCodec {
  return value === 'PCMU' || value === 'PCMA';
}

export function encodeFrame(codec: SimCodec, pcm: Int16Array, out?: Uint8Array): Uint8Array {
  return codec === 'PCMU' ? pcmuEncode(pcm, out) : pcmaEncode(pcm, out);
}

export function decodeFrame(codec: SimCodec, bytes: Uint8Array, out?: Int16Array): Int16Array {
  return codec === 'PCMU' ? pcmuDecode(bytes, out) : pcmaDecode(bytes, out);
}
