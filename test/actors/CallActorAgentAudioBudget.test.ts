/**
 * Calls on one worker share its bound on queued agent audio (CallActor with a
 * SharedQueueBudget, driven by hand with real codecs): the call holding the
 * most loses its oldest frames, a call within its fair share loses nothing,
 * and each call that lost audio is logged once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentAdapter, AgentSink } from '../../src/agent/AgentAdapter.js';
import { AgentMarks } from '../../src/agent/AgentMarks.js';
import { CallActor } from '../../src/actors/CallActor.js';
import { QUEUED_FRAME_OVERHEAD_BYTES } from '../../src/actors/agentAudioBudget.js';
import { SharedQueueBudget } from '../../src/media/SharedQueueBudget.js';

const RATE = 16_000;
const encoder = new TextEncoder();
/** A PCMU frame's text toward the phone: 160 bytes in base64 inside the media event. */
const PCMU_FRAME_TEXT = `{"event":"media","media":{"payload":"${'A'.repeat(216)}"}}`.length;

function bufferedAgent() {
  const agent = {
    kind: 'scripted',
    sampleRate: RATE,
    audioTiming: 'buffered',
    bargeIn: 'agent',
    marks: new AgentMarks(),
    sink: null as AgentSink | null,
    async open(_call: unknown, sink: AgentSink) {
      agent.sink = sink;
    },
    callStarted() {},
    pushAudio() {},
    pushDtmf() {},
    interrupt() {},
    markPlayed() {},
    actionResult() {},
    close() {},
  };
  return agent;
}

test('past the shared bound the call holding the most loses its oldest frames; a call within its share loses none; each is logged once', async () => {
  let now = 0;
  const frameBytes = PCMU_FRAME_TEXT + QUEUED_FRAME_OVERHEAD_BYTES;
  const budget = new SharedQueueBudget(2_000 * frameBytes, QUEUED_FRAME_OVERHEAD_BYTES);
  const sent = new Map<number, number>();
  const logs: Array<{ slot: number; msg: string }> = [];
  const calls = await Promise.all(
    [1, 2].map(async (slot) => {
      const agent = bufferedAgent();
      const actor = new CallActor(
        slot,
        { callId: `v3:budget${slot}`, from: '+15550100001', to: '+15550100000', direction: 'incoming' },
        agent as unknown as AgentAdapter,
        {
          emitMedia: (s, text) => void (text.includes('"media"') && sent.set(s, (sent.get(s) ?? 0) + 1)),
          requestClose: (_s, code, reason) => assert.fail(`closed ${code} ${reason}`),
          agentAction: () => undefined,
          log: (s, _level, msg) => logs.push({ slot: s, msg }),
          now: () => now,
        },
        { mailboxFrames: 50, jitterMinDelayMs: 40, jitterMaxDelayMs: 200, greeting: null, hold: null },
        { thresholdDbfs: -35, minSpeechMs: 200 },
        budget,
      );
      await actor.openAgent();
      actor.enqueue(encoder.encode(JSON.stringify({ event: 'start', start: { call_control_id: `v3:budget${slot}`, media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } })), now);
      actor.drain();
      return { actor, agent };
    }),
  );
  const [long, short] = calls as [(typeof calls)[0], (typeof calls)[0]];
  const tone = (seconds: number) => new Int16Array(RATE * seconds).fill(3_000);
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 20) for (const c of calls) c.actor.pump(now);
  };

  // Alone, the long reply (3,000 frames) meets the bound and keeps its newest 2,000.
  long.agent.sink!.audio(tone(60));
  assert.ok(budget.heldBytes <= budget.maxBytes);
  // The short reply fits its fair share (half the bound): all of it is queued, and the long call pays for it.
  short.agent.sink!.audio(tone(10));
  run(20);
  assert.ok(budget.heldBytes <= budget.maxBytes, `${budget.heldBytes} of ${budget.maxBytes} bytes held after a turn`);
  run(12_000);
  const shortSummary = short.actor.end('test', now);
  const longSummary = long.actor.end('test', now);
  assert.equal(shortSummary.mailboxDrops, 0, 'the call within its share lost nothing');
  assert.equal(sent.get(2), 500, 'and played its 10 s whole');
  // At most 2,000 frames held at once; the long call's 500 frames less after the short one queued.
  assert.ok(longSummary.mailboxDrops >= 3_000 - 2_000 + 490, `long call dropped ${longSummary.mailboxDrops}`);
  assert.ok((sent.get(1) ?? 0) >= 12_000 / 20 - 2, 'the long call kept playing');
  assert.equal(budget.drops, longSummary.mailboxDrops);
  assert.deepEqual(logs.map((l) => l.slot), [1], 'logged once, for the call that lost audio');
  assert.match(logs[0]!.msg, /agent audio dropped, oldest first: .* bound of 0\.6 MiB .* fair share/);
  assert.equal(budget.heldBytes, 0, 'ended calls gave their queued audio back');
  assert.equal(budget.holders, 0);
});
