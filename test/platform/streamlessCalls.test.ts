/**
 * The platform ends an answered call no gateway carries, from Telnyx-shaped
 * stream events: `streaming.*` payloads name the call but not its numbers or
 * direction (developers.telnyx.com/api-reference/callbacks/call-streaming-failed),
 * so they are recorded on the known call's record and decide from there. A
 * stream that starts again in time, an event about an unknown call, and a
 * forged event are not acted on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STOP_REQUESTED, StreamlessCalls } from '../../src/platform/StreamlessCalls.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, envelope, postWebhook, signedHeaders, startHarness, type Harness } from './helpers.js';

const A = { id: 'streamless-a', numbers: ['+15557770401'], tunnelHost: 'streamless-a.trycloudflare.com' };
const GRACE_MS = 400;
let counter = 0;

/** A Telnyx streaming.* event: call ids, stream id and URL, no numbers, no direction (one stream per call unless named). */
function streamEvent(type: string, callId: string, occurredAt = new Date().toISOString(), streamId = `stream-${callId}`): string {
  counter++;
  return JSON.stringify({
    data: {
      record_type: 'event',
      event_type: type,
      id: `stream-evt-${process.pid}-${counter}`,
      occurred_at: occurredAt,
      payload: {
        call_control_id: callId,
        call_leg_id: `leg-${callId}`,
        call_session_id: `sess-${callId}`,
        connection_id: 'conn-test-1',
        client_state: null,
        stream_id: streamId,
        stream_url: `wss://${A.tunnelHost}/v1/media/${callId}`,
        ...(type === 'streaming.failed' ? { failure_reason: 'connection_failed' } : {}),
      },
    },
  });
}

describe('calls no gateway carries, from Telnyx-shaped stream events', () => {
  let h: Harness;
  let a: Record<string, string>;
  before(async () => {
    h = await startHarness({ streamlessGraceMs: GRACE_MS, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    a = agentHeaders(A.id, (await h.platform.deployments.register(A)).agentSecret);
  });
  after(() => h.close());

  async function answeredCall(to: string): Promise<string> {
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: a, body: { to, stream_url: `wss://${A.tunnelHost}/v1/media/sl-${to.slice(-4)}-abcdefgh`, stream_auth_token: STREAM_TOKEN } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.call_control_id as string;
    const fake = h.provider.calls.get(id)!;
    assert.equal((await postWebhook(h, envelope('call.answered', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing' }))).status, 200);
    return id;
  }
  const hangups = (id: string) => h.provider.commands('hangup').filter((r) => r.path.includes(encodeURIComponent(id)) || r.path.includes(id)).length;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('a stream that stopped and did not start again is ended after the grace; the event is on the record', async () => {
    const id = await answeredCall('+15551250101');
    assert.equal((await postWebhook(h, streamEvent('streaming.started', id))).status, 200);
    assert.equal((await postWebhook(h, streamEvent('streaming.stopped', id))).status, 200);
    const timeline = (await h.platform.calls.get(id))!.timeline.map((e) => e.event);
    assert.deepEqual(timeline.filter((e) => e.startsWith('streaming.')), ['streaming.started', 'streaming.stopped']);
    await sleep(GRACE_MS / 2);
    assert.equal(hangups(id), 0, 'not before the grace');
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 1, 'ended by the platform');
    assert.ok(h.lines.some((l) => l.includes('no media stream for') && l.includes(id) && l.includes('"audit":true')), 'an audit line');
  });

  it('a failed stream, then one that starts in time: left alone', async () => {
    const id = await answeredCall('+15551250102');
    await postWebhook(h, streamEvent('streaming.failed', id));
    await sleep(GRACE_MS / 2);
    await postWebhook(h, streamEvent('streaming.started', id));
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 0);
    assert.equal(await h.platform.streamless.check(id), false, 'the record shows the stream started again');
  });

  it('events out of order: a stop older than the start that followed it ends nothing', async () => {
    const id = await answeredCall('+15551250103');
    const now = Date.now();
    await postWebhook(h, streamEvent('streaming.started', id, new Date(now).toISOString()));
    // Delivered late: it happened before the start above.
    await postWebhook(h, streamEvent('streaming.stopped', id, new Date(now - 1_000).toISOString()));
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 0);
  });

  it('an unknown call\'s stream event is ignored; a forged one is refused', async () => {
    const unknown = await postWebhook(h, streamEvent('streaming.stopped', 'v3:never-seen-call'));
    assert.equal(unknown.status, 200);
    assert.equal(unknown.body.ignored, true);
    const id = await answeredCall('+15551250104');
    const raw = streamEvent('streaming.stopped', id);
    const forged = await postWebhook(h, raw, signedHeaders(new Uint8Array(64).fill(3), raw));
    assert.equal(forged.status, 401);
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 0, 'a forged stop ends nothing');
  });

  it('a stream replaced by a new one: the old stream\'s stop, reported after the new one started, ends nothing', async () => {
    const id = await answeredCall('+15551250105');
    const t = Date.now();
    await postWebhook(h, streamEvent('streaming.started', id, new Date(t).toISOString(), 's1'));
    await postWebhook(h, streamEvent('streaming.started', id, new Date(t + 100).toISOString(), 's2'));
    await postWebhook(h, streamEvent('streaming.stopped', id, new Date(t + 200).toISOString(), 's1'));
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 0, 's2 carries the call');
    // Then the new stream stops too, and nothing replaces it: ended after the grace.
    await postWebhook(h, streamEvent('streaming.stopped', id, new Date().toISOString(), 's2'));
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 1);
  });

  it('a stream the gateway stopped on purpose is left alone by any process, a restarted one included', async () => {
    const id = await answeredCall('+15551250106');
    await postWebhook(h, streamEvent('streaming.started', id));
    const stop = await call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(id)}/streaming_stop`, { headers: a, body: {} });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    await postWebhook(h, streamEvent('streaming.stopped', id));
    assert.ok((await h.platform.calls.get(id))!.timeline.some((e) => e.event === STOP_REQUESTED), 'marked on the record');
    // Another process's watcher (or this one after a restart) knows only the record.
    const elsewhere = new StreamlessCalls({ calls: h.platform.calls, provider: { hangup: async () => ({ alreadyEnded: false }) }, logger: capturingLogger().logger, graceMs: 0 });
    assert.equal(await elsewhere.check(id), false);
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 0);
    // A stream started again, then lost: no longer on purpose.
    await postWebhook(h, streamEvent('streaming.started', id));
    await postWebhook(h, streamEvent('streaming.stopped', id));
    await sleep(GRACE_MS + 300);
    assert.equal(hangups(id), 1);
  });
});
