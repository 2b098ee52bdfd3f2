/**
 * The resampler the call path uses: the native polyphase loop when the addon
 * loaded (bit-identical output, 7 to 11 times faster: docs/media.md), else the
 * TypeScript reference. Both keep the same state layout and interface.
 */
import { nativeMedia, nativeLoadError, NativeResampler } from './native.js';
import { Resampler } from './Resampler.js';

export type CallResampler = Pick<Resampler, 'fromRate' | 'toRate' | 'delayOutputSamples' | 'outputLength' | 'process' | 'processInto' | 'reset'>;

export function createResampler(fromRate: number, toRate: number): CallResampler {
  return nativeMedia ? new NativeResampler(fromRate, toRate, nativeMedia) : new Resampler(fromRate, toRate);
}

/** Which implementation createResampler returns here, and why, for status pages and logs. */
export const resamplerImplementation: string = nativeMedia ? `native (${nativeMedia.kernel})` : `typescript (${nativeLoadError ?? 'native disabled'})`;
