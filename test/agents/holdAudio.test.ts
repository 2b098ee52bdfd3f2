import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAgent } from '../../src/agent/createAgent.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { cueTone } from '../../src/media/cueTone.js';
import { PromptAudio } from '../../src/media/PromptAudio.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { realtimeTestConfig } from './servers.js';

const config = { ...realtimeTestConfig('ws://127.0.0.1:9'), apiKey: 'k' };

test('a slow consult plays the operator\'s hold audio, converted to the agent\'s rate; without one, the built-in cue', () => {
  const hold = { sampleRate: 16000, pcm: new SpeechLikeSignal(16000, 3).next(16000) };
  const withHold = createAgent(config, { hold }) as RealtimeAgent;
  assert.equal(withHold.sampleRate, 24000);
  assert.deepEqual([...withHold.holdAudio], [...PromptAudio.of(hold).pcmAt(24000)]);
  assert.equal(withHold.holdAudio.length, 24000);
  const plain = createAgent(config) as RealtimeAgent;
  assert.deepEqual([...plain.holdAudio], [...cueTone(24000)]);
  const ulaw = new RealtimeAgent({ ...config, format: 'g711_ulaw' }, hold);
  assert.equal(ulaw.holdAudio.length, 8000, 'at 8 kHz for a G.711 session');
});
