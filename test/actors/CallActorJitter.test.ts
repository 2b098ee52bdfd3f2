/**
 * The CallActor's caller-audio path through the jitter buffer, driven by hand
 * on one thread (the same object the media worker hosts): reordering, loss,
 * a burst after a stall, and media after `stop`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BARGE_IN } from '../../src/agent/agentConfig.js';
import type { AgentCall, AgentSink } from '../../src/agent/AgentAdapter.js';
import { EchoAgent } from '../../src/agent/EchoAgent.js';
import { CallActor, type CallActorHooks } from '../../src/actors/CallActor.js';
import { pcmuEncode } from '../../src/media/g711.js';

const encoder = new TextEncoder();

/** A call actor with the echo agent, the default settings and hooks that fail on a close; `hooks` adds or replaces the rest. */
function echoActor(slot: number, callId: string, hooks: Partial<CallActorHooks> & Pick<CallActorHooks, 'now'>): CallActor {
  return new CallActor(
    slot,
    { callId, from: '+15550100001', to: '+15550100000', direction: 'incoming' },
    new EchoAgent(),
    {
      emitMedia: () => undefined,
      requestClose: (_slot, code, reason) => assert.fail(`closed ${code} ${reason}`),
      agentAction: () => undefined,
      log: () => undefined,
      ...hooks,
    },
    { mailboxFrames: 500, jitterMinDelayMs: 20, jitterMaxDelayMs: 200, greeting: null, hold: null },
    DEFAULT_BARGE_IN,
  );
}

function harness() {
  let clock = 1_000;
  const out: string[] = [];
  const actor = echoActor(1, 'jb-call', {
    emitMedia: (_slot, text) => out.push(text),
    now: () => clock,
  });
  const send = (frame: unknown): void => actor.enqueue(encoder.encode(JSON.stringify(frame)), clock);
  const media = (chunk: number): void => {
    const pcm = new Int16Array(160).fill(chunk * 50);
    send({ event: 'media', media: { track: 'inbound', chunk: String(chunk), timestamp: String(chunk * 20), payload: Buffer.from(pcmuEncode(pcm)).toString('base64') } });
  };
  const run = (ms: number): void => {
    for (let t = 0; t < ms; t += 5) {
      clock += 5;
      actor.drain();
      actor.pump(clock);
    }
  };
  return { actor, out, send, media, run, at: () => clock };
}

async function started() {
  const h = harness();
  await h.actor.openAgent();
  h.send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } });
  return h;
}

test('a burst after a stall (30 frames in one drain) is released whole, not dropped by a buffer restart', async () => {
  const h = await started();
  for (let chunk = 1; chunk <= 5; chunk++) {
    h.media(chunk);
    h.run(20);
  }
  for (let chunk = 6; chunk <= 35; chunk++) h.media(chunk); // a 600 ms stall upstream, then everything at once
  h.run(1_000);
  const summary = h.actor.end('test', h.at());
  assert.equal(summary.framesIn, 35);
  assert.equal(summary.jitter?.resets, 0);
  assert.equal(summary.jitter?.concealed, 0);
  assert.equal(summary.framesOut, 35, 'every frame was echoed');
});

test('reordered frames are put back in order; a lost one is concealed once a later frame shows the gap', async () => {
  const h = await started();
  for (const chunk of [1, 2, 4, 3, 5, 6, 8, 9, 10]) {
    h.media(chunk);
    h.run(20);
  }
  h.run(200);
  const summary = h.actor.end('test', h.at());
  assert.equal(summary.framesIn, 9);
  assert.equal(summary.jitter?.lost, 1, 'frame 7 never came');
  assert.equal(summary.jitter?.concealed, 1);
  assert.equal(summary.jitter?.late, 0, 'frame 3, one frame late, was waited for');
  assert.equal(summary.framesOut, 10);
});

test('media after stop is counted as malformed and never played', async () => {
  const h = await started();
  h.media(1);
  h.run(20);
  h.send({ event: 'stop', stop: { call_control_id: 'jb-call' } });
  h.media(2);
  h.run(100);
  const summary = h.actor.end('test', h.at());
  assert.equal(summary.framesIn, 1);
  assert.equal(summary.malformedFrames, 1);
  assert.equal(summary.framesOut, 1);
});

