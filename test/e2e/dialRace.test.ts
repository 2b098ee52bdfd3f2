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
import { nodeHttpTransport } from '../../src/platform/providerTransport.js';
import { startStack, waitFor, type Stack } from '../helpers/stack.js';

/** How long the dial's answer is held back; the simulated callee answers after 20 ms of ringing. */
const DIAL_ANSWER_DELAY_MS = 600;

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`an outbound call answered before its dial's answer arrives (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    /** Media id paths the provider connected to before the gateway knew the call. */
    let slowDials = 0;
    before(async () => {
      stack = await startStack(
        { mediaSockets, workers: 1 },
        {
          sim: { ringMs: 20 },
          platform: {
            provider: {
              transport: (base, max) => {
                const inner = nodeHttpTransport(base, max);
                return {
                  request: async (method, url, headers, body, timeoutMs) => {
                    const response = await inner.request(method, url, headers, body, timeoutMs);
                    if (method === 'POST' && url.pathname === '/v2/calls') {
                      slowDials++;
                      await new Promise((resolve) => setTimeout(resolve, DIAL_ANSWER_DELAY_MS));
                    }
                    return response;
                  },
                  close: () => inner.close(),
                };
              },
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
  });
}
