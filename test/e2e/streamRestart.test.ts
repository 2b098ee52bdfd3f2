/**
 * A media socket lost mid-call (a tunnel reconnect, say) is not the end of
 * the call: the gateway asks the provider, through the platform, for a new
 * stream with a fresh one-time token, and the call, its actor and its agent
 * session carry on. A stream the provider ends itself (`stop`, then the
 * hang-up) is never restarted; restarts are bounded, and a refused one ends
 * the call at once. Real simulator (whose `dropStream` breaks the socket
 * without a close frame), platform, gateway and worker threads on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { encodeWav } from '../../src/media/wav.js';
import { nodeHttpTransport } from '../../src/platform/providerTransport.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, TUNNEL_HOST, startStack, streamingCall, waitFor, withStack, type Stack } from '../helpers/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drops the call's stream and waits for the gateway's new one to carry frames back. */
async function dropAndResume(call: SimCall, streamsBefore: number): Promise<void> {
  const returnedAtDrop = call.summary().framesReturned;
  assert.equal(call.dropStream(), true, 'a stream to drop');
  await waitFor('a new stream', () => call.summary().streamsOpened === streamsBefore + 1, 5_000);
  await waitFor('frames echoed on the new stream', () => call.summary().framesReturned > returnedAtDrop + 10, 5_000);
}

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`a lost media stream is restarted (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    before(async () => {
      // A dialled callee talks 3 s, as the inbound call here does (the simulator's default is 5 s).
      stack = await startStack({ mediaSockets, workers: 1 }, { sim: { outboundTalkMs: 3_000 } });
    });
    after(() => stack.stop());

    it('the call goes on through a new stream; the echo keeps flowing and the call ends as the caller hangs up', async () => {
      const counters = stack.gateway.control.counters;
      const before = { restarts: counters.streamRestarts, failed: counters.streamRestartsFailed, mediaClosed: stack.gateway.control.ended['media_closed'] ?? 0 };
      const call = await streamingCall(stack, '+15550301001', 3_000);
      await dropAndResume(call, 1);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 2);
      assert.equal(report.streamsLost, 1);
      // Frames in flight at the drop are lost; the rest came back.
      assert.ok(report.framesReturned >= report.framesSent - 25, `returned ${report.framesReturned} of ${report.framesSent}`);
      // Each stream's audio is analysed on its own (src/sim/CallRecorder.ts): the lowest of them.
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.equal(counters.streamRestarts - before.restarts, 1);
      assert.equal(counters.streamRestartsFailed - before.failed, 0);
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
      assert.equal(stack.gateway.control.ended['media_closed'] ?? 0, before.mediaClosed, 'not ended for a closed stream');
      const record = stack.gateway.control.recentCalls(10).find((r) => r.call_control_id === call.id);
      assert.equal(record?.stream_restarts, 1, '`ttma calls` shows the restart');
      stack.gateway.dashboard.tick();
      const recent = stack.gateway.dashboard.state().recent.find((r) => r.what === 'media stream lost mid-call');
      assert.deepEqual(recent && { detail: recent.detail, count: recent.count }, { detail: 'restarted', count: 1 }, 'the dashboard lists it under recent events');
      const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
      assert.equal(metricValue(metrics, 'ttma_media_stream_restarts_asked_total', { reason: 'lost' }), counters.streamRestarts);
      assert.equal(metricValue(metrics, 'ttma_media_stream_restarts_total', { outcome: 'landed' }), counters.streamRestartsLanded);
      assert.equal(counters.streamRestartsLanded, counters.streamRestarts, 'every new stream landed');
      assert.equal(metricValue(metrics, 'ttma_media_stream_restarts_total', { outcome: 'refused' }), 0);
    });

    it('an outbound call (its first stream on a media id) gets its new stream under its call id', async () => {
      const placed = await stack.gateway.control.dial('+15557650099');
      const call = stack.sim.liveCall(placed.callId);
      assert.ok(call, 'the simulator has the dialled call');
      await waitFor('echoed frames', () => call.summary().framesReturned > 10, 5_000);
      await dropAndResume(call, 1);
      const report = await call.done;
      assert.equal(report.direction, 'outgoing');
      assert.equal(report.endedBy, 'callee', report.endReason ?? '');
      assert.equal(report.streamsOpened, 2);
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
    });

    it('a path gone silent both ways (half-open) is closed by the idle timeout and restarted; a quiet but live stream is kept', async () => {
      const counters = stack.gateway.control.counters;
      const before = counters.streamRestarts;
      const [quiet, stalled] = await Promise.all([streamingCall(stack, '+15550301101', 12_000), streamingCall(stack, '+15550301102', 12_000)]);
      const stalledAt = performance.now();
      // 10 s without a frame, past the 8 s timeout: only uWS's pings and their pongs keep it open.
      assert.equal(quiet.quietStream(10_000), true);
      assert.equal(stalled.stallStream(), true);
      await waitFor('the stalled call to get a new stream', () => stalled.summary().streamsOpened === 2, 14_000);
      const noticedAfterS = (performance.now() - stalledAt) / 1000;
      // MEDIA_IDLE_TIMEOUT_S is 8 in ticks of 4 s: closed 4 to 8 s after the last frame read.
      assert.ok(noticedAfterS >= 4 && noticedAfterS < 10, `restarted ${noticedAfterS.toFixed(1)} s after the stall`);
      const returned = stalled.summary().framesReturned;
      await waitFor('frames echoed on the new stream', () => stalled.summary().framesReturned > returned + 10, 5_000);
      const quietReturned = quiet.summary().framesReturned;
      await waitFor('the quiet call to talk again', () => quiet.summary().framesReturned > quietReturned + 10, 8_000);
      const [quietReport, stalledReport] = await Promise.all([quiet.done, stalled.done]);
      assert.equal(quietReport.streamsOpened, 1, 'the quiet stream was never closed');
      assert.equal(quietReport.endedBy, 'caller', quietReport.endReason ?? '');
      assert.equal(stalledReport.endedBy, 'caller', stalledReport.endReason ?? '');
      assert.equal(stalledReport.streamsLost, 1);
      assert.ok(stalledReport.echo.correlation >= 0.9, `echo correlation ${stalledReport.echo.correlation}`);
      assert.equal(counters.streamRestarts - before, 1, 'one restart: the stalled call\'s');
      await waitFor('the gateway to end the calls', () => stack.gateway.control.liveCalls === 0);
    });

    it('a call that ends normally (the provider sends stop, then hangs up) asks for no new stream', async () => {
      const before = stack.gateway.control.counters.streamRestarts;
      const calls = await Promise.all([0, 1, 2].map((i) => streamingCall(stack, `+1555030200${i}`, 800)));
      for (const report of await Promise.all(calls.map((c) => c.done))) {
        assert.equal(report.endedBy, 'caller', report.endReason ?? '');
        assert.equal(report.streamsOpened, 1);
      }
      await waitFor('the gateway to end the calls', () => stack.gateway.control.liveCalls === 0);
      await sleep(200);
      assert.equal(stack.gateway.control.counters.streamRestarts, before);
    });
  });
}

describe('stream restarts are bounded, and a refused one ends the call', () => {
  let stack: Stack;
  /** The platform's provider transport refuses streaming_start while set. */
  let refuseStreamingStart = false;
  before(async () => {
    stack = await startStack(
      { workers: 1 },
      {
        platform: {
          provider: {
            maxAttempts: 1,
            transport: (base, max) => {
              const inner = nodeHttpTransport(base, max);
              return {
                request: (method, url, headers, body, timeoutMs) =>
                  refuseStreamingStart && url.pathname.endsWith('/actions/streaming_start')
                    ? Promise.resolve({ status: 500, text: '{"errors":[{"code":"10000","title":"Internal error"}]}' })
                    : inner.request(method, url, headers, body, timeoutMs),
                close: () => inner.close(),
              };
            },
          },
        },
      },
    );
  });
  after(() => stack.stop());

  it('after three losses restarted, a fourth loss is not restarted and the call ends as an orphan', async () => {
    const control = stack.gateway.control;
    const mediaClosed = control.ended['media_closed'] ?? 0;
    const call = await streamingCall(stack, '+15550303001', 30_000);
    for (let i = 1; i <= 3; i++) await dropAndResume(call, i);
    assert.equal(call.dropStream(), true);
    const report = await call.done;
    assert.equal(report.endedBy, 'gateway', 'the gateway hung up the call it could no longer carry');
    assert.equal(report.streamsOpened, 4);
    assert.equal(report.streamsLost, 4);
    assert.ok(report.cdr.duration_ms < 15_000, `ended ${report.cdr.duration_ms} ms in, well before the caller would have`);
    await waitFor('the gateway to end the call', () => control.liveCalls === 0);
    assert.equal((control.ended['media_closed'] ?? 0) - mediaClosed, 1);
  });

  it('a new stream the provider refuses ends the call at once, and the token minted for it is revoked', async () => {
    const control = stack.gateway.control;
    const failed = control.counters.streamRestartsFailed;
    const call = await streamingCall(stack, '+15550303002', 30_000);
    refuseStreamingStart = true;
    try {
      const droppedAt = Date.now();
      assert.equal(call.dropStream(), true);
      const report = await call.done;
      assert.equal(report.endedBy, 'gateway');
      assert.equal(report.streamsOpened, 1);
      assert.ok(Date.now() - droppedAt < 4_000, 'ended before the orphan grace ran out');
      assert.equal(control.counters.streamRestartsFailed - failed, 1);
      assert.equal(control.hasPendingMediaToken(call.id), false, 'no token left for the ended call');
    } finally {
      refuseStreamingStart = false;
    }
  });
});

describe('a restarted stream that lands on another worker moves the call there', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ mediaSockets: 'worker', workers: 2 });
  });
  after(() => stack.stop());

  it('the call goes on, on the worker that holds its new socket', async () => {
    const calls: SimCall[] = [];
    for (let i = 0; i < 10; i++) calls.push(await streamingCall(stack, `+155503040${String(i).padStart(2, '0')}`, 8_000));
    const workerOf = () => new Map(stack.gateway.control.snapshot().map((c) => [c.callId, c.worker]));
    const first = workerOf();
    // The kernel hashes each new connection to one of the two listeners: a round of 10 restarts
    // all landing where they were has odds of 1 in 1,024; three rounds, 1 in 2^30.
    let moved: SimCall[] = [];
    for (let round = 1; round <= 3 && moved.length === 0; round++) {
      for (const call of calls) await dropAndResume(call, round);
      const now = workerOf();
      moved = calls.filter((c) => now.get(c.id) !== first.get(c.id));
    }
    assert.ok(moved.length > 0, 'some call moved to the other worker');
    const reports = await Promise.all(calls.map((c) => c.done));
    for (const report of reports) {
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation} of ${report.callId}`);
    }
    await waitFor('the gateway to end the calls', () => stack.gateway.control.liveCalls === 0);
    assert.equal(stack.gateway.control.ended['media_closed'] ?? 0, 0);
    assert.equal(stack.gateway.control.counters.streamRestartsFailed, 0);
  });
});

