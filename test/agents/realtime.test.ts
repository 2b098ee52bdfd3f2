/**
 * The realtime adapter end to end: simulator -> platform -> gateway (worker
 * thread) -> a real OpenAI-Realtime-compatible server on loopback, and back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_BARGE_IN } from '../../src/agent/agentConfig.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { OpenClawTestServer, RealtimeTestServer, sleep, tone } from './servers.js';

/** Numbers the operator lets the model transfer to; the premium-rate one the platform refuses regardless. */
const TRANSFER_TARGET = '+15550300002';
const PREMIUM_TARGET = '+19005550100';

let stack: Stack;
let realtime: RealtimeTestServer;
let openclaw: OpenClawTestServer;
let calls = 0;

before(async () => {
  realtime = new RealtimeTestServer();
  openclaw = new OpenClawTestServer();
  const url = await realtime.start();
  const openclawUrl = await openclaw.start();
  stack = await startStack({
    agent: {
      kind: 'realtime',
      url,
      model: 'gpt-realtime',
      voice: 'marin',
      apiKey: 'rt-test-key',
      format: 'pcm16',
      instructions: 'Be brief.',
      consult: { baseUrl: openclawUrl, token: 'oc-gateway-token', agentId: 'main' },
      cueAfterMs: 1500,
      transferTargets: [TRANSFER_TARGET, PREMIUM_TARGET],
      dtmf: true,
      transcriptionModel: 'gpt-4o-mini-transcribe',
    },
    bargeIn: DEFAULT_BARGE_IN,
  });
});

after(async () => {
  await stack.stop();
  await realtime.stop();
  await openclaw.stop();
});

function placeCall(durationMs: number) {
  const index = calls++;
  const call = stack.sim.placeInboundCall({ from: `+1555020010${index}`, to: NUMBER, durationMs });
  return { call, conn: realtime.connection(index) };
}

test('realtime: warm before pickup, session formats and tools, first audio within 150 ms, barge-in clears within a frame and truncates at what was heard', async () => {
  const { call, conn: connecting } = placeCall(3_000);
  const conn = await connecting;
  assert.match(conn.url, /model=gpt-realtime/);
  assert.equal(conn.authorization, 'Bearer rt-test-key');
  const update = (await conn.inbox.waitFor((m) => m['type'] === 'session.update', 'session.update')).msg['session'];
  assert.deepEqual(update.audio.input.format, { type: 'audio/pcm', rate: 24000 });
  assert.equal(update.audio.input.turn_detection.type, 'server_vad');
  assert.deepEqual(update.audio.input.transcription, { model: 'gpt-4o-mini-transcribe' }, 'the operator turned caller transcription on');
  assert.deepEqual(update.tools.map((t: { name: string }) => t.name).sort(), ['consult_agent', 'end_call', 'send_dtmf', 'transfer_call']);
  const transfer = update.tools.find((t: { name: string }) => t.name === 'transfer_call');
  assert.deepEqual(transfer.parameters.properties.to.enum, [TRANSFER_TARGET, PREMIUM_TARGET], 'the model is told the only numbers it may use');
  // The session was set up on call.initiated, before any caller audio existed.
  assert.equal(conn.appends, 0);

  await conn.inbox.waitFor((m) => m['type'] === 'response.create', 'the greeting response.create');
  conn.send({ type: 'response.created', response: { id: 'r1' } });
  let bargedAt = 0;
  const streaming = conn.audio('r1', 'item1', tone(24_000, 2_500), 100, true, () => bargedAt > 0 && performance.now() - bargedAt > 300);
  await sleep(800);
  bargedAt = conn.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: 900, item_id: 'user1' });
  const firstSent = await streaming;
  const truncate = (await conn.inbox.waitFor((m) => m['type'] === 'conversation.item.truncate', 'conversation.item.truncate')).msg;
  assert.ok(conn.inbox.count('response.cancel') >= 1, 'the response was cancelled');

  const report = await call.done;
  const heard = report.heard;
  assert.ok(heard.firstSoundAtMs !== null, 'the caller heard the agent');
  const firstAudioMs = heard.firstSoundAtMs - firstSent;
  assert.ok(firstAudioMs < 150, `first agent audio reached the caller ${firstAudioMs.toFixed(1)} ms after the server sent it`);
  const clear = heard.clears[0];
  assert.ok(clear, 'the provider was told to clear');
  const clearMs = clear.atMs - bargedAt;
  assert.ok(clearMs < 20, `clear reached the provider ${clearMs.toFixed(1)} ms after speech_started (one frame is 20 ms)`);
  assert.equal(heard.soundMs, clear.soundMsBefore, 'no agent audio after the clear (late deltas of the cancelled response are dropped)');
  assert.equal(truncate['item_id'], 'item1');
  assert.ok(Math.abs(truncate['audio_end_ms'] - clear.soundMsBefore) <= 40, `truncated at ${truncate['audio_end_ms']} ms, the caller heard ${clear.soundMsBefore} ms`);
  console.log(`realtime: first audio ${firstAudioMs.toFixed(1)} ms after send; clear ${clearMs.toFixed(1)} ms after speech_started; truncate ${truncate['audio_end_ms']} ms vs heard ${clear.soundMsBefore} ms`);
});

