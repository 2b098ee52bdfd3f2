/**
 * The openclaw adapter end to end: the caller's turn -> STT -> the OpenClaw
 * gateway's streamed chat completions -> TTS sentence by sentence -> the phone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBER, startStack, type Stack } from '../helpers/stack.js';
import type { AgentConfig } from '../../src/agent/agentConfig.js';
import { OpenClawAgent } from '../../src/agent/OpenClawAgent.js';
import { OpenClawTestServer } from './servers.js';

let stack: Stack;
let server: OpenClawTestServer;
let serverUrl = '';

/** The adapter's settings against the test server at `url` (session per caller, no greeting). */
function openclawConfig(url: string): Extract<AgentConfig, { kind: 'openclaw' }> {
  return {
    kind: 'openclaw',
    chat: { baseUrl: url, token: 'oc-gateway-token', agentId: 'main' },
    stt: { baseUrl: url, token: '', model: 'whisper-1' },
    tts: { baseUrl: url, token: '', model: 'tts-1', voice: 'alloy' },
    session: 'caller',
    greeting: '',
    bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 },
    turnEndMs: 600,
  };
}

before(async () => {
  server = new OpenClawTestServer();
  serverUrl = await server.start();
  stack = await startStack({ agent: openclawConfig(serverUrl) });
});

after(async () => {
  await stack.stop();
  await server.stop();
});

test('openclaw: a caller turn is transcribed, the streamed reply is spoken sentence by sentence while it streams', async () => {
  server.script = {
    transcript: 'what is on my calendar',
    reply: [
      { afterMs: 50, text: 'You have two meetings. ' },
      { afterMs: 700, text: 'The first is at nine. ' },
      { afterMs: 700, text: 'The second at noon.' },
    ],
    speechMs: 400,
  };
  const from = '+15550202001';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 5_000, talk: [{ atMs: 200, ms: 800 }] });
  const report = await call.done;

  const stt = server.requests.filter((r) => r.path === '/v1/audio/transcriptions');
  assert.equal(stt.length, 1, 'one caller turn, one transcription');
  assert.match(stt[0]!.body.toString('latin1'), /RIFF/, 'the turn was uploaded as WAV');
  const chat = server.chats().at(-1)!;
  const body = JSON.parse(chat.body.toString());
  assert.equal(body.model, 'openclaw/main');
  assert.equal(body.stream, true);
  assert.equal(body.user, `ttma:${from}`, 'a stable session key per caller');
  assert.equal(chat.headers['x-openclaw-session-key'], `ttma:${from}`);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'what is on my calendar' }]);

  const speeches = server.speeches();
  assert.deepEqual(
    speeches.map((s) => JSON.parse(s.body.toString()).input),
    ['You have two meetings.', 'The first is at nine.', 'The second at noon.'],
  );
  assert.ok(speeches[0]!.at < chat.doneAt!, 'the first sentence went to TTS before the reply finished streaming');
  const firstMs = report.heard.firstSoundAtMs! - speeches[0]!.firstAudioAt!;
  assert.ok(firstMs < 150, `first TTS audio reached the caller ${firstMs.toFixed(1)} ms after the TTS server sent it`);
  assert.ok(report.heard.firstSoundAtMs! < chat.doneAt!, 'the caller heard the first sentence while the rest was still streaming');
  assert.ok(report.heard.soundMs >= 1_150, `heard ${report.heard.soundMs} ms of three 400 ms sentences`);
  console.log(`openclaw: first audio ${firstMs.toFixed(1)} ms after TTS sent it; heard ${(chat.doneAt! - report.heard.firstSoundAtMs!).toFixed(0)} ms before the reply finished`);
});

test('openclaw: the caller talking over the reply clears it (gateway barge-in) and starts a new turn', async () => {
  server.script = {
    transcript: 'stop',
    reply: [{ afterMs: 0, text: 'This is a long answer. ' }, { afterMs: 0, text: 'It goes on and on.' }],
    speechMs: 1_500,
  };
  const from = '+15550202002';
  // Turn 1 at 0.2 s; the reply starts about 0.9 s later; the caller cuts in at 1.8 s.
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 5_000, talk: [{ atMs: 200, ms: 600 }, { atMs: 1_800, ms: 600 }] });
  const report = await call.done;
  assert.ok(report.heard.clears.length >= 1, 'the provider was told to clear');
  const clear = report.heard.clears[0]!;
  assert.ok(clear.soundMsBefore > 0 && clear.soundMsBefore < 3_000, `cleared after ${clear.soundMsBefore} ms of reply`);
  const stt = server.requests.filter((r) => r.path === '/v1/audio/transcriptions' && r.at > clear.atMs);
  assert.equal(stt.length, 1, 'the interruption became the next turn');
});

test('openclaw: the greeting is spoken on a new call, not on a call already under way (a new session after a move or a gateway restart)', async () => {
  for (const resumed of [false, true]) {
    const agent = new OpenClawAgent({ ...openclawConfig(serverUrl), session: 'call', greeting: 'Hello, this is the assistant.' });
    let audio = 0;
    await agent.open({ callId: `v3:greeting-${resumed}`, from: '+15550209001', to: NUMBER, direction: 'incoming', ...(resumed ? { resumed } : {}) }, { audio: (pcm) => void (audio += pcm.length), event: () => {} });
    const speechBefore = server.requests.filter((r) => r.path === '/v1/audio/speech').length;
    agent.callStarted();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const spoken = server.requests.filter((r) => r.path === '/v1/audio/speech').length - speechBefore;
    agent.close();
    assert.equal(spoken, resumed ? 0 : 1, resumed ? 'no greeting on a call under way' : 'the greeting on a new call');
    assert.equal(audio > 0, !resumed);
  }
});
