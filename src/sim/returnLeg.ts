/**
 * The return leg's sampling rate (`stream_bidirectional_sampling_rate`): the
 * rate the provider takes the gateway's RTP payloads to be at. Telnyx lists
 * 8000, 16000, 22050, 24000 and 48000 and assumes 8000 when it is absent
 * (developers.telnyx.com/api-reference/call-commands/streaming-start; dial and
 * answer take the same field). It does not say which rates go with which codec,
 * nor what it does with a pair that cannot be played; the simulator refuses
 * such a pair when the request names both (422, as a documented parameter
 * check would), so a platform that sends one fails loudly in tests instead of
 * passing with audio a real provider would garble.
 */
import { BIDIRECTIONAL_SAMPLING_RATES } from '../wire/telnyx.js';
import type { SimCodec } from './codecs.js';

/**
 * What each codec's payloads can be taken at:
 * - G.711 exists at 8 kHz only (ITU-T G.711).
 * - G.722 codes 16 kHz audio, but its RTP clock rate is 8000 (RFC 3551 section
 *   4.5.2, a historical quirk): either value describes the same payloads, and
 *   Telnyx's own examples pair G722 with 16000.
 * - L16 is plain samples: any listed rate, and the rate is the only thing that
 *   says how fast they play (declare the wrong one and the voice changes speed).
 * - Opus decodes to 8, 12, 16, 24 or 48 kHz whatever it was encoded at (RFC 6716
 *   section 2): 22050 is not one of them.
 */
const RATES_FOR: Readonly<Record<SimCodec, readonly number[]>> = {
  PCMU: [8000],
  PCMA: [8000],
  G722: [8000, 16000],
  L16: BIDIRECTIONAL_SAMPLING_RATES,
  OPUS: [8000, 16000, 24000, 48000],
};

export function rateFitsCodec(codec: SimCodec, rate: number): boolean {
  return RATES_FOR[codec].includes(rate);
}

export function ratesFor(codec: SimCodec): readonly number[] {
  return RATES_FOR[codec];
}