test('realtime: end_call lets the farewell play to the end, then hangs up', async () => {
  const { call, conn: connecting } = placeCall(10_000);
  const conn = await connecting;
  await conn.inbox.waitFor((m) => m['type'] === 'response.create', 'response.create');
  conn.send({ type: 'response.created', response: { id: 'r2' } });
  // The whole farewell at once: the gateway must pace it out, not cut it.
  await conn.audio('r2', 'bye1', tone(24_000, 1_200), 200, false);
  conn.send({ type: 'response.function_call_arguments.done', response_id: 'r2', item_id: 'fc1', call_id: 'call_end', name: 'end_call', arguments: '{"reason":"caller is done"}' });
  conn.send({ type: 'response.done', response: { id: 'r2', status: 'completed' } });
  const report = await call.done;
  assert.equal(report.endedBy, 'gateway', report.endReason);
  assert.ok(report.heard.soundMs >= 1_180, `the caller heard ${report.heard.soundMs} ms of a 1200 ms farewell`);
  assert.ok(report.framesSent < 200, 'hung up well before the caller would have');
  await waitFor('the call summary', () => stack.gateway.control.summaries.some((s) => s.callId === call.id));
  const summary = stack.gateway.control.summaries.find((s) => s.callId === call.id)!;
  assert.match(summary.endReason, /agent: caller is done/);
});

async function consult(delayMs: number) {
  openclaw.script = { reply: [{ afterMs: delayMs, text: 'You have a dentist appointment at 3.' }], transcript: '', speechMs: 0 };
  const { call, conn: connecting } = placeCall(4_500);
  const conn = await connecting;
  await conn.inbox.waitFor((m) => m['type'] === 'response.create', 'response.create');
  conn.send({ type: 'response.created', response: { id: 'r3' } });
  const askedAt = conn.send({ type: 'response.function_call_arguments.done', response_id: 'r3', item_id: 'fc2', call_id: 'call_consult', name: 'consult_agent', arguments: '{"question":"what is on my calendar today"}' });
  conn.send({ type: 'response.done', response: { id: 'r3', status: 'completed' } });
  const output = await conn.inbox.waitFor((m) => m['type'] === 'conversation.item.create' && m['item']?.type === 'function_call_output', 'the tool output', 5_000);
  await conn.inbox.waitFor((m) => m['type'] === 'response.create' && conn.inbox.messages.indexOf(output) >= 0, 'response.create after the output');
  return { report: await call.done, askedAt, output: output.msg['item'] };
}

test('realtime: a slow consult_agent plays the "one moment" cue after 1.5 s and returns the OpenClaw answer', async () => {
  const { report, askedAt, output } = await consult(2_500);
  assert.equal(output.call_id, 'call_consult');
  assert.deepEqual(JSON.parse(output.output), { answer: 'You have a dentist appointment at 3.' });
  const chat = openclaw.chats().at(-1)!;
  const body = JSON.parse(chat.body.toString());
  assert.equal(body.model, 'openclaw/main');
  assert.equal(body.stream, true);
  assert.equal(body.messages[0].content, 'what is on my calendar today');
  assert.ok(report.heard.firstSoundAtMs !== null, 'the cue was heard');
  const cueAt = report.heard.firstSoundAtMs - askedAt;
  assert.ok(cueAt >= 1_450 && cueAt < 1_700, `cue heard ${cueAt.toFixed(0)} ms after the tool call`);
  assert.ok(report.heard.soundMs >= 300, `cue lasted ${report.heard.soundMs} ms`);
});

