/**
 * The generic `ws` adapter end to end through simulator, platform and
 * gateway: first audio, gateway-side barge-in (minimum speech duration),
 * DTMF both ways, hang-up, transfer and outbound calls through the
 * platform's allowlists.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { sleep, tone, WsAgentTestServer } from './servers.js';

const RATE = 16_000;
let stack: Stack;
let agent: WsAgentTestServer;

before(async () => {
  agent = new WsAgentTestServer(RATE);
  const url = await agent.start();
  stack = await startStack({ agent: { kind: 'ws', url, token: 'ws-agent-token', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } }, bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } });
  stack.sim.outboundTalk = [];
});

after(async () => {
  await stack.stop();
  await agent.stop();
});

test('ws: hello and ready, first audio within 150 ms, a 100 ms blip does not interrupt, real speech barges in with the heard point', async () => {
  const from = '+15550201001';
  // Caller: a 100 ms blip (under the 200 ms minimum), then talks over the agent from 1.2 s.
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 3_000, talk: [{ atMs: 300, ms: 100 }, { atMs: 1_200, ms: 800 }] });
  const conn = await agent.connectionFor(from);
  const hello = (await conn.inbox.waitFor((m) => m['type'] === 'hello', 'hello')).msg;
  assert.equal(conn.authorization, 'Bearer ws-agent-token');
  assert.equal(hello['call'].direction, 'incoming');
  assert.deepEqual(hello['sample_rates'], [16000, 24000, 8000]);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  const firstSent = await conn.audio(RATE, tone(RATE, 2_500), 100, false);
  const bargeIn = (await conn.inbox.waitFor((m) => m['type'] === 'barge_in', 'barge_in', 4_000)).msg;
  const report = await call.done;
  assert.ok(conn.callerBytes > 0, 'caller audio reached the agent as binary PCM');
  const firstMs = report.heard.firstSoundAtMs! - firstSent;
  assert.ok(firstMs < 150, `first audio ${firstMs.toFixed(1)} ms after the agent sent it`);
  assert.equal(report.heard.clears.length, 1, 'the blip did not interrupt; the real speech did, once');
  const clear = report.heard.clears[0]!;
  // Speech starts at 1.2 s of caller media; the detector needs 200 ms of it.
  assert.ok(clear.soundMsBefore >= 1_000 && clear.soundMsBefore < 1_700, `cleared after ${clear.soundMsBefore} ms of agent audio`);
  assert.ok(Math.abs(bargeIn['heard_ms'] - clear.soundMsBefore) <= 40, `agent told ${bargeIn['heard_ms']} ms heard, the caller heard ${clear.soundMsBefore} ms`);
  assert.equal(report.heard.soundMs, clear.soundMsBefore, 'nothing of the dropped audio reached the caller');
});

test('ws: marks come back as their audio plays; barge-in reports the played ones and drops the rest', async () => {
  const from = '+15550201005';
  // The caller talks over the agent from 1.2 s.
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 3_000, talk: [{ atMs: 1_200, ms: 800 }] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  conn.send({ type: 'mark', name: 'before-any-audio' });
  // 310 ms: the mark lands inside a 20 ms frame, which it must follow.
  const firstSent = await conn.audio(RATE, tone(RATE, 310), 10, false);
  conn.send({ type: 'mark', name: 'early' });
  conn.send({ type: 'mark', name: 'x'.repeat(65) }); // refused: too long
  conn.send({ type: 'mark', name: 'bad\nname' }); // refused: control character
  await conn.audio(RATE, tone(RATE, 2_500), 100, false);
  conn.send({ type: 'mark', name: 'late' });
  const first = (await conn.inbox.waitFor((m) => m['type'] === 'mark', 'first mark', 2_000)).msg;
  assert.equal(first['name'], 'before-any-audio');
  const early = await conn.inbox.waitFor((m) => m['type'] === 'mark' && m['name'] === 'early', 'early mark', 2_000);
  const bargeIn = (await conn.inbox.waitFor((m) => m['type'] === 'barge_in', 'barge_in', 4_000)).msg;
  const report = await call.done;
  // Played, not merely queued: 310 ms of audio (320 ms in whole frames) went out in real time first.
  assert.ok(early.at - firstSent >= 300, `early mark back ${(early.at - firstSent).toFixed(0)} ms after the audio began`);
  assert.deepEqual(bargeIn['played_marks'], ['before-any-audio', 'early']);
  assert.deepEqual(bargeIn['dropped_marks'], ['late']);
  const marks = conn.inbox.messages.filter((m) => m.msg['type'] === 'mark').map((m) => m.msg['name']);
  assert.deepEqual(marks, ['before-any-audio', 'early'], 'each played mark reported once; dropped and refused ones never');
  assert.equal(report.heard.clears.length, 1);
});

test('ws: DTMF both ways, and the agent hangs up after its last words have played', async () => {
  const from = '+15550201002';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 8_000, talk: [], dtmf: [{ atMs: 200, digit: '7' }] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'dtmf' && m['digit'] === '7', 'the caller\'s key press');
  conn.send({ type: 'dtmf', digits: '12#' });
  await conn.audio(RATE, tone(RATE, 600), 200, false);
  conn.send({ type: 'hangup', reason: 'goodbye' });
  const report = await call.done;
  assert.equal(report.dtmfReceived, '12#');
  assert.equal(report.endedBy, 'gateway', report.endReason);
  assert.ok(report.heard.soundMs >= 580, `heard ${report.heard.soundMs} of 600 ms before the hang-up`);
});

test('ws: a 7 s reply sent at once (faster than real time) is heard whole, from its start', async () => {
  const from = '+15550201006';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 12_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  await conn.audio(RATE, tone(RATE, 7_000), 100, false);
  conn.send({ type: 'hangup', reason: 'said it all' });
  const report = await call.done;
  assert.equal(report.endedBy, 'gateway', report.endReason);
  // Before: the queue toward the phone kept 5 s and dropped the oldest, so the caller heard the last 5 s.
  assert.ok(report.heard.soundMs >= 6_900, `heard ${report.heard.soundMs} of 7,000 ms`);
});

test('ws: transfer to an allowed number goes through the platform; a premium-rate number is refused and the call goes on', async () => {
  const from = '+15550201003';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 8_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  conn.send({ type: 'transfer', to: '+19005550100' });
  const refused = (await conn.inbox.waitFor((m) => m['type'] === 'result' && m['request'] === 'transfer', 'the refusal')).msg;
  assert.equal(refused['ok'], false);
  assert.match(refused['detail'], /TTMA_ERR_DESTINATION_REFUSED/);
  assert.equal(stack.sim.liveCall(call.id)?.isAlive, true, 'the call is still up');
  conn.send({ type: 'transfer', to: '+15550300002' });
  // The stream ends at the bridge: the agent gets `stop` (docs/agent-protocols.md).
  await conn.inbox.waitFor((m) => m['type'] === 'stop', 'stop at the bridge');
  const report = await call.done;
  assert.equal(report.transferredTo, '+15550300002');
  // As Telnyx does, the simulator dials a new leg and bridges the caller to it; the pair ends when
  // that leg's callee hangs up, not when the gateway's stream stops (the gateway does not hang up).
  assert.equal(call.bridged, true, 'bridged to the new leg');
  assert.equal(report.endedBy, 'callee', report.endReason);
});

test('ws: the agent places an outbound call through the platform with its own number; a forbidden destination is refused', async () => {
  const from = '+15550201004';
  const call = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 4_000, talk: [] });
  const conn = await agent.connectionFor(from);
  await conn.inbox.waitFor((m) => m['type'] === 'start', 'start');
  conn.send({ type: 'dial', to: '+19765550100' });
  const refused = (await conn.inbox.waitFor((m) => m['type'] === 'result' && m['request'] === 'dial', 'the dial refusal')).msg;
  assert.equal(refused['ok'], false);
  assert.match(refused['detail'], /TTMA_ERR_DESTINATION_REFUSED/);

  conn.send({ type: 'dial', to: '+15550300001' });
  const placed = (await conn.inbox.waitFor((m) => m['type'] === 'result' && m['request'] === 'dial' && m['ok'] === true, 'the dial result')).msg;
  const outboundId = placed['detail'] as string;
  // The callee's leg gets its own agent session, warm while it rings.
  const calleeConn = await agent.connectionFor('+15550300001');
  const hello = (await calleeConn.inbox.waitFor((m) => m['type'] === 'hello', 'hello')).msg;
  assert.equal(hello['call'].direction, 'outgoing');
  assert.equal(hello['call'].id, outboundId);
  assert.equal(hello['call'].from, NUMBER, 'placed with the deployment\'s own number');
  await calleeConn.inbox.waitFor((m) => m['type'] === 'start', 'the outbound stream started');
  await calleeConn.audio(RATE, tone(RATE, 300), 100, false);
  const record = (await stack.platform.calls.ownerOf(outboundId));
  assert.equal(record?.deploymentId, 'test', 'the platform locked the outbound call to this deployment');
  await waitFor('the callee to hear the agent', () => (stack.sim.callSummary(outboundId)?.framesReturned ?? 0) > 0);
  stack.sim.liveCall(outboundId)?.hangup(undefined);
  await call.done;
  await sleep(100);
});
