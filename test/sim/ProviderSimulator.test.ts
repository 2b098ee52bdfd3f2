/**
 * The simulator against a real stand-in platform and gateway on loopback:
 * signed webhooks, event order, token on the upgrade, real-time media, echo,
 * round trip, marks/clear, DTMF, CDRs, REST refusals, retries, shutdown.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import type { CallDetailRecord, WebhookEnvelope } from '../../src/wire/telnyx.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../helpers/stack.js';
import { MediaServer, TUNNEL_HOST, WebhookReceiver, sleep, type MediaSession } from './gatewayDouble.js';

const API_KEY = 'sim-test-key-0123456789abcdef';
const quiet = createLogger('sim-test', 'silent');

// Gateway behaviour, chosen by the dialled number of an inbound call.
const TO_ECHO = '+15557650001';
const TO_NO_ANSWER = '+15557650002';
const TO_BAD_TOKEN = '+15557650003';
const TO_UNKNOWN_HOST = '+15557650004';
const TO_MARKS = '+15557650005';
const TO_LONG = '+15557650006';

interface ApiResult {
  status: number;
  body: any;
}

describe('ProviderSimulator', () => {
  const platform = new WebhookReceiver('platform');
  const gatewayHooks = new WebhookReceiver('gateway');
  const media = new MediaServer(gatewayHooks);
  let sim: ProviderSimulator;
  let base: string;
  const answered = new Map<string, ApiResult>();

  async function api(method: string, path: string, body?: unknown, key: string | null = API_KEY): Promise<ApiResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  const actionPath = (id: string, action: string): string => `/v2/calls/${encodeURIComponent(id)}/actions/${action}`;

  before(async () => {
    const platformUrl = await platform.listen();
    const origin = await media.listen();
    sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [platformUrl, `https://${TUNNEL_HOST}/v1/webhooks/provider`],
      tunnels: { [TUNNEL_HOST]: origin },
      answerTimeoutMs: 3_000, // the double answers after its webhook: under load that took over 600 ms (a call hung up as unanswered)
      ringMs: 100,
      outboundTalkMs: 3000,
      logger: quiet,
    });
    const { port } = await sim.start();
    base = `http://127.0.0.1:${port}`;
    platform.setPublicKey(sim.publicKeyBase64);
    gatewayHooks.setPublicKey(sim.publicKeyBase64);

    // The "gateway": answers incoming calls as soon as it hears of them (after acking the webhook).
    gatewayHooks.onEvent = (hook) => {
      const data = hook.envelope.data;
      if (data.event_type !== 'call.initiated' || data.payload.direction !== 'incoming') return;
      const id = data.payload.call_control_id;
      const to = data.payload.to;
      if (to === TO_NO_ANSWER) return;
      const token = randomBytes(16).toString('hex');
      media.tokens.set(id, to === TO_BAD_TOKEN ? 'not-the-token' : token);
      const host = to === TO_UNKNOWN_HOST ? 'unknown-tunnel.example' : TUNNEL_HOST;
      void api('POST', actionPath(id, 'answer'), {
        stream_url: `wss://${host}/v1/media/${encodeURIComponent(id)}`,
        stream_auth_token: token,
        stream_track: 'inbound_track',
        stream_bidirectional_mode: 'rtp',
        command_id: `answer-${id}`,
      }).then((r) => answered.set(id, r));
    };
  });

  after(async () => {
    await sim.stop();
    await Promise.all([platform.close(), gatewayHooks.close(), media.close()]);
  });

  it('inbound call: signed ordered webhooks, token on upgrade, real-time frames, echo, round trip, CDR', async () => {
    const placedAt = performance.now();
    const placed = await api('POST', '/sim/calls/inbound', { from: '+15551230001', to: TO_ECHO, seconds: 1, seed: 42 });
    assert.equal(placed.status, 200);
    const id: string = placed.body.call_control_id;
    assert.match(id, /^v3:[A-Za-z0-9_-]+$/);
    const call = sim.liveCall(id);
    assert.ok(call, 'the call is live');
    const report = await call.done;
    const livedMs = performance.now() - placedAt;

    // Webhooks: both receivers, every one verified, same order, platform before gateway.
    const expected = ['call.initiated', 'call.answered', 'streaming.started', 'streaming.stopped', 'call.hangup'];
    assert.deepEqual(platform.eventsFor(id), expected);
    assert.deepEqual(gatewayHooks.eventsFor(id), expected);
    const platformHooks = platform.accepted(id);
    const gatewayAccepted = gatewayHooks.accepted(id);
    for (const hook of [...platformHooks, ...gatewayAccepted]) {
      assert.equal(hook.verified, true, `signature of ${hook.envelope.data.event_type} at ${hook.receiver}: ${hook.refusal}`);
      assert.equal(hook.headers['content-type'], 'application/json');
      assert.equal(hook.envelope.meta.attempt, 1);
      assert.equal(hook.envelope.data.record_type, 'event');
      assert.ok(!Number.isNaN(Date.parse(hook.envelope.data.occurred_at)));
    }
    // Each event names the call's facts as Telnyx's does: the direction on call.initiated only,
    // the numbers on call.* events, neither on streaming.* (developers.telnyx.com/api-reference/callbacks/).
    for (const hook of platformHooks) {
      const { event_type: type, payload } = hook.envelope.data;
      assert.equal('direction' in payload, type === 'call.initiated', `${type}: direction`);
      assert.equal('from' in payload && 'to' in payload, type.startsWith('call.'), `${type}: from/to`);
      if (type === 'call.initiated') assert.deepEqual([payload.direction, payload.from, payload.to], ['incoming', '+15551230001', TO_ECHO]);
    }
    const ids = platformHooks.map((h) => h.envelope.data.id);
    assert.equal(new Set(ids).size, ids.length, 'event ids are unique');
    for (const [i, hook] of platformHooks.entries()) {
      const twin = gatewayAccepted[i];
      assert.ok(twin);
      assert.equal(twin.envelope.data.id, hook.envelope.data.id, 'same event to both URLs');
      assert.ok(hook.at <= twin.at, 'platform gets each event before the gateway');
    }
    assert.equal(platformHooks[0]?.envelope.meta.delivered_to.startsWith('http://127.0.0.1:'), true);
    assert.equal(gatewayAccepted[0]?.envelope.meta.delivered_to, `https://${TUNNEL_HOST}/v1/webhooks/provider`);
    assert.equal(gatewayAccepted[0]?.headers.host, TUNNEL_HOST, 'tunnel keeps the public Host');
    assert.ok(gatewayAccepted[0]?.headers['cf-ray'], 'tunnel edge headers');

    const initiated = platformHooks[0]?.envelope.data.payload;
    assert.ok(initiated);
    for (const field of ['call_control_id', 'call_leg_id', 'call_session_id', 'connection_id', 'from', 'to', 'direction', 'state', 'start_time']) {
      assert.ok(field in initiated, `payload has ${field}`);
    }
    assert.ok('client_state' in initiated);
    assert.equal(initiated.direction, 'incoming');
    assert.equal(initiated.state, 'parked');
    assert.equal(initiated.from, '+15551230001');
    const hangup = platformHooks.at(-1)?.envelope.data.payload;
    assert.equal(hangup?.hangup_cause, 'normal_clearing');
    assert.equal(hangup?.hangup_source, 'caller');
    assert.equal(answered.get(id)?.status, 200);

    // Media socket: token header on the upgrade, through the tunnel, Telnyx frames in order.
    const session = media.sessions.get(id);
    assert.ok(session, 'the simulator opened the media socket');
    assert.ok(session.upgradeHeaders['x-telnyx-streaming-auth-token'], 'token header on the upgrade');
    assert.equal(session.upgradeHeaders.host, TUNNEL_HOST);
    await session.closed;
    assert.equal(session.closeCode, 1000);
    assert.deepEqual(session.frames[0], { event: 'connected', version: '1.0.0' });
    const start = session.frames[1] as any;
    assert.equal(start.event, 'start');
    assert.equal(start.start.call_control_id, id);
    assert.deepEqual(start.start.media_format, { encoding: 'PCMU', sample_rate: 8000, channels: 1 });
    assert.equal((session.frames.at(-1) as any).event, 'stop');
    const mediaFrames = session.frames.filter((f) => f.event === 'media') as any[];
    assert.ok(mediaFrames.length >= 45 && mediaFrames.length <= 55, `1 s call sent ${mediaFrames.length} frames`);
    mediaFrames.forEach((f, i) => {
      assert.equal(f.media.track, 'inbound');
      assert.equal(f.media.chunk, String(i + 1));
      assert.equal(f.media.timestamp, String(i * 20));
      assert.equal(Buffer.from(f.media.payload, 'base64').length, 160);
      assert.equal(typeof f.sequence_number, 'string');
    });

    // Real-time spacing: ~20 ms apart, the whole second spread out (no bursts).
    const arrivals = session.mediaArrivals;
    const span = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
    // Never ahead of real time: frame k is planned 20 ms * k after a t0 taken once the socket was open
    // (a non-real-time sender would deliver all 50 in a few ms).
    const ahead = arrivals.findIndex((t, k) => t < session.openedAt + 20 * k - 1);
    assert.equal(ahead, -1, `frame ${ahead} arrived ${(session.openedAt + 20 * ahead - (arrivals[ahead] ?? 0)).toFixed(1)} ms ahead of its time`);
    // Spread out at 20 ms. A starved event loop (this process shares it with the simulator; the
    // simulator counts the late sends) delays frames and catches up in bursts, which shortens or
    // stretches the span and the median gap (625 ms, 1177 ms, 13.8 ms seen under load): those
    // bounds hold when nothing was sent late; the check above holds always.
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] ?? t)).sort((a, b) => a - b);
    const medianGap = gaps[Math.floor(gaps.length / 2)] ?? 0;
    const starved = report.lateSends > 0;
    assert.ok((span > 700 && span < 1150) || starved, `frames spread over ${span.toFixed(1)} ms, late sends ${report.lateSends}`);
    assert.ok((medianGap > 15 && medianGap < 25) || starved, `median gap ${medianGap.toFixed(2)} ms, late sends ${report.lateSends}`);

    // Report: echo found at ~zero lag, round trips measured from the planned send time.
    assert.equal(report.endedBy, 'caller');
    assert.equal(report.framesSent, mediaFrames.length);
    assert.ok(report.framesReturned >= report.framesSent - 1, `returned ${report.framesReturned} of ${report.framesSent}`);
    assert.equal(report.malformedFrames, 0);
    assert.ok(report.echo.correlation > 0.9, `echo correlation ${report.echo.correlation}`);
    assert.ok(report.echo.lagSamples <= 8, `echo lag ${report.echo.lagSamples} samples`);
    assert.ok(report.roundTripMs.count >= 40);
    // Loopback echo in the same process: a few ms beyond the simulator's own lateness (round trips
    // count from the planned send time, so a starved loop's late sends are in them: 127 ms p50 seen
    // under load); generous bounds for a loaded CI box.
    const lag = report.sendLagMs;
    assert.ok(report.roundTripMs.p50 >= lag.p50, `round trip p50 ${report.roundTripMs.p50} ms counts from the planned time (send lag p50 ${lag.p50} ms)`);
    assert.ok(report.roundTripMs.p50 - lag.p50 < 50, `round trip p50 ${report.roundTripMs.p50} ms, send lag p50 ${lag.p50} ms`);
    assert.ok(report.roundTripMs.max - lag.max < 200, `round trip max ${report.roundTripMs.max} ms, send lag max ${lag.max} ms`);
    assert.equal(report.roundTripSamplesMs.length, report.roundTripMs.count);
    assert.equal(report.sentPcm.length, report.framesSent * 160);

    // Records: the provider's detail record (Telnyx's Detail Records search), GET call, the simulator summary.
    const cdrs = await api('GET', `/v2/detail_records?filter[record_type]=call-control&filter[telnyx_call_control_id]=${encodeURIComponent(id)}`);
    assert.equal(cdrs.status, 200);
    assert.equal(cdrs.body.data.length, 1);
    assert.deepEqual(cdrs.body.meta, { total_pages: 1, total_results: 1, page_number: 1, page_size: 20 });
    const cdr = cdrs.body.data[0];
    const internal: CallDetailRecord = report.cdr;
    assert.ok(internal.answered_at && internal.ended_at);
    // The 1 s talk, and no longer than the call lived as this test saw it: under 2 s on an idle box
    // (2.6 s seen under load, the answer and the stream slower to land).
    assert.ok(internal.duration_ms >= 1000 && internal.duration_ms < Math.max(2000, livedMs), `duration ${internal.duration_ms} ms, the call lived ${livedMs.toFixed(0)} ms`);
    assert.equal(internal.hangup_source, 'caller');
    // The documented fields and types: whole seconds, times to the second, inbound/outbound, cli/cld.
    assert.deepEqual(cdr, {
      record_type: 'call_control_detail_record',
      id: id.replace(/^v3:/, ''),
      telnyx_call_control_id: id,
      telnyx_session_id: internal.call_session_id,
      connection_id: internal.connection_id,
      direction: 'inbound',
      cli: '+15551230001',
      cld: TO_ECHO,
      started_at: internal.started_at.replace(/\.\d+Z$/, 'Z'),
      finished_at: internal.ended_at.replace(/\.\d+Z$/, 'Z'),
      call_sec: Math.round(internal.duration_ms / 1000),
      billed_sec: 60,
    });
    assert.match(cdr.finished_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // filter[record_type] is required; other types have no call records; the search pages at most 50.
    assert.equal((await api('GET', '/v2/detail_records')).status, 422);
    assert.equal((await api('GET', '/v2/detail_records?filter[record_type]=calls')).body.errors[0].code, '10032');
    assert.deepEqual((await api('GET', `/v2/detail_records?filter[record_type]=messaging&filter[telnyx_call_control_id]=${encodeURIComponent(id)}`)).body.data, []);
    assert.equal((await api('GET', '/v2/detail_records?filter[record_type]=call-control&page[size]=51')).status, 422);
    assert.equal((await api('GET', '/v2/detail_records?filter[record_type]=call-control&filter[cld][contains]=555')).status, 422);
    assert.deepEqual((await api('GET', `/v2/detail_records?filter[record_type]=call-control&filter[cli]=%2B15551230001`)).body.data.map((r: any) => r.telnyx_call_control_id), [id]);
    // The invented path is gone (Telnyx has no such route).
    assert.equal((await api('GET', `/v2/call_detail_records?call_control_id=${encodeURIComponent(id)}`)).status, 404);
    const status = await api('GET', `/v2/calls/${encodeURIComponent(id)}`);
    assert.equal(status.body.data.is_alive, false);
    // Telnyx's "Retrieve a call status": ids, is_alive, duration, client_state, times; no direction, numbers or state.
    assert.deepEqual(Object.keys(status.body.data).sort(), ['call_control_id', 'call_duration', 'call_leg_id', 'call_session_id', 'client_state', 'end_time', 'is_alive', 'record_type', 'start_time']);
    assert.equal(status.body.data.call_duration, Math.floor((Date.parse(status.body.data.end_time) - Date.parse(status.body.data.start_time)) / 1000));
    const summary = await api('GET', `/sim/calls/${encodeURIComponent(id)}`);
    assert.equal(summary.body.endedBy, 'caller');
    assert.deepEqual(summary.body.echo, report.echo);
    assert.equal('sentPcm' in summary.body, false);
    const all = await api('GET', '/sim/calls');
    assert.ok(all.body.data.some((s: any) => s.callId === id));
  });

  it('outbound dial: idempotent command_id, ring then answer, gateway hang-up, 90018 on a second hang-up', async () => {
    const pathId = 'outbound-1';
    const token = randomBytes(16).toString('hex');
    media.tokens.set(pathId, token);
    const clientState = Buffer.from('agent-42').toString('base64');
    const request = {
      connection_id: 'conn-1',
      from: '+15550001000',
      to: '+15550002000',
      stream_url: `wss://${TUNNEL_HOST}/v1/media/${pathId}`,
      stream_auth_token: token,
      stream_track: 'inbound_track',
      stream_bidirectional_mode: 'rtp',
      stream_bidirectional_codec: 'PCMU',
      client_state: clientState,
      command_id: 'dial-cmd-1',
    };
    const first = await api('POST', '/v2/calls', request);
    assert.equal(first.status, 200);
    const data = first.body.data;
    assert.equal(data.is_alive, true);
    assert.equal(data.record_type, 'call');
    assert.ok(data.call_leg_id && data.call_session_id);
    const again = await api('POST', '/v2/calls', request);
    assert.deepEqual(again.body, first.body, 'same command_id, same answer');
    const id: string = data.call_control_id;
    const call = sim.liveCall(id);
    assert.ok(call);

    await gatewayHooks.waitFor(id, 'streaming.started');
    const live = await api('GET', `/v2/calls/${encodeURIComponent(id)}`);
    assert.equal(live.body.data.is_alive, true);
    assert.equal('direction' in live.body.data || 'to' in live.body.data || 'end_time' in live.body.data, false);
    await sleep(300);
    const hangup = await api('POST', actionPath(id, 'hangup'), { command_id: 'hangup-1' });
    assert.equal(hangup.status, 200);
    const report = await call.done;
    const second = await api('POST', actionPath(id, 'hangup'), { command_id: 'hangup-2' });
    assert.equal(second.status, 422);
    assert.equal(second.body.errors[0].code, '90018');
    const repeat = await api('POST', actionPath(id, 'hangup'), { command_id: 'hangup-1' });
    assert.deepEqual(repeat, hangup, 'a repeated command gets its first answer');
    const noCommand = await api('POST', actionPath(id, 'hangup'));
    assert.equal(noCommand.status, 422);

    assert.deepEqual(platform.eventsFor(id), ['call.initiated', 'call.answered', 'streaming.started', 'streaming.stopped', 'call.hangup']);
    const hooks = platform.accepted(id);
    assert.equal(hooks[0]?.envelope.data.payload.direction, 'outgoing');
    assert.equal(hooks[0]?.envelope.data.payload.state, 'bridging');
    assert.ok(hooks.every((h) => h.envelope.data.payload.client_state === clientState), 'client_state rides along');
    const initiatedAt = Date.parse(hooks[0]?.envelope.data.occurred_at ?? '');
    const answeredAt = Date.parse(hooks[1]?.envelope.data.occurred_at ?? '');
    assert.ok(answeredAt - initiatedAt >= 90, 'the callee rang before answering');
    assert.equal(hooks.at(-1)?.envelope.data.payload.hangup_source, 'caller');
    assert.equal(report.endedBy, 'gateway');
    // Real time: never more frames than the answered time allows.
    assert.ok(report.framesSent >= 10 && report.framesSent <= report.cdr.duration_ms / 20 + 1, `frames ${report.framesSent} in ${report.cdr.duration_ms} ms`);
    assert.ok(report.echo.correlation > 0.9);
    const session = media.sessions.get(pathId) as MediaSession;
    assert.equal(session.upgradeHeaders['x-telnyx-streaming-auth-token'], token);
    await session.closed;
    assert.equal(session.closeCode, 1000);
    assert.equal(report.cdr.direction, 'outgoing');
    assert.ok(report.cdr.duration_ms >= 250 && report.cdr.duration_ms < 3000);
  });

  it('no answer: hang-up with cause timeout, CDR with no answer', async () => {
    const call = sim.placeInboundCall({ from: '+15551230002', to: TO_NO_ANSWER, durationMs: 1000 });
    const report = await call.done;
    assert.equal(report.endedBy, 'timeout');
    assert.deepEqual(gatewayHooks.eventsFor(call.id), ['call.initiated', 'call.hangup']);
    const hangup = (await gatewayHooks.waitFor(call.id, 'call.hangup')).envelope.data.payload;
    assert.equal(hangup.hangup_cause, 'timeout');
    assert.equal(report.cdr.answered_at, null);
    assert.equal(report.cdr.duration_secs, 0);
    assert.equal(report.cdr.duration_ms, 0);
    assert.equal(report.framesSent, 0);
  });

  it('an inbound call rings for its own answerTimeoutSeconds, bounded (demo --kill-gateway: a slow gateway start)', async () => {
    // This simulator gives up after 3 s; the call asks for 0.5 s and is hung up after that, not 3 s.
    const placed = await api('POST', '/sim/calls/inbound', { from: '+15551230010', to: TO_NO_ANSWER, seconds: 1, answerTimeoutSeconds: 0.5 });
    assert.equal(placed.status, 200);
    const call = sim.liveCall(placed.body.call_control_id);
    assert.ok(call, 'the call is live');
    const report = await call.done;
    assert.equal(report.endedBy, 'timeout');
    assert.equal(report.endReason, 'not answered within 500 ms');
    for (const bad of [0, -1, 121, '30', Number.MAX_VALUE]) {
      const refused = await api('POST', '/sim/calls/inbound', { from: '+15551230011', to: TO_NO_ANSWER, seconds: 1, answerTimeoutSeconds: bad });
      assert.equal(refused.status, 422, `answerTimeoutSeconds ${String(bad)}`);
      assert.match(refused.body.errors[0].detail, /^answerTimeoutSeconds: must be a number of seconds above 0 and at most 120$/);
    }
  });

  it('refused upgrade and unknown tunnel host: streaming.failed, then the call is hung up', async () => {
    const refusedBefore = media.refusedUpgrades;
    const bad = sim.placeInboundCall({ from: '+15551230003', to: TO_BAD_TOKEN, durationMs: 1000 });
    const unknown = sim.placeInboundCall({ from: '+15551230004', to: TO_UNKNOWN_HOST, durationMs: 1000 });
    const [badReport, unknownReport] = await Promise.all([bad.done, unknown.done]);
    assert.equal(media.refusedUpgrades, refusedBefore + 1);
    for (const [call, report] of [[bad, badReport], [unknown, unknownReport]] as const) {
      assert.equal(report.endedBy, 'stream_failed');
      assert.deepEqual(platform.eventsFor(call.id), ['call.initiated', 'call.answered', 'streaming.failed', 'call.hangup']);
    }
    const badFail = (await platform.waitFor(bad.id, 'streaming.failed')).envelope.data.payload;
    assert.match(String(badFail.failure_reason), /401/);
    const unknownFail = (await platform.waitFor(unknown.id, 'streaming.failed')).envelope.data.payload;
    assert.match(String(unknownFail.failure_reason), /unknown-tunnel\.example/);
  });

  it('marks come back after queued audio plays, clear returns them at once; DTMF; PCMA', async () => {
    const clearSentAt: number[] = [];
    const markSentAt = new Map<string, number>();
    media.onFrame = (session, frame) => {
      if (frame.event !== 'media' || session.mediaArrivals.length === 0) return;
      const n = session.mediaArrivals.length;
      const payload = (frame.media as { payload: string }).payload;
      const ws = session.socket;
      if (n === 10) {
        markSentAt.set('after-10', performance.now());
        ws.send(JSON.stringify({ event: 'mark', mark: { name: 'after-10' } }));
      } else if (n === 20 || n === 30) {
        for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ event: 'media', media: { payload } }));
        const name = n === 20 ? 'cleared' : 'queued';
        markSentAt.set(name, performance.now());
        ws.send(JSON.stringify({ event: 'mark', mark: { name } }));
        if (n === 20) {
          clearSentAt.push(performance.now());
          ws.send('{"event":"clear"}');
        }
      } else if (n === 40) {
        ws.send('not json');
      }
    };
    try {
      const call = sim.placeInboundCall({
        from: '+15551230005',
        to: TO_MARKS,
        durationMs: 1000,
        codec: 'PCMA',
        dtmf: [
          { atMs: 200, digit: '5' },
          { atMs: 400, digit: '#' },
        ],
      });
      const report = await call.done;
      const session = media.sessions.get(call.id) as MediaSession;
      assert.equal((session.frames[1] as any).start.media_format.encoding, 'PCMA');
      const back = new Map(session.marksBack.map((m) => [m.name, m.at]));
      const delay = (name: string): number => (back.get(name) ?? Infinity) - (markSentAt.get(name) ?? 0);
      // A mark waits for the audio queued before it (5 extra frames: 100 ms more), unless cleared.
      assert.ok(delay('after-10') >= 0 && delay('after-10') < 250, `after-10 back in ${delay('after-10').toFixed(1)} ms`);
      assert.ok(delay('queued') >= 90 && delay('queued') < 400, `queued mark back in ${delay('queued').toFixed(1)} ms`);
      assert.ok(delay('cleared') < 90, `cleared mark back in ${delay('cleared').toFixed(1)} ms`);
      assert.equal(report.marksEchoed, 3);
      assert.equal(report.clearsReceived, 1);
      assert.equal(report.malformedFrames, 1);
      assert.equal(report.framesReturned, report.framesSent + 10);

      const digits = session.frames.filter((f) => f.event === 'dtmf').map((f) => (f.dtmf as { digit: string }).digit);
      assert.deepEqual(digits, ['5', '#']);
      const dtmfHooks = gatewayHooks.accepted(call.id).filter((h) => h.envelope.data.event_type === 'call.dtmf.received');
      assert.deepEqual(dtmfHooks.map((h) => h.envelope.data.payload.digit), ['5', '#']);
      assert.equal(report.dtmfSent, 2);

      // PCMA decoded right: the first 19 echoed frames (before the extra audio) match what was sent.
      const head = 19 * 160;
      const check = bestLagCorrelation(report.sentPcm.subarray(0, head), report.returnedPcm.subarray(0, head), 160);
      assert.ok(check.correlation > 0.95, `PCMA echo correlation ${check.correlation}`);
    } finally {
      media.onFrame = null;
    }
  });

  it('streams G.722 at 16 kHz (160-byte frames) and decodes the echo', async () => {
    const call = sim.placeInboundCall({ from: '+15551230007', to: TO_ECHO, durationMs: 600, codec: 'G722', seed: 7 });
    const report = await call.done;
    const session = media.sessions.get(call.id) as MediaSession;
    const format = (session.frames[1] as any).start.media_format;
    assert.deepEqual(format, { encoding: 'G722', sample_rate: 16000, channels: 1 });
    const payloads = session.frames.filter((f) => f.event === 'media').map((f) => Buffer.from((f.media as { payload: string }).payload, 'base64'));
    assert.ok(payloads.length >= 25, `${payloads.length} frames`);
    for (const p of payloads) assert.equal(p.length, 160);
    // The double echoes the G.722 bytes back; the simulator decodes them (and resamples to its 8 kHz) for the recorder.
    assert.equal(report.framesReturned, report.framesSent);
    const check = bestLagCorrelation(report.sentPcm, report.returnedPcm, 400);
    assert.ok(check.correlation > 0.99, `G.722 echo correlation ${check.correlation}`);
  });

  it('return leg rate: documented values only, a pair that cannot be played refused, L16 decoded at the declared rate', async () => {
    const dial = (pathId: string, extra: Record<string, unknown>) => ({
      connection_id: 'conn-1',
      from: '+15550001000',
      to: '+15550002000',
      stream_url: `wss://${TUNNEL_HOST}/v1/media/${pathId}`,
      stream_auth_token: `token-${pathId}`,
      stream_bidirectional_mode: 'rtp',
      ...extra,
    });
    // Telnyx's documented values (developers.telnyx.com/api-reference/call-commands/streaming-start).
    const odd = await api('POST', '/v2/calls', dial('rate-odd', { stream_bidirectional_codec: 'L16', stream_bidirectional_sampling_rate: 12345 }));
    assert.equal(odd.status, 422);
    assert.equal(odd.body.errors[0].code, '10032');
    const asText = await api('POST', '/v2/calls', dial('rate-text', { stream_bidirectional_codec: 'L16', stream_bidirectional_sampling_rate: '16000' }));
    assert.equal(asText.status, 422);
    // G.711 is 8 kHz only; Opus has no 22050; either codec named directly or through stream_codec.
    for (const extra of [
      { stream_bidirectional_codec: 'PCMU', stream_bidirectional_sampling_rate: 16000 },
      { stream_codec: 'PCMA', stream_bidirectional_sampling_rate: 48000 },
      { stream_bidirectional_codec: 'OPUS', stream_bidirectional_sampling_rate: 22050 },
      { stream_bidirectional_codec: 'G722', stream_bidirectional_sampling_rate: 24000 },
    ]) {
      const refused = await api('POST', '/v2/calls', dial('rate-mismatch', extra));
      assert.equal(refused.status, 422, JSON.stringify(extra));
      assert.match(refused.body.errors[0].detail, /^stream_bidirectional_sampling_rate: \d+ does not fit/);
    }

    // The double echoes the gateway-side bytes: 20 ms of L16 at 16 kHz (640 bytes) each.
    const echoAt = async (pathId: string, rate: number | undefined) => {
      media.tokens.set(pathId, `token-${pathId}`);
      const extra = { stream_codec: 'L16', stream_bidirectional_codec: 'L16', ...(rate === undefined ? {} : { stream_bidirectional_sampling_rate: rate }) };
      const placed = await api('POST', '/v2/calls', dial(pathId, extra));
      assert.equal(placed.status, 200, JSON.stringify(placed.body));
      const id: string = placed.body.data.call_control_id;
      const call = sim.liveCall(id);
      assert.ok(call);
      await gatewayHooks.waitFor(id, 'streaming.started');
      await sleep(600);
      assert.equal((await api('POST', actionPath(id, 'hangup'), {})).status, 200);
      return call.done;
    };
    const declared = await echoAt('rate-16k', 16000);
    assert.ok(declared.framesReturned > 10);
    assert.ok(declared.echo.correlation > 0.9, `L16 declared at 16000: echo correlation ${declared.echo.correlation}`);
    // Per frame, not in total: the frames still in flight at the hangup never come back (more of them on a loaded machine).
    const perFrame = (report: typeof declared): { sent: number; back: number; why: string } => {
      const sent = report.sentPcm.length / report.framesSent;
      const back = report.returnedPcm.length / report.framesReturned;
      return { sent, back, why: `${back} samples per frame back for ${sent} sent (${report.framesReturned}/${report.framesSent} frames)` };
    };
    const declaredRatio = perFrame(declared);
    assert.ok(Math.abs(declaredRatio.back - declaredRatio.sent) <= 1, declaredRatio.why);
    // No rate: Telnyx's default 8000, so the same 16 kHz frames last twice as long (the voice at half speed).
    const undeclared = await echoAt('rate-default', undefined);
    assert.ok(undeclared.framesReturned > 10);
    const undeclaredRatio = perFrame(undeclared);
    assert.ok(Math.abs(undeclaredRatio.back - 2 * undeclaredRatio.sent) <= 1, undeclaredRatio.why);
    assert.ok(undeclared.echo.correlation < 0.5, `echo correlation ${undeclared.echo.correlation}`);
  });

  it('REST refusals: 401, 404, 422 (bad number, invalid state, 90018), 400, 413', async () => {
    const noAuth = await api('GET', '/v2/detail_records?filter[record_type]=call-control', undefined, null);
    assert.equal(noAuth.status, 401);
    assert.deepEqual(noAuth.body, { errors: [{ code: '10009', title: 'Authentication failed' }] });
    const wrongKey = await api('POST', '/v2/calls', { connection_id: 'c', from: '+15550001000', to: '+15550002000' }, 'wrong-key');
    assert.equal(wrongKey.status, 401);
    assert.equal(wrongKey.body.errors[0].code, '10009');

    const unknownId = 'v3:does-not-exist';
    assert.equal((await api('GET', `/v2/calls/${encodeURIComponent(unknownId)}`)).status, 404);
    const unknownHangup = await api('POST', actionPath(unknownId, 'hangup'), {});
    assert.equal(unknownHangup.status, 404);
    assert.equal(unknownHangup.body.errors[0].code, '10005');
    assert.equal((await api('GET', '/sim/calls/nope')).status, 404);
    assert.equal((await api('GET', '/v2/nothing-here')).status, 404);

    const badNumber = await api('POST', '/v2/calls', { connection_id: 'c', from: '+15550001000', to: '5550002000' });
    assert.equal(badNumber.status, 422);
    assert.equal(badNumber.body.errors[0].code, '10016');
    assert.match(badNumber.body.errors[0].detail, /^to:/);
    const missing = await api('POST', '/v2/calls', { from: '+15550001000', to: '+15550002000' });
    assert.equal(missing.status, 422);
    const badInbound = await api('POST', '/sim/calls/inbound', { from: 'anonymous', to: TO_ECHO, seconds: 1 });
    assert.equal(badInbound.status, 422);
    const badCodec = await api('POST', '/v2/calls', {
      connection_id: 'c',
      from: '+15550001000',
      to: '+15550002000',
      stream_url: `wss://${TUNNEL_HOST}/x`,
      stream_bidirectional_codec: 'AMR-WB',
    });
    assert.equal(badCodec.status, 422);

    // Invalid state: answering a parked call twice; then hang-ups on an ended call.
    const call = sim.placeInboundCall({ from: '+15551230006', to: TO_NO_ANSWER, durationMs: 1000 });
    const streamless = await api('POST', actionPath(call.id, 'answer'), {});
    assert.equal(streamless.status, 200);
    const twice = await api('POST', actionPath(call.id, 'answer'), {});
    assert.equal(twice.status, 422);
    assert.equal((await api('POST', actionPath(call.id, 'streaming_stop'), {})).status, 422);
    assert.equal((await api('POST', actionPath(call.id, 'record_start'), {})).status, 200);
    assert.equal((await api('POST', actionPath(call.id, 'hangup'), {})).status, 200);
    const again = await api('POST', actionPath(call.id, 'hangup'), {});
    assert.equal(again.status, 422);
    assert.equal(again.body.errors[0].code, '90018');
    const report = await call.done;
    assert.equal(report.endedBy, 'gateway');
    assert.deepEqual(platform.eventsFor(call.id), ['call.initiated', 'call.answered', 'call.hangup', 'call.recording.saved']);
    const hangup = (await platform.waitFor(call.id, 'call.hangup')).envelope.data.payload;
    assert.equal(hangup.hangup_source, 'callee', 'the API side of an inbound call is the callee');
    assert.equal((await api('POST', actionPath(call.id, 'answer'), {})).body.errors[0].code, '90018');

    const badJson = await api('POST', '/v2/calls', '{"connection_id":');
    assert.equal(badJson.status, 400);
    const huge = await api('POST', '/v2/calls', { connection_id: 'x'.repeat(70 * 1024) });
    assert.equal(huge.status, 413);
  });

  it('streaming_start and streaming_stop on an answered call; the call goes on without media', async () => {
    // The caller talks until the test ends its talk (end_talk below): a fixed 700 ms talk ended
    // before the stop under load, and the stop got 422 (call ended).
    const call = sim.placeInboundCall({ from: '+15551230008', to: TO_NO_ANSWER, durationMs: 60_000 });
    await gatewayHooks.waitFor(call.id, 'call.initiated');
    assert.equal((await api('POST', actionPath(call.id, 'answer'), {})).status, 200);
    const pathId = 'late-stream';
    media.tokens.set(pathId, 'late-token');
    const started = await api('POST', actionPath(call.id, 'streaming_start'), {
      stream_url: `wss://${TUNNEL_HOST}/v1/media/${pathId}`,
      stream_auth_token: 'late-token',
      stream_codec: 'AMR-WB', // not offered: the start frame says what is really sent
    });
    assert.equal(started.status, 200);
    await gatewayHooks.waitFor(call.id, 'streaming.started');
    await sleep(200);
    assert.equal((await api('POST', actionPath(call.id, 'streaming_stop'), {})).status, 200);
    const session = media.sessions.get(pathId) as MediaSession;
    await session.closed;
    assert.equal(call.isAlive, true, 'the call goes on without media');
    // The caller stops talking now and hangs up as at its talk's end (what `ttma demo --kill-gateway` uses).
    const endTalk = `/sim/calls/${encodeURIComponent(call.id)}/end_talk`;
    const ended = await api('POST', endTalk);
    assert.equal(ended.status, 200);
    assert.ok(ended.body.data.talked_ms >= 200, `talked ${ended.body.data.talked_ms} ms`);
    const report = await call.done;
    assert.equal((await api('POST', endTalk)).status, 404, 'the call is over');
    assert.equal(session.closeCode, 1000);
    assert.equal((session.frames[1] as any).start.media_format.encoding, 'PCMU');
    assert.equal((session.frames.at(-1) as any).event, 'stop');
    assert.deepEqual(platform.eventsFor(call.id), [
      'call.initiated', 'call.answered', 'streaming.started', 'streaming.stopped', 'call.hangup',
    ]);
    assert.equal(report.endedBy, 'caller', 'the caller hangs up when done talking, stream or not');
    assert.ok(report.framesSent >= 5, `frames ${report.framesSent}`);
    // Nothing is sent once the stream is stopped: every frame the call sent is on the stream.
    assert.equal(report.framesSent, session.frames.filter((f) => f.event === 'media').length);
  });

  it('a lost stream is not the call: the call goes on without media, and streaming_start opens a new stream', async () => {
    const call = sim.placeInboundCall({ from: '+15551230009', to: TO_NO_ANSWER, durationMs: 60_000 });
    await gatewayHooks.waitFor(call.id, 'call.initiated');
    media.tokens.set('first-stream', 'first-token');
    media.tokens.set('second-stream', 'second-token');
    const streamOf = (pathId: string, token: string) => ({ stream_url: `wss://${TUNNEL_HOST}/v1/media/${pathId}`, stream_auth_token: token });
    assert.equal((await api('POST', actionPath(call.id, 'answer'), streamOf('first-stream', 'first-token'))).status, 200);
    await gatewayHooks.waitFor(call.id, 'streaming.started');
    // Under load 200 ms may carry fewer frames: wait for them, bounded.
    await waitFor('frames on the first stream', () => (media.sessions.get('first-stream')?.mediaArrivals.length ?? 0) > 3, 5_000).catch(() => undefined);
    const first = media.sessions.get('first-stream') as MediaSession;
    const framesBefore = first.mediaArrivals.length;
    assert.ok(framesBefore > 3, `frames on the first stream: ${framesBefore}`);

    // The path to the gateway breaks: no close frame reaches the gateway, the call stays up.
    // Through the simulator's fault-injection route (what `ttma demo --drop-streams` uses), with its key.
    const dropPath = `/sim/calls/${encodeURIComponent(call.id)}/drop_stream`;
    assert.equal((await api('POST', dropPath)).status, 200);
    assert.equal((await api('POST', dropPath)).status, 422, 'nothing left to drop');
    assert.equal(call.dropStream(), false);
    assert.equal((await api('POST', '/sim/calls/v3:no-such-call/drop_stream')).status, 404);
    // Its half-open sibling (exercised end to end in test/e2e/streamRestart.test.ts) has nothing to stall either.
    assert.equal((await api('POST', `/sim/calls/${encodeURIComponent(call.id)}/stall_stream`)).status, 422);
    assert.equal(call.stallStream(), false);
    assert.equal((await api('POST', '/sim/calls/v3:no-such-call/stall_stream')).status, 404);
    assert.equal((await fetch(`${base}${dropPath}`, { method: 'POST' })).status, 401, 'the API key is required');
    assert.throws(() => sim.setTunnelDown('no-such-tunnel.example', true), /no tunnel serves host/);
    // The same through the fault-injection routes (`ttma demo --tunnel-outage`).
    assert.equal((await api('POST', '/sim/tunnels/no-such-tunnel.example/down')).status, 404);
    assert.equal((await api('POST', `/sim/tunnels/${TUNNEL_HOST}/down`)).status, 200);
    assert.equal((await api('POST', `/sim/tunnels/${TUNNEL_HOST}/up`)).status, 200);
    assert.equal((await fetch(`${base}/sim/tunnels/${TUNNEL_HOST}/down`, { method: 'POST' })).status, 401, 'the API key is required');
    await first.closed;
    assert.equal(first.closeCode, 1006, 'an abnormal closure: the connection was lost, not closed');
    await gatewayHooks.waitFor(call.id, 'streaming.stopped');
    const framesAtDrop = first.mediaArrivals.length;
    await sleep(100);
    assert.equal(call.isAlive, true);
    assert.equal(first.mediaArrivals.length, framesAtDrop, 'no frames after the drop');

    // The gateway asks for a new stream; frames flow on it.
    assert.equal((await api('POST', actionPath(call.id, 'streaming_start'), streamOf('second-stream', 'second-token'))).status, 200);
    // A few frames, however long a loaded machine takes to carry them (bounded; the assertion below says what came).
    await waitFor('frames on the second stream', () => (media.sessions.get('second-stream')?.mediaArrivals.length ?? 0) > 3, 5_000).catch(() => undefined);
    const second = media.sessions.get('second-stream') as MediaSession;
    assert.equal(second.upgradeHeaders['x-telnyx-streaming-auth-token'], 'second-token');
    assert.equal((second.frames[1] as any).start.call_control_id, call.id);
    assert.ok(second.mediaArrivals.length > 3, `frames on the second stream: ${second.mediaArrivals.length}`);

    // The gateway closing its end is a stream lost too, not a hang-up.
    second.socket.close(1000, 'gateway closed its end');
    await second.closed;
    for (let i = 0; i < 100 && gatewayHooks.eventsFor(call.id).filter((e) => e === 'streaming.stopped').length < 2; i++) await sleep(10);
    assert.equal(call.isAlive, true, 'the call goes on');
    assert.equal((await api('POST', actionPath(call.id, 'hangup'), {})).status, 200);
    const report = await call.done;
    assert.equal(report.endedBy, 'gateway');
    assert.equal(report.streamsOpened, 2);
    assert.equal(report.streamsLost, 2);
    assert.deepEqual(platform.eventsFor(call.id), [
      'call.initiated', 'call.answered', 'streaming.started', 'streaming.stopped', 'streaming.started', 'streaming.stopped', 'call.hangup',
    ]);
  });

  it('stop() ends live calls with their hang-up webhooks and is idempotent', async () => {
    const call = sim.placeInboundCall({ from: '+15551230007', to: TO_LONG, durationMs: 5000 });
    await gatewayHooks.waitFor(call.id, 'streaming.started');
    await sleep(100);
    const stopping = sim.stop();
    const stoppingAgain = sim.stop();
    assert.equal(stopping, stoppingAgain);
    await stopping;
    const report = await call.done;
    assert.equal(report.endedBy, 'error');
    assert.equal(report.endReason, 'simulator stopped');
    assert.ok(gatewayHooks.eventsFor(call.id).includes('call.hangup'));
    assert.ok(report.framesSent > 0 && report.framesSent < 20);
    await assert.rejects(fetch(`${base}/sim/calls`, { headers: { authorization: `Bearer ${API_KEY}` } }));
  });
});

describe('webhook delivery', () => {
  it('retries a 5xx and a network error up to 3 attempts, never a 4xx, in order per URL', async () => {
    const flaky = new WebhookReceiver('flaky');
    const refusing = new WebhookReceiver('refusing');
    flaky.statusPlan = (_e, attempt) => (attempt === 1 ? 503 : 200);
    refusing.statusPlan = () => 400;
    const flakyUrl = await flaky.listen();
    const refusingUrl = await refusing.listen();
    // A port nobody listens on: connection refused, every attempt.
    const dead = new WebhookReceiver('dead');
    const deadUrl = await dead.listen();
    await dead.close();
    const sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [flakyUrl, refusingUrl, deadUrl],
      tunnels: {},
      answerTimeoutMs: 200,
      logger: quiet,
    });
    await sim.start();
    flaky.setPublicKey(sim.publicKeyBase64);
    refusing.setPublicKey(sim.publicKeyBase64);
    try {
      const call = sim.placeInboundCall({ from: '+15551239999', to: '+15557659999', durationMs: 1000 });
      const report = await call.done;
      const byEvent = (r: WebhookReceiver, type: string): WebhookEnvelope[] =>
        r.received.filter((h) => h.envelope.data.event_type === type).map((h) => h.envelope);
      for (const type of ['call.initiated', 'call.hangup']) {
        const tries = byEvent(flaky, type);
        assert.deepEqual(tries.map((e) => e.meta.attempt), [1, 2], `${type}: retried once after a 503`);
        assert.equal(tries[0]?.data.id, tries[1]?.data.id, 'a retry is the same event');
        assert.deepEqual(byEvent(refusing, type).map((e) => e.meta.attempt), [1], `${type}: a 400 is final`);
      }
      assert.ok(flaky.received.every((h) => h.verified) && refusing.received.every((h) => h.verified));
      assert.deepEqual(flaky.received.map((h) => h.envelope.data.event_type), ['call.initiated', 'call.initiated', 'call.hangup', 'call.hangup']);
      // Per event: flaky URL first, then the refusing one, then the dead one (3 failed attempts).
      const initiatedRefused = refusing.received[0]?.at ?? 0;
      const flakySecond = flaky.received[1]?.at ?? Infinity;
      assert.ok(flakySecond <= initiatedRefused);
      assert.equal(report.webhooksFailed, 4, 'refusing and dead URLs, two events each');
      assert.deepEqual(sim.webhookStats, { events: 2, delivered: 2, failed: 4, attempts: 2 * (2 + 1 + 3) });
    } finally {
      await sim.stop();
      await Promise.all([flaky.close(), refusing.close()]);
    }
  });
});

describe('load options', () => {
  it('bank audio and node signing: signed webhooks still verify, calls stay distinct and echo', async () => {
    const receiver = new WebhookReceiver('gateway');
    const media = new MediaServer(receiver);
    const origin = await media.listen();
    const sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [`https://${TUNNEL_HOST}/v1/webhooks/provider`],
      tunnels: { [TUNNEL_HOST]: origin },
      audioSource: 'bank',
      signWith: 'node',
      logger: quiet,
    });
    const { port } = await sim.start();
    receiver.setPublicKey(sim.publicKeyBase64);
    receiver.onEvent = (hook) => {
      const data = hook.envelope.data;
      if (data.event_type !== 'call.initiated') return;
      const id = data.payload.call_control_id;
      media.tokens.set(id, 'tok');
      void fetch(`http://127.0.0.1:${port}/v2/calls/${encodeURIComponent(id)}/actions/answer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ stream_url: `wss://${TUNNEL_HOST}/v1/media/${encodeURIComponent(id)}`, stream_auth_token: 'tok' }),
      });
    };
    try {
      const calls = [0, 1].map((i) => sim.placeInboundCall({ from: `+1555123100${i}`, to: TO_ECHO, durationMs: 600 }));
      const [a, b] = await Promise.all(calls.map((c) => c.done));
      assert.ok(a && b);
      assert.ok(receiver.received.length >= 10 && receiver.received.every((h) => h.verified));
      for (const report of [a, b]) {
        assert.equal(report.endedBy, 'caller');
        assert.ok(report.echo.correlation > 0.9);
        assert.ok(report.framesSent >= 28 && report.framesSent <= 32);
      }
      const cross = bestLagCorrelation(a.sentPcm, b.sentPcm, 4000);
      assert.ok(Math.abs(cross.correlation) < 0.3, `two calls' audio correlates ${cross.correlation}`);
    } finally {
      await sim.stop();
      await Promise.all([receiver.close(), media.close()]);
    }
  });
});
