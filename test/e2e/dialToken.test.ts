/**
 * The one-time media tokens of a dialled call (FAQ-07; docs/control.md, "A
 * media socket lost mid-call"). The dial's stream runs on a media id the
 * gateway chose (`/v1/media/<media id>`, the provider names the call only in
 * the dial's answer); a new stream runs on `/v1/media/<call id>`. Real
 * simulator, platform and gateway on loopback, both socket layouts; the
 * platform's provider transport shows the tokens the provider was handed, and
 * the test plays the provider's socket with them.
 *
 * Before, the dial's token was kept under the media id and a new stream's
 * under the call id: a stream landing with one left the other valid, so after
 * that stream was lost, a token of an earlier round still opened the call.
 * And the dial's token expired 30 s after the dial was sent, while the
 * callee may ring for minutes: a call answered later had its first stream
 * refused (`expired`) and cost a stream loss to recover.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { nodeHttpTransport } from '../../src/platform/providerTransport.js';
import { TUNNEL_HOST, startStack, waitFor, type Stack } from '../helpers/stack.js';

const TOKEN_HEADER = 'x-telnyx-streaming-auth-token';

interface Handed {
  path: string;
  token: string;
}

/** A stack whose provider transport records each stream the platform asks the provider for. */
async function recordingStack(mediaSockets: 'worker' | 'front', ringMs: number, ttlMs?: number): Promise<{ stack: Stack; handed: Handed[] }> {
  const handed: Handed[] = [];
  const stack = await startStack(
    { mediaSockets, workers: 1, ...(ttlMs === undefined ? {} : { mediaTokenTtlMs: ttlMs }) },
    {
      sim: { ringMs, onStreamFailure: 'continue' },
      platform: {
        provider: {
          transport: (base, max) => {
            const inner = nodeHttpTransport(base, max);
            return {
              request: (method, url, headers, body, timeoutMs) => {
                const sent = JSON.parse(body ?? '{}') as { stream_url?: unknown; stream_auth_token?: unknown };
                if (method === 'POST' && typeof sent.stream_url === 'string' && typeof sent.stream_auth_token === 'string') {
                  handed.push({ path: new URL(sent.stream_url).pathname, token: sent.stream_auth_token });
                }
                return inner.request(method, url, headers, body, timeoutMs);
              },
              close: () => inner.close(),
            };
          },
        },
      },
    },
  );
  return { stack, handed };
}

