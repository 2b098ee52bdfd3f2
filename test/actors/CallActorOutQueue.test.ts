/**
 * The queue toward the phone, through the CallActor driven by hand (the
 * object a media worker hosts, real codecs and framer): a buffered agent's
 * speech far ahead of playback is played whole, the greeting ahead of it too;
 * a live-timed agent's lag is still cut at 5 s; barge-in still empties it all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentAdapter, AgentSink } from '../../src/agent/AgentAdapter.js';
import { AgentMarks } from '../../src/agent/AgentMarks.js';
import { CallActor } from '../../src/actors/CallActor.js';
import { pcmuDecode } from '../../src/media/g711.js';
import type { PromptPcm } from '../../src/media/PromptAudio.js';

const RATE = 16_000;
const encoder = new TextEncoder();

/** An agent whose audio the test hands in through `sink`. */
function scriptedAgent(audioTiming: 'buffered' | 'live') {
  const agent = {
    kind: 'scripted',
    sampleRate: RATE,
    audioTiming,
    bargeIn: 'agent',
    marks: new AgentMarks(),
    sink: null as AgentSink | null,
    interrupts: 0,
    async open(_call: unknown, sink: AgentSink) {
      agent.sink = sink;
    },
    callStarted() {},
    pushAudio() {},
    pushDtmf() {},
    interrupt() {
      agent.interrupts++;
    },
    markPlayed() {},
    actionResult() {},
    close() {},
  };
  return agent;
}

/** PCM whose level steps up each second (second k at 1000 * (k + 1)), so what plays says which second it is from. */
function steps(seconds: number): Int16Array {
  const pcm = new Int16Array(RATE * seconds);
  for (let i = 0; i < pcm.length; i++) pcm[i] = 1000 * (Math.floor(i / RATE) + 1);
  return pcm;
}

async function startedActor(audioTiming: 'buffered' | 'live', greeting: PromptPcm | null = null, format = { encoding: 'PCMU', sample_rate: 8000 }) {
  let now = 0;
  const media: string[] = [];
  let clears = 0;
  const agent = scriptedAgent(audioTiming);
  const actor = new CallActor(
    1,
    { callId: 'v3:outq', from: '+15550100001', to: '+15550100000', direction: 'incoming' },
    agent as unknown as AgentAdapter,
    {
      emitMedia: (_slot, text) => {
        if (text.includes('"media"')) media.push(text);
        else if (text.includes('"clear"')) clears++;
      },
      requestClose: (_slot, code, reason) => assert.fail(`closed ${code} ${reason}`),
      agentAction: () => undefined,
      log: () => undefined,
      now: () => now,
    },
    { mailboxFrames: 50, jitterMinDelayMs: 40, jitterMaxDelayMs: 200, greeting, hold: null },
    { thresholdDbfs: -35, minSpeechMs: 200 },
  );
  await actor.openAgent();
  actor.enqueue(encoder.encode(JSON.stringify({ event: 'start', start: { call_control_id: 'v3:outq', media_format: { ...format, channels: 1 } } })), now);
  actor.drain();
  const run = (ms: number) => {
    const end = now + ms;
    for (; now < end; now += 20) actor.pump(now);
  };
  /** The level of each frame sent, decoded (mid-frame sample; the resampler's edges aside). */
  const levels = () => media.map((text) => pcmuDecode(Buffer.from(JSON.parse(text).media.payload, 'base64'))[80]!);
  return { actor, agent, media, run, levels, clears: () => clears, at: () => now };
}

test('a buffered agent 30 s ahead of playback is played whole, from its first second, nothing dropped', async () => {
  const h = await startedActor('buffered');
  h.agent.sink!.audio(steps(30));
  h.run(31_000);
  const summary = h.actor.end('test', h.at());
  assert.equal(h.media.length, 1_500, '30 s in 20 ms frames');
  assert.equal(summary.mailboxDrops, 0);
  const levels = h.levels();
  // Second 1 plays first (before: the queue kept only the last 5 s, so it started at second 26).
  assert.ok(Math.abs(levels[10]! - 1000) < 100, `first frames at level ${levels[10]}`);
  assert.ok(Math.abs(levels[1_490]! - 30_000) < 1_500, `last frames at level ${levels[1_490]}`);
});

test('a buffered queue is still bounded: past 120 s the oldest go, counted', async () => {
  const h = await startedActor('buffered');
  h.agent.sink!.audio(steps(125));
  h.run(20);
  const summary = h.actor.end('test', h.at());
  assert.equal(summary.mailboxDrops, 125 * 50 - 6_000);
});

test('a buffered queue is bounded by its text too: L16 at 16 kHz keeps the newest 2 MiB (about 47 s)', async () => {
  const h = await startedActor('buffered', null, { encoding: 'L16', sample_rate: 16_000 });
  h.agent.sink!.audio(steps(60));
  h.run(20);
  const summary = h.actor.end('test', h.at());
  const kept = 60 * 50 - summary.mailboxDrops;
  assert.ok(kept >= 2_300 && kept <= 2_400, `${kept} frames kept`);
});

test('a live-timed agent keeps the 5 s cut: its queue is lag, not speech ahead', async () => {
  const h = await startedActor('live');
  h.agent.sink!.audio(steps(10));
  h.run(11_000);
  const summary = h.actor.end('test', h.at());
  assert.equal(h.media.length, 250);
  assert.equal(summary.mailboxDrops, 250);
});

test('a 12 s greeting plays whole before a buffered agent 8 s ahead, and behind a live-timed one too', async () => {
  const greeting: PromptPcm = { sampleRate: 8_000, pcm: new Int16Array(8_000 * 12).fill(-20_000) };
  for (const timing of ['buffered', 'live'] as const) {
    const h = await startedActor(timing, greeting);
    h.agent.sink!.audio(steps(timing === 'buffered' ? 8 : 4));
    h.run(21_000);
    const summary = h.actor.end('test', h.at());
    const levels = h.levels();
    const greetingFrames = levels.filter((v) => v < -15_000).length;
    assert.ok(greetingFrames >= 598, `${timing}: ${greetingFrames} greeting frames of 600 played`);
    assert.equal(summary.mailboxDrops, 0, timing);
    assert.equal(h.media.length, 600 + (timing === 'buffered' ? 400 : 200), timing);
  }
});

test('barge-in still empties the whole queue, however far ahead the agent was', async () => {
  const h = await startedActor('buffered');
  h.agent.sink!.audio(steps(60));
  h.run(1_000);
  h.agent.sink!.event({ type: 'speech.started' });
  h.run(1_000);
  const summary = h.actor.end('test', h.at());
  assert.equal(h.clears(), 1);
  assert.equal(h.agent.interrupts, 1);
  assert.equal(h.media.length, 50, 'one second played, nothing after the clear');
  assert.equal(summary.mailboxDrops, 3_000 - 50, 'the other 59 s were dropped at once');
});
