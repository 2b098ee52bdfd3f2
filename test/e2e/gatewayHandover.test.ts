/**
 * A gateway restart does not drop the calls: a gateway stopped with
 * `onStop: handover` leaves its live calls up at the provider, and the next
 * gateway process takes them over at the platform's first hello (the
 * platform lists the deployment's answered calls, each gets a new stream
 * with a fresh one-time token and a new agent session without the
 * greeting). The call's usage is reported once, by the process that saw it
 * end, for the whole call, and matches the provider's figure. Real
 * simulator, platform, two gateways one after the other, worker threads.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Gateway } from '../../src/Gateway.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { encodeWav } from '../../src/media/wav.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { DEFAULT_BARGE_IN } from '../../src/agent/agentConfig.js';
import { RealtimeTestServer, WsAgentTestServer, realtimeTestConfig } from '../agents/servers.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { NUMBER, startStack, streamingCall, waitFor, type Stack } from '../helpers/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`a restarted gateway takes over the live calls (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    let next: Gateway | null = null;
    before(async () => {
      stack = await startStack({ mediaSockets, workers: 2, onStop: 'handover' });
    });
    after(async () => {
      await next?.stop();
      await stack.stop();
    });

    it('every call carries on through the next process, its echo flowing, and ends once with its whole duration', async () => {
      const calls: SimCall[] = [];
      for (let i = 0; i < 4; i++) calls.push(await streamingCall(stack, `+1555040100${i}`, 6_000));
      await stack.gateway.stop();
      assert.equal(stack.gateway.control.ended['handover'], 4);
      assert.equal(stack.gateway.control.ended['hangup'] ?? 0, 0);
      // The calls are still up at the provider, without a stream.
      await waitFor('the streams to close', () => calls.every((c) => c.summary().streamsOpened === 1 && c.state === 'answered'), 2_000);
      const returnedAtStop = calls.map((c) => c.summary().framesReturned);
      await sleep(300);
      next = new Gateway({ ...stack.gateway.config, onStop: 'hangup' }, stack.logger);
      await next.start();
      await waitFor('the calls to be taken over', () => next!.control.counters.callsAdopted === 4, 5_000);
      await waitFor('new streams', () => calls.every((c) => c.summary().streamsOpened === 2), 5_000);
      await waitFor('frames echoed on the new streams', () => calls.every((c, i) => c.summary().framesReturned > returnedAtStop[i]! + 10), 5_000);
      assert.equal(next.control.counters.streamRestartsLanded, 4);
      const records = next.control.recentCalls(10);
      for (const call of calls) {
        const record = records.find((r) => r.call_control_id === call.id);
        assert.equal(record?.taken_over, true, '`ttma calls` shows the takeover');
        assert.ok(record && record.started_at < record.answered_at!, 'the call\'s own start, from the platform');
      }
      for (const report of await Promise.all(calls.map((c) => c.done))) {
        assert.equal(report.endedBy, 'caller', report.endReason ?? '');
        assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      }
      await waitFor('the next process to end the calls', () => next!.control.liveCalls === 0);
      assert.equal(next.control.ended['hangup'], 4, JSON.stringify(next.control.ended));
      // One usage report a call, from the process that saw it end, for the whole call: no review flag.
      await waitFor('the provider figures', async () => {
        const entries = await Promise.all(calls.map((c) => stack.platform.ledger.get('test', c.id)));
        return entries.every((e) => typeof e?.providerMs === 'number' && typeof e.gatewayMs === 'number');
      }, 5_000);
      for (const call of calls) {
        const entry = await stack.platform.ledger.get('test', call.id);
        assert.deepEqual(entry?.flags, [], `${call.id}: gateway ${entry?.gatewayMs} ms, provider ${entry?.providerMs} ms`);
      }
    });
  });
}

describe('a taken-over call is not greeted again, and a process that is full hangs up what it cannot carry', () => {
  let stack: Stack;
  let next: Gateway | null = null;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-handover-greeting-'));
    const file = join(dir, 'greeting.wav');
    // 600 ms of speech-like audio: what a caller who says nothing hears of the gateway.
    await writeFile(file, encodeWav(new SpeechLikeSignal(8000, 3).next(4800), 8000));
    stack = await startStack({ workers: 1, greetingFile: file, onStop: 'handover' });
  });
  after(async () => {
    await next?.stop();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the greeting plays once; the call beyond maxCalls is hung up', async () => {
    const calls = Array.from({ length: 3 }, (_, i) => stack.sim.placeInboundCall({ from: `+155504020${i}0`, to: NUMBER, durationMs: 5_000, talk: [] }));
    await waitFor('the greetings to play', () => calls.every((c) => c.summary().heard.soundMs >= 560), 5_000);
    await stack.gateway.stop();
    next = new Gateway({ ...stack.gateway.config, maxCalls: 2, onStop: 'hangup' }, stack.logger);
    await next.start();
    await waitFor('the calls to be taken over', () => next!.control.counters.callsAdopted + next!.control.counters.callsAdoptionRefused === 3, 5_000);
    assert.equal(next.control.counters.callsAdopted, 2);
    assert.equal(next.control.counters.callsAdoptionRefused, 1);
    const reports = await Promise.all(calls.map((c) => c.done));
    const refused = reports.filter((r) => r.endedBy !== 'caller');
    assert.equal(refused.length, 1, 'one call hung up by the gateway');
    for (const report of reports.filter((r) => r.endedBy === 'caller')) {
      assert.equal(report.streamsOpened, 2);
      assert.ok(report.heard.soundMs >= 560 && report.heard.soundMs < 900, `${report.callId}: heard ${report.heard.soundMs} ms of sound, one greeting`);
    }
  });
});

describe('the agent of a taken-over call is told the call is under way', () => {
  it('ws: the new session\'s hello says resumed; realtime: the model does not speak first again', async () => {
    // Each test server is started as soon as it is made (start() waits for its 'listening').
    const ws = new WsAgentTestServer(16_000);
    const wsUrl = await ws.start();
    const realtime = new RealtimeTestServer();
    const realtimeUrl = await realtime.start();
    const wsStack = await startStack({ workers: 1, onStop: 'handover', agent: { kind: 'ws', url: wsUrl, token: '', bargeIn: DEFAULT_BARGE_IN } });
    const rtStack = await startStack({
      workers: 1,
      onStop: 'handover',
      agent: realtimeTestConfig(realtimeUrl),
    });
    const nexts: Gateway[] = [];
    try {
      const wsCall = wsStack.sim.placeInboundCall({ from: '+15550403001', to: NUMBER, durationMs: 4_000, talk: [] });
      const rtCall = rtStack.sim.placeInboundCall({ from: '+15550403002', to: NUMBER, durationMs: 4_000, talk: [] });
      const first = await ws.connectionFor('+15550403001');
      assert.equal((await first.inbox.waitFor((m) => m['type'] === 'hello', 'hello')).msg['call'].resumed, undefined);
      await first.inbox.waitFor((m) => m['type'] === 'start', 'start');
      const rtFirst = await realtime.connection(0);
      await rtFirst.inbox.waitFor((m) => m['type'] === 'response.create', 'the greeting response.create');
      await waitFor('both calls streaming', () => wsCall.summary().framesSent > 10 && rtCall.summary().framesSent > 10, 5_000);
      for (const stack of [wsStack, rtStack]) {
        await stack.gateway.stop();
        const next = new Gateway({ ...stack.gateway.config, onStop: 'hangup' }, stack.logger);
        nexts.push(next);
        await next.start();
      }
      await waitFor('new streams', () => wsCall.summary().streamsOpened === 2 && rtCall.summary().streamsOpened === 2, 5_000);
      await waitFor('a second ws session', () => ws.connections.length === 2, 5_000);
      const hello = (await ws.connections[1]!.inbox.waitFor((m) => m['type'] === 'hello', 'hello')).msg;
      assert.equal(hello['call'].id, wsCall.id, 'the same call id');
      assert.equal(hello['call'].resumed, true);
      assert.deepEqual(hello['sample_rates'], [16000, 24000, 8000], 'a new actor: any rate may be chosen');
      await ws.connections[1]!.inbox.waitFor((m) => m['type'] === 'start', 'start: media flows again');
      const rtSecond = await realtime.connection(1);
      await rtSecond.inbox.waitFor((m) => m['type'] === 'session.update', 'session.update');
      await waitFor('caller audio on the new session', () => rtSecond.appends > 5, 5_000);
      assert.equal(rtSecond.inbox.messages.filter((m) => m.msg['type'] === 'response.create').length, 0, 'no greeting response');
      await Promise.all([wsCall.done, rtCall.done]);
    } finally {
      for (const next of nexts) await next.stop();
      await wsStack.stop();
      await rtStack.stop();
      await ws.stop();
      await realtime.stop();
    }
  });
});

describe('a live-call list the platform refuses at first is asked for again', () => {
  it('the platform paces the list (its budget and the deployment\'s spent): the gateway asks again 2 s later and takes the call over', async () => {
    const stack = await startStack({ workers: 1, onStop: 'handover' }, { platform: { rateLimit: { ratePerSec: 0.5, burst: 3 } } });
    let next: Gateway | null = null;
    try {
      const call = await streamingCall(stack, '+15550404001', 9_000);
      await stack.gateway.stop();
      // Spend the list's own budget and the deployment's bucket.
      const list = () => fetch(`http://127.0.0.1:${stack.ports.platform}${PLATFORM_PATHS.liveCalls}`, { headers: { authorization: `Bearer ${stack.agentSecret}`, 'x-ttma-deployment': 'test' } });
      for (let i = 0; i < 10 && (await list()).status !== 429; i++);
      assert.equal((await list()).status, 429);
      next = new Gateway({ ...stack.gateway.config, onStop: 'hangup' }, stack.logger);
      const startedAt = Date.now();
      await next.start();
      await waitFor('the call to be taken over', () => next!.control.counters.callsAdopted === 1, 8_000);
      const tookMs = Date.now() - startedAt;
      assert.ok(tookMs >= 1_500, `taken over ${tookMs} ms after the start: not at the first ask`);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 2);
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });
});

describe('a call that rings while no gateway is up is answered by the next one', () => {
  it('the platform keeps its call.initiated; the next process finds it ringing in the live list and answers it', async () => {
    const stack = await startStack({ workers: 1 }, { sim: { answerTimeoutMs: 8_000 } });
    let next: Gateway | null = null;
    try {
      await stack.gateway.stop();
      const delivered = stack.sim.webhookStats!.delivered;
      const failed = stack.sim.webhookStats!.failed;
      const call = stack.sim.placeInboundCall({ from: '+15550405001', to: NUMBER, durationMs: 3_000 });
      // The platform took the event; the stopped gateway's copy failed every attempt.
      await waitFor('the gateway\'s copy of call.initiated to fail', () => stack.sim.webhookStats!.failed > failed, 5_000);
      assert.equal(stack.sim.webhookStats!.delivered, delivered + 1, 'the platform\'s copy');
      const record = await stack.platform.calls.get(call.id);
      assert.equal(record?.state, 'initiated');
      assert.equal(call.state, 'parked', 'ringing at the provider, nobody answering');

      next = new Gateway(stack.gateway.config, stack.logger);
      await next.start();
      await waitFor('the ringing call to be answered', () => next!.control.counters.callsRingingAnswered === 1, 5_000);
      assert.equal(next.control.counters.callsAdopted, 0, 'not an answered call');
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 1);
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      const recent = next.control.recentCalls(5).find((r) => r.call_control_id === call.id);
      assert.equal(recent?.taken_over, false, 'a new call for this process, answered by it');
      assert.equal(recent?.state, 'ended');
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });

  it('a ringing call found both in the list and in a late webhook is answered once', async () => {
    const stack = await startStack({ workers: 1 }, { sim: { answerTimeoutMs: 8_000, webhookAttempts: 8, webhookBackoffMs: [400] } });
    let next: Gateway | null = null;
    try {
      await stack.gateway.stop();
      const delivered = stack.sim.webhookStats!.delivered;
      const call = stack.sim.placeInboundCall({ from: '+15550405002', to: NUMBER, durationMs: 3_000 });
      await waitFor('the platform\'s record', async () => (await stack.platform.calls.get(call.id))?.state === 'initiated', 5_000);
      next = new Gateway(stack.gateway.config, stack.logger);
      await next.start();
      // The provider's retries reach the new process too (their backoff is 400 ms).
      await waitFor('the retried call.initiated to reach the new process', () => stack.sim.webhookStats!.delivered >= delivered + 2, 5_000);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 1, 'one answer, one stream');
      assert.equal(next.control.counters.mediaRefused, 0);
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });
});

describe('a dial still ringing when its gateway stops is carried by the next one once answered', () => {
  it('the stream the earlier process asked for is refused here; its streaming.failed makes the new process take the call over', async () => {
    // `continue`: the call outlives a stream that could not connect (Telnyx does not say which it does).
    const stack = await startStack({ workers: 1, onStop: 'handover' }, { sim: { ringMs: 1_500, onStreamFailure: 'continue' } });
    let next: Gateway | null = null;
    try {
      const placed = await stack.gateway.control.dial('+15557650201');
      const call = stack.sim.liveCall(placed.callId)!;
      assert.equal(call.state, 'ringing');
      await stack.gateway.stop();
      next = new Gateway({ ...stack.gateway.config, onStop: 'hangup' }, stack.logger);
      await next.start();
      assert.equal(await next.control.adoptLiveCalls(), 0, 'at start the dial still rings: nothing to take over');
      assert.equal(call.state, 'ringing');
      await waitFor('the callee to answer and the call to be taken over', () => next!.control.counters.callsAdopted === 1, 6_000);
      await waitFor('echoed frames on the new stream', () => call.summary().framesReturned > 10, 5_000);
      const report = await call.done;
      assert.equal(report.direction, 'outgoing');
      assert.equal(report.endedBy, 'callee', report.endReason ?? '');
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.ok(next.control.counters.mediaRefused >= 1, 'the earlier process\'s stream (its token) was refused here');
      const record = next.control.recentCalls(5).find((r) => r.call_control_id === call.id);
      assert.equal(record?.taken_over, true);
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });
});