function upgrade(stack: Stack, path: string, token: string): Promise<{ status: number; ws: WebSocket | null }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.tunnel}${path}`, { headers: { [TOKEN_HEADER]: token }, handshakeTimeout: 5_000 });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, ws: null });
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('error', () => resolve({ status: 0, ws: null }));
  });
}

/** Play the provider's stream on an open socket: `start` naming the call, then a few frames. */
async function play(ws: WebSocket, callId: string, streamId: string): Promise<void> {
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(JSON.stringify({
    event: 'start',
    sequence_number: '1',
    stream_id: streamId,
    start: { call_control_id: callId, media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 } },
  }));
  const payload = Buffer.alloc(160, 0xff).toString('base64');
  for (let i = 0; i < 10; i++) {
    ws.send(JSON.stringify({ event: 'media', sequence_number: String(i + 2), stream_id: streamId, media: { track: 'inbound', chunk: String(i + 1), payload } }));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`a dialled call's media tokens are one set (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    let handed: Handed[];

    before(async () => {
      ({ stack, handed } = await recordingStack(mediaSockets, 100));
    });
    after(() => stack?.stop());

    const control = () => stack.gateway.control;
    const live = (callId: string) => control().snapshot().some((c) => c.callId === callId);

    /**
     * A dial whose stream cannot reach us (the tunnel's connector is away): the gateway asks for a new
     * one. Returns the dial's stream (media id path) and the new stream's (call id path).
     */
    async function dialWithoutStream(): Promise<{ callId: string; dial: Handed; restart: Handed }> {
      handed.length = 0;
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      const { callId } = await control().dial('+15557650123');
      const callPath = `/v1/media/${encodeURIComponent(callId)}`;
      await waitFor('a new stream to be asked for', () => handed.some((h) => h.path === callPath), 8_000);
      const dial = handed[0]!;
      assert.match(dial.path, /^\/v1\/media\/o[0-9a-f]+$/, 'the dial streams on its media id');
      return { callId, dial, restart: handed.find((h) => h.path === callPath)! };
    }

    /** The socket lands, carries a stream, and is lost (no `stop`): the gateway asks for another. */
    async function landAndLose(callId: string, opened: WebSocket): Promise<void> {
      const lostBefore = control().streamRestartsAsked.lost ?? 0;
      await play(opened, callId, `stream-${Math.random().toString(36).slice(2)}`);
      opened.terminate();
      await waitFor('the lost stream to be asked for again', () => (control().streamRestartsAsked.lost ?? 0) > lostBefore, 5_000);
    }

    async function end(callId: string): Promise<void> {
      stack.sim.setTunnelDown(TUNNEL_HOST, false);
      stack.sim.liveCall(callId)?.hangup(undefined); // the callee hangs up
      await waitFor(`${callId} to end`, () => !live(callId), 8_000);
      assert.equal(control().hasPendingMediaToken(callId), false, 'no token outlives the call');
    }

    it('the dial\'s token landing revokes the new stream\'s: after that stream is lost, the new stream\'s token of that round opens nothing', async () => {
      const { callId, dial, restart } = await dialWithoutStream();
      // Until one lands, the earlier request's token stays valid beside the new one (its stream may be connecting).
      const first = await upgrade(stack, dial.path, dial.token);
      assert.equal(first.status, 101, 'the dial\'s stream, late, still lands');
      assert.equal(control().hasPendingMediaToken(callId), false, 'one stream landed: the call\'s other tokens are gone');
      await landAndLose(callId, first.ws!);
      const stale = await upgrade(stack, restart.path, restart.token);
      stale.ws?.terminate();
      assert.equal(stale.status, 401, 'a token of a round whose stream landed is refused');
      // The request asked after the loss still opens the call.
      const latest = handed.filter((h) => h.path === restart.path).at(-1)!;
      assert.notEqual(latest.token, restart.token);
      const next = await upgrade(stack, latest.path, latest.token);
      assert.equal(next.status, 101);
      next.ws?.terminate();
      await end(callId);
    });

    it('the new stream\'s token landing revokes the dial\'s: after that stream is lost, the dial\'s token opens nothing', async () => {
      const { callId, dial, restart } = await dialWithoutStream();
      const first = await upgrade(stack, restart.path, restart.token);
      assert.equal(first.status, 101);
      await landAndLose(callId, first.ws!);
      const stale = await upgrade(stack, dial.path, dial.token);
      stale.ws?.terminate();
      assert.equal(stale.status, 401, 'the dial\'s token, superseded by a stream that landed, is refused');
      assert.ok(live(callId), 'the call is still up, waiting for its new stream');
      await end(callId);
    });

    it('each token opens only its own path: the dial\'s token on the call id\'s path is refused', async () => {
      const { callId, dial, restart } = await dialWithoutStream();
      const crossed = await upgrade(stack, restart.path, dial.token);
      crossed.ws?.terminate();
      assert.equal(crossed.status, 401);
      const crossedBack = await upgrade(stack, dial.path, restart.token);
      crossedBack.ws?.terminate();
      assert.equal(crossedBack.status, 401);
      await end(callId);
    });
  });

  describe(`a dialled callee who answers after the token TTL (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    const RING_MS = 1_500;
    const TTL_MS = 1_000;
    let stack: Stack;
    let handed: Handed[];

    before(async () => {
      ({ stack, handed } = await recordingStack(mediaSockets, RING_MS, TTL_MS));
    });
    after(() => stack?.stop());

    it('the first stream lands: the dial\'s token outlasts the ringing', async () => {
      const refusedBefore = stack.gateway.control.counters.mediaRefused;
      const placed = await stack.gateway.control.dial('+15557650124');
      const call = stack.sim.liveCall(placed.callId);
      assert.ok(call);
      await waitFor('echoed frames on the first stream', () => call.summary().framesReturned > 10, RING_MS + 5_000);
      assert.equal(call.summary().streamsOpened, 1, 'no second stream was needed');
      assert.equal(stack.gateway.control.counters.mediaRefused, refusedBefore, 'no media upgrade refused');
      assert.equal(stack.gateway.control.counters.streamRestarts, 0, 'no new stream asked for');
      const record = stack.gateway.control.recentCalls(10).find((r) => r.call_control_id === placed.callId);
      assert.equal(record?.stream_restarts, 0);
      call.hangup(undefined);
      await waitFor('the call to end', () => stack.gateway.control.liveCalls === 0, 8_000);
    });

    it('bounded: once answered, an unused dial token lives the usual TTL', async () => {
      handed.length = 0;
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      try {
        const placed = await stack.gateway.control.dial('+15557650125');
        const dial = handed[0]!;
        await waitFor('the answer', () => stack.gateway.control.recentCalls(10).some((r) => r.call_control_id === placed.callId && r.answered_at), RING_MS + 5_000);
        await new Promise((resolve) => setTimeout(resolve, TTL_MS + 300));
        const late = await upgrade(stack, dial.path, dial.token);
        late.ws?.terminate();
        assert.equal(late.status, 401, 'the dial\'s token expired a TTL after the answer');
        stack.sim.liveCall(placed.callId)?.hangup(undefined);
        await waitFor('the call to end', () => stack.gateway.control.liveCalls === 0, 8_000);
      } finally {
        stack.sim.setTunnelDown(TUNNEL_HOST, false);
      }
    });
  });
}
