/**
 * A `streaming.failed` that arrives late (DESIGN 3a: events may arrive late or
 * out of order) about a call's lost stream, after the gateway asked for a new
 * one (docs/control.md, "A media socket lost mid-call"). The real gateway,
 * platform and simulator (test/security/harness.ts); the harness's tap plays
 * the provider for the `hd-` calls and keeps the tokens the gateway minted.
 * Run on both socket layouts.
 *
 * Before, the gateway ignored the event's `stream_id`: a late failure of the
 * lost stream hung up the call whose new stream had landed, and one that came
 * while the new stream was connecting asked again with a new token, which
 * revoked the token that stream was connecting with (401).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import { SecurityStack, closedWithin, sleep, waitFor } from '../security/harness.js';

const TOKEN_HEADER = 'x-telnyx-streaming-auth-token';

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`a late streaming.failed about a lost stream (${mediaSockets}-owned sockets)`, () => {
    let s: SecurityStack;

    before(async () => {
      s = await SecurityStack.start({ mediaSockets });
    });

    after(async () => {
      await s?.stop();
    });

    const live = (callId: string) => s.gateway.control.snapshot().some((c) => c.callId === callId);
    const asked = (callId: string) => s.tap.restarts.get(callId) ?? [];

    /** Play the provider's stream: connected, start naming `streamId`, ten media frames. */
    async function stream(callId: string, token: string, streamId: string): Promise<WebSocket> {
      const ws = await s.openMedia(callId, token);
      ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
      ws.send(s.startFrame(callId, 'PCMU', 8000, streamId));
      for (let i = 0; i < 10; i++) {
        ws.send(s.mediaFrame(i));
        await sleep(20);
      }
      return ws;
    }

    /** A signed streaming.failed as Telnyx sends it (https://developers.telnyx.com/api-reference/callbacks/call-streaming-failed). */
    async function failed(callId: string, streamId?: string): Promise<void> {
      const body = s.event('streaming.failed', {
        call_control_id: callId,
        call_leg_id: 'leg',
        call_session_id: 'session',
        connection_id: 'conn',
        failure_reason: 'connection_failed',
        ...(streamId === undefined ? {} : { stream_id: streamId }),
        stream_params: { stream_url: `wss://x/v1/media/${callId}` },
        stream_type: 'websocket',
      });
      assert.equal((await s.postSigned(body)).status, 200);
    }

    /** A call whose first stream (`stream-1`) landed and was then lost without `stop`: the gateway asked for a new one. */
    async function lostOnce(label: string): Promise<{ callId: string; inFlight: string }> {
      const callId = s.callId('hd', `${label}-${mediaSockets}`);
      const first = await stream(callId, await s.mintToken(callId), 'stream-1');
      first.terminate();
      await waitFor('a new stream to be asked for', () => asked(callId).length >= 1, 5_000);
      return { callId, inFlight: asked(callId).at(-1)!.stream_auth_token };
    }

    async function cleanup(callId: string, ws?: WebSocket | null): Promise<void> {
      ws?.terminate();
      if (live(callId)) await s.hangup(callId);
      await waitFor(`${callId} to end`, () => !live(callId));
    }

    it('after the new stream landed, the lost stream\'s failure (or one naming none) leaves the call up; the live stream\'s own still ends it', async () => {
      const { callId, inFlight } = await lostOnce('landed');
      const landedBefore = s.gateway.control.counters.streamRestartsLanded;
      const second = await stream(callId, inFlight, 'stream-2');
      await waitFor('the new stream to land', () => s.gateway.control.counters.streamRestartsLanded > landedBefore, 5_000);
      const closed = closedWithin(second, 1_000);
      await failed(callId, 'stream-1');
      await failed(callId);
      assert.equal(await closed, null, 'the new stream stays open');
      assert.ok(live(callId), 'the call is still up');
      assert.equal(s.tap.hangups.has(callId), false, 'nothing was hung up');
      assert.equal(asked(callId).length, 1, 'and nothing asked again');
      // The failure of the stream on the live socket is about the call's media path: it ends the call as before.
      await failed(callId, 'stream-2');
      await waitFor('the call to end for its live stream\'s failure, hung up through the platform', () => !live(callId) && s.tap.hangups.has(callId), 5_000);
      second.terminate();
    });

    it('while the new stream connects, the lost stream\'s failure asks nothing again: the token in flight still opens the call', async () => {
      const { callId, inFlight } = await lostOnce('connecting');
      await failed(callId, 'stream-1');
      await sleep(800); // a retry would have gone after 0.5 s
      assert.equal(asked(callId).length, 1, 'no new stream asked for');
      const { status, ws } = await s.upgrade(encodeURIComponent(callId), { [TOKEN_HEADER]: inFlight });
      assert.equal(status, 101, 'the stream connecting with the requested token is accepted');
      assert.ok(live(callId));
      await cleanup(callId, ws);
    });

    it('a failure naming a stream never seen may be the requested one: asked again beside it, and the token in flight still opens the call', async () => {
      const { callId, inFlight } = await lostOnce('unknown');
      await failed(callId, 'stream-never-seen');
      await waitFor('the request to be asked again', () => asked(callId).length === 2, 3_000);
      const retried = asked(callId)[1]!.stream_auth_token;
      assert.notEqual(retried, inFlight);
      const { status, ws } = await s.upgrade(encodeURIComponent(callId), { [TOKEN_HEADER]: inFlight });
      assert.equal(status, 101, 'the earlier request\'s token is still valid');
      // One stream landed: the other request's token opens nothing any more.
      assert.equal(s.gateway.control.hasPendingMediaToken(callId), false);
      const late = await s.upgrade(encodeURIComponent(callId), { [TOKEN_HEADER]: retried });
      late.ws?.terminate();
      assert.equal(late.status, 401);
      assert.ok(live(callId));
      await cleanup(callId, ws);
    });
  });
}
