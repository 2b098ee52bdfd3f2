/**
 * A callee that answers before the dial's answer reaches the gateway: the
 * provider's media socket (on the dial's media id) and its `call.answered`
 * arrive first. The upgrade waits for the dial to settle and the webhooks are
 * replayed once the dial names the call (src/actors/DialsInFlight.ts), so the
 * call streams from its first frame. Real simulator, platform and gateway on
 * loopback; the platform's provider transport holds back the dial's answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { hookedProviderTransport } from '../helpers/providerHooks.js';
import { startStack, waitFor, type Stack } from '../helpers/stack.js';

/** How long the dial's answer is held back; the simulated callee answers after 20 ms of ringing. */
const DIAL_ANSWER_DELAY_MS = 600;
/** The callee's talk: some 2.4 s of stream after the held-back answer, enough for the echo check (the simulator's 5 s default cost CI 2 s a test). */
const TALK_MS = 3_000;

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`an outbound call answered before its dial's answer arrives (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    let slowDials = 0;
    /** Set by a test: upgrades forged on the dial's media id while its answer is held back. */
    let forge: ((mediaPath: string) => void) | null = null;
    before(async () => {
      stack = await startStack(
        { mediaSockets, workers: 1 },
        {
          sim: { ringMs: 20, outboundTalkMs: TALK_MS },
          platform: {
            provider: {
              transport: hookedProviderTransport({
                after: async (method, url, body) => {
                  if (method !== 'POST' || url.pathname !== '/v2/calls') return;
                  slowDials++;
                  forge?.(new URL((JSON.parse(body ?? '{}') as { stream_url: string }).stream_url).pathname);
                  await new Promise((resolve) => setTimeout(resolve, DIAL_ANSWER_DELAY_MS));
                },
              }),
            },
          },
        },
      );
    });
    after(() => stack.stop());

    it('the socket waits for the dial instead of being refused; the early call.answered is kept; the call streams and ends normally', async () => {
      const refusedBefore = stack.gateway.control.counters.mediaRefused;
      const placed = await stack.gateway.control.dial('+15557650123');
      assert.equal(slowDials, 1);
      const call = stack.sim.liveCall(placed.callId);
      assert.ok(call, 'the simulator has the dialled call');
      // The callee answered, and the provider began its media socket, while the dial's answer was held back.
      assert.equal(call.state, 'answered');
      await waitFor('the stream', () => call.summary().streamsOpened === 1, 3_000);
      await waitFor('echoed frames', () => call.summary().framesReturned > 10, 5_000);
      const record = stack.gateway.control.recentCalls(10).find((r) => r.call_control_id === placed.callId);
      assert.ok(record?.answered_at, 'the early call.answered was applied once the dial named the call');
      const report = await call.done;
      assert.equal(report.endedBy, 'callee', report.endReason ?? '');
      assert.equal(report.streamsOpened, 1, 'no second stream was needed');
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.equal(stack.gateway.control.counters.mediaRefused, refusedBefore, 'no media upgrade refused');
      assert.equal(stack.gateway.control.counters.streamRestarts, 0);
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
    });

    it('an upgrade forged on the media id of a dial in flight waits too, is refused once the dial settles, and burns nothing', async () => {
      const forged: Promise<number>[] = [];
      /** How long each forged upgrade waited for its answer, ms. */
      const waited: number[] = [];
      forge = (mediaPath) => {
        const forgedAt = performance.now();
        for (const token of ['', 'not-the-token']) {
          forged.push(
            new Promise((resolve) => {
              const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.tunnel}${mediaPath}`, token ? { headers: { 'x-telnyx-streaming-auth-token': token } } : {});
              ws.once('unexpected-response', (_req, res) => {
                res.resume();
                waited.push(performance.now() - forgedAt);
                resolve(res.statusCode ?? 0);
              });
              ws.once('open', () => {
                ws.terminate();
                resolve(101);
              });
              ws.once('error', () => resolve(0));
            }),
          );
        }
      };
      try {
        const placed = await stack.gateway.control.dial('+15557650124');
        assert.deepEqual(await Promise.all(forged), [401, 401], 'no token and a wrong token: refused');
        assert.ok(Math.min(...waited) >= DIAL_ANSWER_DELAY_MS - 100, `refused only once the dial settled (after ${waited.map((ms) => ms.toFixed(0)).join(', ')} ms)`);
        const call = stack.sim.liveCall(placed.callId);
        assert.ok(call);
        await waitFor('echoed frames on the real stream', () => call.summary().framesReturned > 10, 5_000);
        assert.equal(call.summary().streamsOpened, 1);
        await call.done;
        await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
      } finally {
        forge = null;
      }
    });
  });
}
