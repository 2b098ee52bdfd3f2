/** The gateway's greeting and hold audio, decoded once at start from the configured files. */
import type { Logger } from '../log.js';
import type { GatewayConfig } from '../config.js';
import type { PromptPcm } from '../media/PromptAudio.js';
import { loadAudioFile } from './loadAudioFile.js';

export interface CallPrompts {
  greeting: PromptPcm | null;
  hold: PromptPcm | null;
}

export async function loadCallPrompts(config: Pick<GatewayConfig, 'greetingFile' | 'holdFile'>, log?: Logger): Promise<CallPrompts> {
  const load = async (what: string, path: string): Promise<PromptPcm | null> => {
    if (path === '') return null;
    const audio = await loadAudioFile(path);
    log?.info({ file: path, format: audio.description, seconds: Math.round((audio.pcm.length / audio.sampleRate) * 100) / 100 }, `${what} audio loaded`);
    return { sampleRate: audio.sampleRate, pcm: audio.pcm };
  };
  const [greeting, hold] = await Promise.all([load('greeting', config.greetingFile), load('hold', config.holdFile)]);
  return { greeting, hold };
}
