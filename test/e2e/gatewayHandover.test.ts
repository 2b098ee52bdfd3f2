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