test('added latency per direction: caller frame in -> toward the agent less the jitter hold, and agent audio -> out, stamped on each frame', async () => {
  let clock = 5_000;
  const inbound: Array<[number, number]> = [];
  const out: Array<number | undefined> = [];
  const actor = echoActor(2, 'lat-call', {
    emitMedia: (_slot, _text, agentAtMs) => out.push(agentAtMs),
    recordInbound: (addedMs, holdMs) => inbound.push([addedMs, holdMs]),
    now: () => clock,
  });
  await actor.openAgent();
  const send = (frame: unknown, frontAt: number): void => actor.enqueue(encoder.encode(JSON.stringify(frame)), frontAt);
  send({ event: 'start', start: { call_control_id: 'lat-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } }, clock);
  const payload = Buffer.from(pcmuEncode(new Int16Array(160).fill(1000))).toString('base64');
  for (let chunk = 1; chunk <= 3; chunk++) {
    // The frame reached the front 2 ms before the worker handles it.
    send({ event: 'media', media: { track: 'inbound', chunk: String(chunk), payload } }, clock - 2);
    actor.drain();
    actor.pump(clock);
    clock += 20;
  }
  assert.equal(inbound.length, 3);
  for (const [added, hold] of inbound) {
    assert.equal(added, 2, 'front to agent: the 2 ms before the worker (the hand clock does not move inside a drain)');
    assert.equal(hold, 0, 'a clean stream is released at once');
  }
  assert.equal(out.length, 3);
  assert.deepEqual(out, [5_000, 5_020, 5_040], 'each echoed frame carries the time its audio came from the agent');
});

test('the live pacer spreads bunched echoes 5 ms apart, and says how long its spacing held each', async () => {
  let clock = 9_000;
  const paced: number[] = [];
  const sentAt: number[] = [];
  const actor = echoActor(3, 'pace-call', {
    emitMedia: () => sentAt.push(clock),
    recordPaced: (ms) => paced.push(ms),
    now: () => clock,
  });
  await actor.openAgent();
  const send = (frame: unknown): void => actor.enqueue(encoder.encode(JSON.stringify(frame)), clock);
  send({ event: 'start', start: { call_control_id: 'pace-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } });
  const payload = Buffer.from(pcmuEncode(new Int16Array(160).fill(1000))).toString('base64');
  // Three frames arrive together (a sender that stalled), then the thread pumps every millisecond.
  for (let chunk = 1; chunk <= 3; chunk++) send({ event: 'media', media: { track: 'inbound', chunk: String(chunk), payload } });
  actor.drain();
  for (let t = 0; t <= 15; t++) {
    actor.pump(clock);
    clock += 1;
  }
  assert.deepEqual(sentAt, [9_000, 9_005, 9_010], 'one at once, then one per quarter interval');
  assert.deepEqual(paced, [0, 5, 10], 'the spacing held them 0, 5 and 10 ms');
});

test('agent marks: a bad name and the 257th mark in flight are refused and logged; the first 256 reach the provider', async () => {
  const clock = 1_000;
  const frames: string[] = [];
  const warnings: string[] = [];
  let sink: AgentSink | null = null;
  class MarkingAgent extends EchoAgent {
    override async open(call: AgentCall, given: AgentSink): Promise<void> {
      sink = given;
      return super.open(call, given);
    }
  }
  const actor = new CallActor(
    4,
    { callId: 'mark-call', from: '+15550100001', to: '+15550100000', direction: 'incoming' },
    new MarkingAgent(),
    {
      emitMedia: (_slot, text) => frames.push(text),
      requestClose: (_slot, code, reason) => assert.fail(`closed ${code} ${reason}`),
      agentAction: () => undefined,
      log: (_slot, level, msg) => warnings.push(`${level}: ${msg}`),
      now: () => clock,
    },
    { mailboxFrames: 500, jitterMinDelayMs: 20, jitterMaxDelayMs: 200, greeting: null, hold: null },
    DEFAULT_BARGE_IN,
  );
  await actor.openAgent();
  actor.enqueue(encoder.encode(JSON.stringify({ event: 'start', start: { call_control_id: 'mark-call', media_format: { encoding: 'PCMU', sample_rate: 8000 } } })), clock);
  actor.drain();
  sink!.event({ type: 'mark', name: 'bad\u0000name' });
  // Nothing queued: each mark goes straight to the provider and stays in flight until echoed (never, here).
  for (let i = 0; i < 300; i++) sink!.event({ type: 'mark', name: `m${i}` });
  const marks = frames.filter((f) => f.includes('"event":"mark"'));
  assert.equal(marks.length, 256);
  assert.equal(marks[0], '{"event":"mark","mark":{"name":"agent:m0"}}');
  assert.equal(warnings.filter((w) => /1 to 64 printable ASCII/.test(w)).length, 1);
  // The agent's refusals are logged at most 10 lines a second per call (the bad name took one); the rest are counted.
  assert.equal(warnings.filter((w) => /256 marks already in flight/.test(w)).length, 9);
  // An echo frees a place.
  actor.enqueue(encoder.encode(JSON.stringify({ event: 'mark', mark: { name: 'agent:m0' } })), clock);
  actor.drain();
  sink!.event({ type: 'mark', name: 'after-echo' });
  assert.equal(frames.filter((f) => f.includes('"event":"mark"')).length, 257);
});

test('caller frames marked stale (the worker fell behind) are dropped unplayed and counted; control frames in the same backlog still act', async () => {
  let clock = 20_000;
  const out: string[] = [];
  const actor = echoActor(4, 'stale-call', { emitMedia: (_slot, text) => out.push(text), now: () => clock });
  await actor.openAgent();
  const send = (frame: unknown, stale: boolean): void => actor.enqueue(encoder.encode(JSON.stringify(frame)), clock, stale);
  send({ event: 'start', start: { call_control_id: 'stale-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } }, true);
  const payload = Buffer.from(pcmuEncode(new Int16Array(160).fill(1000))).toString('base64');
  const media = (chunk: number) => ({ event: 'media', media: { track: 'inbound', chunk: String(chunk), payload } });
  for (let chunk = 1; chunk <= 30; chunk++) send(media(chunk), true);
  actor.drain();
  actor.pump(clock);
  assert.equal(out.length, 0, 'nothing of the backlog reached the agent, so nothing echoed');
  for (let chunk = 31; chunk <= 33; chunk++) {
    send(media(chunk), false);
    actor.drain();
    actor.pump(clock);
    clock += 20;
  }
  assert.equal(out.length, 3, 'fresh frames after the backlog play at once');
  const summary = actor.end('test', clock);
  assert.equal(summary.mailboxDrops, 30);
  assert.equal(summary.framesIn, 3);
  assert.equal(summary.malformedFrames, 0, 'a stale frame is not a malformed one');
  assert.equal(summary.jitter?.lost, 0, 'the first played frame anchors the stream: no gap concealed');
});

test('a lost stream resumes on the next start: chunks numbered from 1 again are played, not dropped as late', async () => {
  const h = await started();
  for (let chunk = 1; chunk <= 50; chunk++) {
    h.media(chunk);
    h.run(20);
  }
  assert.equal(h.actor.streamLost(), true);
  h.run(200); // no socket: nothing arrives
  h.send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } });
  for (let chunk = 1; chunk <= 20; chunk++) {
    h.media(chunk);
    h.run(20);
  }
  h.run(200);
  const summary = h.actor.end('test', h.at());
  assert.equal(summary.framesIn, 70);
  assert.equal(summary.jitter?.late, 0, 'the new stream\'s chunks are not late frames of the old one');
  assert.ok(summary.framesOut >= 70, `every caller frame was echoed (${summary.framesOut} out, concealment included)`);
});

test('without a lost stream a repeated start changes nothing; a new stream in another format is refused', async () => {
  const h = await started();
  h.media(1);
  h.run(20);
  h.send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'PCMA', sample_rate: 8000, channels: 1 } } });
  h.run(20);
  const closes: Array<{ code: number; reason: string }> = [];
  const g = harness();
  const actor = echoActor(2, 'jb-call', { now: g.at, requestClose: (_slot, code, reason) => closes.push({ code, reason }) });
  await actor.openAgent();
  const send = (frame: unknown): void => {
    actor.enqueue(encoder.encode(JSON.stringify(frame)), g.at());
    actor.drain();
  };
  assert.equal(actor.streamLost(), false, 'no stream yet: nothing to resume');
  send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } });
  assert.equal(actor.streamLost(), true);
  send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'L16', sample_rate: 16000, channels: 1 } } });
  assert.equal(closes.length, 1);
  assert.match(closes[0]!.reason, /TTMA_ERR_CODEC_UNSUPPORTED: the new stream is L16 at 16000 Hz, the call PCMU at 8000 Hz/);
  const stopped = harness();
  await stopped.actor.openAgent();
  stopped.send({ event: 'start', start: { call_control_id: 'jb-call', media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } } });
  stopped.send({ event: 'stop', stop: { call_control_id: 'jb-call' } });
  stopped.run(20);
  assert.equal(stopped.actor.streamLost(), false, 'the provider stopped the stream: the call is ending, nothing to resume');
});
