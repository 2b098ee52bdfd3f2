/**
 * The platform fed events shaped exactly as Telnyx documents them: the
 * direction on `call.initiated` only, `from`/`to` on call.* events, no
 * numbers on `call.recording.saved` (developers.telnyx.com/api-reference/
 * callbacks/call-answered, call-hangup, call-recording-saved). A known call's
 * later events take its facts from its record; one that overtakes its
 * call's `call.initiated` (or the dial's answer) waits for it; one about a
 * call the platform never saw begin is acknowledged and ignored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, postWebhook, startHarness, telnyxEvent, waitFor, type Harness } from './helpers.js';

const A = { id: 'dep-a', numbers: ['+15551230001'], tunnelHost: 'aaa.trycloudflare.com' };
const CALLER = '+15550000001';
const CALLEE = '+15557654321';

describe('Telnyx-shaped events at the platform', () => {
  let h: Harness;
  let headers: Record<string, string> = {};
  let seq = 0;

  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 }, callWaitMs: { webhook: 400 } });
    headers = agentHeaders(A.id, (await h.platform.deployments.register(A)).agentSecret);
  });
  after(() => h.close());

  async function dial(): Promise<string> {
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers,
      body: { to: CALLEE, stream_url: `wss://${A.tunnelHost}/v1/media/shape-media-${++seq}`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.call_control_id as string;
  }

  const recordStarts = (id: string): number => h.provider.commands('record_start').filter((r) => r.path.includes(encodeURIComponent(id))).length;

  it('a dialled call: call.answered starts the recording, call.recording.saved keeps it, call.hangup settles it', async () => {
    const id = await dial();
    const facts = { call_control_id: id, from: A.numbers[0]!, to: CALLEE };
    assert.equal((await postWebhook(h, telnyxEvent('call.initiated', { ...facts, direction: 'outgoing', state: 'bridging' }))).status, 200);
    assert.deepEqual((await postWebhook(h, telnyxEvent('call.answered', { ...facts, state: 'answered' }))).body, { ok: true });
    await waitFor('record_start', () => recordStarts(id) === 1);
    const url = 'https://s3.amazonaws.com/telnyx-recordings/shape.mp3';
    const saved = telnyxEvent('call.recording.saved', { call_control_id: id, channels: 'single', recording_started_at: new Date().toISOString(), recording_ended_at: new Date().toISOString(), recording_urls: { mp3: url }, public_recording_urls: {} });
    assert.deepEqual((await postWebhook(h, saved)).body, { ok: true });
    await waitFor('the recording URL on the record', async () => (await h.platform.calls.get(id))?.recording?.url === url);
    const fake = h.provider.calls.get(id)!;
    fake.alive = false;
    fake.durationMs = 61_000;
    const hangup = telnyxEvent('call.hangup', { ...facts, state: 'hangup', hangup_cause: 'normal_clearing', hangup_source: 'callee', sip_hangup_cause: '200' });
    assert.deepEqual((await postWebhook(h, hangup)).body, { ok: true });
    await waitFor('settled', async () => Boolean((await h.platform.calls.get(id))?.billing));
    const record = (await h.platform.calls.get(id))!;
    assert.equal(record.state, 'ended');
    assert.deepEqual(record.billing, { source: 'cdr', durationMs: 61_000, billedMinutes: 2, costMicroUsd: 20_000 });
    assert.deepEqual(record.timeline.map((e) => e.event), ['call.initiated', 'call.answered', 'call.recording.saved', 'call.hangup']);
    assert.deepEqual([record.direction, record.from, record.to, record.hangupCause], ['outgoing', A.numbers[0], CALLEE, 'normal_clearing']);
  });

  it("an inbound call's events take its facts from its record, whatever numbers they name", async () => {
    const id = `v3:shape-in-${++seq}`;
    await postWebhook(h, telnyxEvent('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming', state: 'parked' }));
    await postWebhook(h, telnyxEvent('call.answered', { call_control_id: id, from: CALLER, to: '+15550009999', state: 'answered' }));
    await postWebhook(h, telnyxEvent('call.hangup', { call_control_id: id, from: CALLER, to: '+15550009999', hangup_cause: 'normal_clearing' }));
    const record = (await h.platform.calls.get(id))!;
    assert.deepEqual([record.deploymentId, record.direction, record.to, record.state], [A.id, 'incoming', A.numbers[0], 'ended']);
  });

  it("an event that overtakes its call's call.initiated waits for it", async () => {
    const id = `v3:shape-early-${++seq}`;
    const t0 = Date.now() - 5_000;
    const answered = postWebhook(h, telnyxEvent('call.answered', { call_control_id: id, from: CALLER, to: A.numbers[0]!, state: 'answered' }, { occurredAt: new Date(t0 + 1_000).toISOString() }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    await postWebhook(h, telnyxEvent('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' }, { occurredAt: new Date(t0).toISOString() }));
    assert.deepEqual((await answered).body, { ok: true });
    const record = (await h.platform.calls.get(id))!;
    assert.deepEqual(record.timeline.map((e) => e.event), ['call.initiated', 'call.answered']);
    assert.deepEqual([record.deploymentId, record.state], [A.id, 'answered']);
  });

  it("a dialled call's call.answered that comes before the dial's answer waits for it, and starts the recording", async () => {
    const id = `v3:shape-dial-race-${++seq}`;
    let answerDial: () => void = () => {};
    const dialHeld = new Promise<void>((resolve) => (answerDial = resolve));
    h.provider.override = async (req) => {
      if (req.method !== 'POST' || req.path !== '/v2/calls') return undefined;
      h.provider.calls.set(id, { direction: 'outgoing', from: A.numbers[0]!, to: CALLEE, alive: true });
      await dialHeld;
      return { status: 200, body: { data: { call_control_id: id, call_session_id: `sess-${id}`, call_leg_id: `leg-${id}` } } };
    };
    try {
      const dialling = dial();
      await waitFor('the dial at the provider', () => h.provider.calls.has(id));
      const answered = postWebhook(h, telnyxEvent('call.answered', { call_control_id: id, from: A.numbers[0]!, to: CALLEE, state: 'answered' }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      answerDial();
      assert.equal(await dialling, id);
      assert.deepEqual((await answered).body, { ok: true });
      await waitFor('record_start', () => recordStarts(id) === 1);
      assert.equal((await h.platform.calls.get(id))?.state, 'answered');
    } finally {
      h.provider.override = null;
    }
  });

  it('an event about a call the platform never saw begin is acknowledged, after a short wait, and records nothing', async () => {
    const id = `v3:shape-unknown-${++seq}`;
    const startedAt = Date.now();
    const res = await postWebhook(h, telnyxEvent('call.hangup', { call_control_id: id, from: CALLER, to: A.numbers[0]!, hangup_cause: 'normal_clearing' }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true, ignored: true });
    assert.ok(Date.now() - startedAt >= 350, 'it waited for the call.initiated first');
    assert.equal(await h.platform.calls.get(id), undefined);
    assert.ok(h.lines.some((l) => l.includes(id) && l.includes('never saw begin')));
  });

  it('a call.initiated that does not name direction and numbers is acknowledged and ignored', async () => {
    const id = `v3:shape-bare-${++seq}`;
    const res = await postWebhook(h, telnyxEvent('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]! }));
    assert.deepEqual(res.body, { ok: true, ignored: true });
    assert.equal(await h.platform.calls.get(id), undefined);
  });
});