describe('a restarted stream does not greet the caller again', () => {
  let stack: Stack;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-restart-greeting-'));
    const file = join(dir, 'greeting.wav');
    // 600 ms of speech-like audio: what a caller who says nothing hears of the gateway.
    await writeFile(file, encodeWav(new SpeechLikeSignal(8000, 3).next(4800), 8000));
    stack = await startStack({ mediaSockets: 'worker', workers: 2, greetingFile: file });
  });
  after(async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('neither on the same worker nor on the other one', async () => {
    const calls = Array.from({ length: 6 }, (_, i) => stack.sim.placeInboundCall({ from: `+155503050${i}0`, to: NUMBER, durationMs: 6_000, talk: [] }));
    await waitFor('the greetings to play', () => calls.every((c) => c.summary().heard.soundMs >= 560), 5_000);
    const workerOf = () => new Map(stack.gateway.control.snapshot().map((c) => [c.callId, c.worker]));
    const first = workerOf();
    let moved = 0;
    // A restart lands on the other worker with odds of one in two: rounds until some call moved.
    for (let round = 1; round <= 3 && moved === 0; round++) {
      for (const call of calls) {
        assert.equal(call.dropStream(), true);
        await waitFor('a new stream', () => call.summary().streamsOpened === round + 1, 5_000);
      }
      const now = workerOf();
      moved = calls.filter((c) => now.get(c.id) !== first.get(c.id)).length;
    }
    assert.ok(moved > 0, 'some call moved to the other worker');
    for (const report of await Promise.all(calls.map((c) => c.done))) {
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.ok(report.heard.soundMs >= 560 && report.heard.soundMs < 900, `${report.callId}: heard ${report.heard.soundMs} ms of sound, one greeting`);
    }
  });
});