test('realtime: a quick consult_agent plays no cue', async () => {
  const { report, output } = await consult(200);
  assert.deepEqual(JSON.parse(output.output), { answer: 'You have a dentist appointment at 3.' });
  assert.equal(report.heard.soundMs, 0, 'no cue for an answer within 1.5 s');
});

test('realtime: send_dtmf and transfer_call reach the platform and answer the model; bad digits, an unlisted number and a premium-rate one are refused', async () => {
  const { call, conn: connecting } = placeCall(10_000);
  const conn = await connecting;
  await conn.inbox.waitFor((m) => m['type'] === 'response.create', 'response.create');
  conn.send({ type: 'response.created', response: { id: 'r5' } });
  const toolOutput = async (callId: string) => {
    const found = await conn.inbox.waitFor((m) => m['type'] === 'conversation.item.create' && m['item']?.call_id === callId, `the output of ${callId}`, 5_000);
    return JSON.parse(found.msg['item'].output) as Record<string, unknown>;
  };
  const ask = (callId: string, name: string, args: unknown) =>
    conn.send({ type: 'response.function_call_arguments.done', response_id: 'r5', item_id: `fc-${callId}`, call_id: callId, name, arguments: JSON.stringify(args) });

  ask('dtmf_ok', 'send_dtmf', { digits: '12#' });
  assert.deepEqual(await toolOutput('dtmf_ok'), { ok: true });
  ask('dtmf_bad', 'send_dtmf', { digits: 'call me; rm -rf' });
  assert.match(String((await toolOutput('dtmf_bad'))['error']), /digits must be/);

  ask('transfer_unlisted', 'transfer_call', { to: '+15550300003' });
  assert.match(String((await toolOutput('transfer_unlisted'))['error']), /not a number this call may be transferred to/);
  ask('transfer_premium', 'transfer_call', { to: PREMIUM_TARGET });
  assert.match(String((await toolOutput('transfer_premium'))['error']), /TTMA_ERR_DESTINATION_REFUSED/, 'the platform refuses it even when listed');
  assert.equal(stack.sim.liveCall(call.id)?.isAlive, true, 'the call is still up');

  // A transfer that goes through takes the caller away: the call (and the model's session) ends with it.
  ask('transfer_ok', 'transfer_call', { to: TRANSFER_TARGET });
  const report = await call.done;
  assert.equal(report.dtmfReceived, '12#');
  assert.equal(report.transferredTo, TRANSFER_TARGET);
  // Each answer from the platform was followed by a response.create, so the model can say what happened.
  assert.ok(conn.inbox.count('response.create') >= 5, `response.create sent ${conn.inbox.count('response.create')} times`);
});

// Last in the file: the reopened session is one more connection than calls placed.
test('realtime: a session the server ends mid-call is reopened through the gateway, and the call goes on to its end', async () => {
  const { call, conn: connecting } = placeCall(4_000);
  const first = await connecting;
  await first.inbox.waitFor((m) => m['type'] === 'response.create', 'the greeting response.create');
  first.send({ type: 'response.output_audio_transcript.done', transcript: 'Hello there.' });
  await waitFor('caller audio', () => first.appends > 20);
  first.close(1000, 'session expired');
  const second = await realtime.connection(calls);
  await second.inbox.waitFor((m) => m['type'] === 'session.update', 'session.update of the reopened session');
  await second.inbox.waitFor((m) => m['type'] === 'conversation.item.create', 'the conversation so far');
  await waitFor('caller audio on the reopened session', () => second.appends > 20, 3_000);
  const report = await call.done;
  assert.equal(report.endedBy, 'caller', report.endReason ?? '');
  assert.equal(second.inbox.count('response.create'), 0, 'the model waits for the caller');
});
