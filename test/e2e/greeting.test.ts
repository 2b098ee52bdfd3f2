/**
 * Greeting audio through the whole path: a WAV file decoded once at gateway
 * start, converted to the call's codec, played to the caller before the
 * agent's audio; a bad file stops the gateway at start with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../src/Gateway.js';
import { defaultGatewayConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { encodeWav } from '../../src/media/wav.js';
import { PromptAudio } from '../../src/media/PromptAudio.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { isTtmaError } from '../../src/errors.js';
import { NUMBER, startStack } from '../helpers/stack.js';

test('the caller hears the greeting file first, in the call\'s codec, then the agent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-greeting-'));
  // 600 ms of speech-like audio at 44.1 kHz stereo-free WAV: a rate no call uses, so it must be converted.
  const greeting = new SpeechLikeSignal(44100, 7).next(26460);
  const file = join(dir, 'greeting.wav');
  await writeFile(file, encodeWav(greeting, 44100));
  const stack = await startStack({ greetingFile: file });
  try {
    for (const codec of ['PCMU', 'G722'] as const) {
      const call = stack.sim.placeInboundCall({ from: codec === 'PCMU' ? '+15550301001' : '+15550301002', to: NUMBER, durationMs: 1_500, codec, talk: [] });
      const report = await call.done;
      assert.ok(report.heard.soundMs >= 560, `${codec}: heard ${report.heard.soundMs} ms of sound`);
      // What came back starts with the greeting (the simulator's audio is 8 kHz).
      const expected = new PromptAudio({ sampleRate: 44100, pcm: greeting }).pcmAt(8000).subarray(0, 4400);
      const found = bestLagCorrelation(expected, report.returnedPcm.subarray(0, 4400 + 800), 800);
      assert.ok(found.correlation > 0.9, `${codec}: greeting correlation ${found.correlation.toFixed(3)}`);
    }
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a greeting file that cannot be used stops the gateway at start, naming the file and the reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-greeting-'));
  try {
    await writeFile(join(dir, 'bad.wav'), 'RIFF....WAVEjunk');
    const gateway = new Gateway(
      {
        ...defaultGatewayConfig(),
        workers: 1,
        platformUrl: 'http://127.0.0.1:2',
        publicHost: 'test-gateway.trycloudflare.com',
        deploymentId: 'test',
        agentSecret: 'a'.repeat(43),
        numbers: [NUMBER],
        greetingFile: join(dir, 'bad.wav'),
      },
      createLogger('test', 'silent'),
    );
    await assert.rejects(gateway.start(), (e: unknown) => isTtmaError(e) && e.code === 'TTMA_ERR_AUDIO_FILE' && /bad\.wav: bad WAV: no "fmt " chunk/.test(e.message));
    await gateway.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