describe('a stream that cannot connect yet (the tunnel is reconnecting) is asked for again', () => {
  it('the answer\'s own stream too: a call answered while the tunnel is down gets its stream once it is back', async () => {
    await withStack({ workers: 1 }, { sim: { onStreamFailure: 'continue' } }, async (stack) => {
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      const call = stack.sim.placeInboundCall({ from: '+15550306101', to: NUMBER, durationMs: 2_000 });
      await waitFor('the answer\'s stream to fail', () => stack.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'answered'), 5_000);
      await sleep(200);
      stack.sim.setTunnelDown(TUNNEL_HOST, false);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 1, 'the retried stream is the first that connected');
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.equal(stack.gateway.control.counters.streamRestartsLanded, 1);
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
    });
  });

  it('a tunnel down for 4 s (a cloudflared restart): the gateway keeps asking, every 2 s at most, and the call comes back', async () => {
    await withStack({ workers: 1 }, { sim: { onStreamFailure: 'continue' } }, async (stack) => {
      const call = await streamingCall(stack, '+15550306201', 9_000);
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      assert.equal(call.dropStream(), true);
      const downAt = performance.now();
      await sleep(4_000);
      const askedWhileDown = stack.gateway.control.counters.streamRestarts;
      stack.sim.setTunnelDown(TUNNEL_HOST, false);
      await waitFor('the new stream', () => call.summary().streamsOpened === 2, 5_000);
      const backAfterS = (performance.now() - downAt) / 1000;
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      // Asked at 0, 0.5, 1.5, 3.5 s while down: 4 or 5 requests, not a flood.
      assert.ok(askedWhileDown >= 3 && askedWhileDown <= 5, `asked ${askedWhileDown} times while the tunnel was down`);
      assert.ok(backAfterS < 6.5, `back ${backAfterS.toFixed(1)} s after the tunnel went down (it was down 4 s; retries every 2 s at most)`);
      const record = stack.gateway.control.recentCalls(10).find((r) => r.call_control_id === call.id);
      assert.equal(record?.stream_restarts, stack.gateway.control.counters.streamRestarts);
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
    });
  });

  it('a tunnel that stays down: the call ends within 10 s of the loss, with no request after that', async () => {
    await withStack({ workers: 1 }, { sim: { onStreamFailure: 'continue' } }, async (stack) => {
      const call = await streamingCall(stack, '+15550306202', 20_000);
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      assert.equal(call.dropStream(), true);
      const downAt = performance.now();
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0, 14_000);
      const endedAfterS = (performance.now() - downAt) / 1000;
      assert.ok(endedAfterS >= 9 && endedAfterS < 11.5, `ended ${endedAfterS.toFixed(1)} s after the loss`);
      // The last request that could land in time failed: the call ends then, as a failed stream.
      assert.equal(stack.gateway.control.ended['streaming_failed'], 1, JSON.stringify(stack.gateway.control.ended));
      const asked = stack.gateway.control.counters.streamRestarts;
      assert.ok(asked >= 5 && asked <= 7, `asked ${asked} times in 10 s`);
      await sleep(2_500);
      assert.equal(stack.gateway.control.counters.streamRestarts, asked, 'nothing asked after the end');
      assert.equal(stack.gateway.control.hasPendingMediaToken(call.id), false);
      const report = await call.done;
      assert.equal(report.endedBy, 'gateway');
    });
  });

  for (const onStreamFailure of ['continue', 'hangup'] as const) {
    it(`the provider ${onStreamFailure === 'continue' ? 'keeps the call after a failed stream: the retry lands once the tunnel is back' : 'ends the call after a failed stream: so does the gateway, as before'}`, async () => {
      await withStack({ workers: 1 }, { sim: { onStreamFailure } }, async (stack) => {
        const call = await streamingCall(stack, '+15550306001', 6_000);
        // cloudflared restarting: the socket goes and, for a while, no new connection gets through.
        stack.sim.setTunnelDown(TUNNEL_HOST, true);
        assert.equal(call.dropStream(), true);
        await waitFor('the first new stream to fail', () => stack.gateway.control.counters.streamRestarts >= 1, 5_000);
        await sleep(300);
        stack.sim.setTunnelDown(TUNNEL_HOST, false);
        const report = await call.done;
        const control = stack.gateway.control;
        if (onStreamFailure === 'continue') {
          assert.equal(report.endedBy, 'caller', report.endReason ?? '');
          assert.equal(report.streamsOpened, 2, 'the retry connected');
          assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
          assert.equal(control.counters.streamRestarts, 2, 'one failed connect, one retry');
          assert.deepEqual(control.streamRestartsAsked, { lost: 1, not_connected: 1 });
          assert.equal(control.counters.streamRestartsLanded, 1);
        } else {
          assert.equal(report.endedBy, 'stream_failed');
          assert.equal(report.streamsOpened, 1);
        }
        await waitFor('the gateway to end the call', () => control.liveCalls === 0);
        assert.equal(control.hasPendingMediaToken(call.id), false);
      });
    });
  }
});
