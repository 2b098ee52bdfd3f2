/**
 * The simulator's call recordings, the way Telnyx serves them: signed URLs
 * that expire (its pre-signed storage URLs), byte ranges on them, and the
 * call recordings API (`GET /v2/recordings`, `/v2/recordings/{id}`). All
 * through the real simulator over HTTP on loopback, with real recorded calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { createLogger } from '../../src/log.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { WebhookReceiver, sleep } from './gatewayDouble.js';

const API_KEY = 'sim-recordings-key-0123456789';
const quiet = createLogger('sim-recordings-test', 'silent');
/** Short, so expiry is seen in about a second; long enough that a fresh URL still works on a loaded machine. */
const TTL_MS = 1_000;
const SIGNED_URL = /^http:\/\/127\.0\.0\.1:\d+\/sim\/recordings\/([0-9a-f]{32})\.mp3\?expires=(\d+)&signature=([0-9a-f]{64})$/;

interface Recorded {
  callId: string;
  legId: string;
  sessionId: string;
  recordingId: string;
  /** The URL of call.recording.saved's recording_urls. */
  url: string;
  payload: Record<string, any>;
}

describe('simulator recordings', () => {
  const hooks = new WebhookReceiver('platform');
  let hookUrl: string;
  let sim: ProviderSimulator;
  /** Recorded 250 ms, after `second`: the newest. */
  let first: Recorded;
  /** Recorded 100 ms, before `first`. */
  let second: Recorded;

  async function api(sim: ProviderSimulator, method: string, path: string, body?: unknown, key: string | null = API_KEY): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${sim.baseUrl}${path}`, init);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** An inbound call answered without media, recorded for `recordMs`, hung up; its saved event. */
  async function recordCall(target: ProviderSimulator, from: string, recordMs: number, format: 'mp3' | 'wav' = 'mp3'): Promise<Recorded> {
    const call = target.placeInboundCall({ from, to: '+15557660001', durationMs: 10_000 });
    const action = (name: string): string => `/v2/calls/${encodeURIComponent(call.id)}/actions/${name}`;
    assert.equal((await api(target, 'POST', action('answer'), {})).status, 200);
    assert.equal((await api(target, 'POST', action('record_start'), { format, channels: 'single' })).status, 200);
    await sleep(recordMs);
    assert.equal((await api(target, 'POST', action('hangup'), {})).status, 200);
    const saved = (await hooks.waitFor(call.id, 'call.recording.saved')).envelope.data.payload as Record<string, any>;
    return {
      callId: call.id,
      legId: call.legId,
      sessionId: call.sessionId,
      recordingId: saved.recording_id,
      url: saved.recording_urls[format],
      payload: saved,
    };
  }

  /** The same URL with one query value replaced (or removed with null). */
  function withQuery(url: string, name: string, value: string | null): string {
    const u = new URL(url);
    if (value === null) u.searchParams.delete(name);
    else u.searchParams.set(name, value);
    return u.toString();
  }

  before(async () => {
    hookUrl = await hooks.listen();
    sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [hookUrl],
      tunnels: {},
      signWith: 'node',
      recordingUrlTtlMs: TTL_MS,
      logger: quiet,
    });
    await sim.start();
    hooks.setPublicKey(sim.publicKeyBase64);
    second = await recordCall(sim, '+15557660102', 100);
    // 250 ms of recording: 7 frames of 144 bytes (Mp3Silence), enough for the range cases.
    // Recorded last, so its saved URL (valid TTL_MS) is still good for the first test.
    first = await recordCall(sim, '+15557660101', 250);
  });

  after(async () => {
    await sim?.stop();
    await hooks.close();
  });

  it('call.recording.saved carries a signed URL that downloads a real MP3, the bytes the simulator kept', async () => {
    for (const key of ['recording_urls', 'public_recording_urls']) {
      assert.match(first.payload[key].mp3, SIGNED_URL, key);
    }
    // As Telnyx's: the call's ids, no direction and no numbers (developers.telnyx.com/api-reference/callbacks/call-recording-saved).
    for (const absent of ['direction', 'from', 'to']) assert.equal(absent in first.payload, false, absent);
    assert.equal(typeof first.payload.call_control_id, 'string');
    const [, id, expires] = SIGNED_URL.exec(first.url)!;
    assert.equal(id, first.recordingId);
    // Valid TTL_MS from the call's end, rounded up to the second.
    const expiresMs = Number(expires) * 1000;
    assert.ok(expiresMs >= Date.parse(first.payload.recording_ended_at) + TTL_MS, `expires ${expires}`);
    assert.ok(expiresMs <= Date.now() + TTL_MS + 1000, `expires ${expires}`);

    const res = await fetch(first.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'audio/mpeg');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), bytes.length);
    assert.deepEqual(bytes, sim.recording(first.recordingId));
    // MPEG-1 Layer III frames (Mp3Silence): frame sync, then 144-byte frames.
    assert.equal(bytes[0], 0xff);
    assert.equal(bytes[1]! & 0xe0, 0xe0);
    assert.equal(bytes.length % 144, 0);
    assert.ok(bytes.length >= 144 * 5, `${bytes.length} bytes for 250 ms`);
    assert.equal(bytes[144], 0xff, 'the second frame starts with a sync too');
  });

  it('record_start with format wav: a real WAV (8 kHz, 16-bit mono) at a .wav URL; the .mp3 key of the same id is no object', async () => {
    const wav = await recordCall(sim, '+15557660103', 300, 'wav');
    assert.deepEqual(Object.keys(wav.payload.recording_urls), ['wav']);
    assert.equal(wav.payload.format, 'wav');
    const signed = /^http:\/\/127\.0\.0\.1:\d+\/sim\/recordings\/([0-9a-f]{32})\.wav\?expires=\d+&signature=[0-9a-f]{64}$/.exec(wav.url);
    assert.ok(signed, wav.url);
    const res = await fetch(wav.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'audio/wav');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.deepEqual(bytes, sim.recording(wav.recordingId));
    assert.equal(bytes.toString('ascii', 0, 4), 'RIFF');
    assert.equal(bytes.readUInt32LE(4), bytes.length - 8);
    assert.equal(bytes.toString('ascii', 8, 16), 'WAVEfmt ');
    assert.deepEqual([bytes.readUInt16LE(20), bytes.readUInt16LE(22), bytes.readUInt32LE(24), bytes.readUInt16LE(34)], [1, 1, 8000, 16]);
    assert.equal(bytes.toString('ascii', 36, 40), 'data');
    const seconds = bytes.readUInt32LE(40) / 16_000;
    const recordedMs = Date.parse(wav.payload.recording_ended_at) - Date.parse(wav.payload.recording_started_at);
    assert.ok(Math.abs(seconds * 1000 - recordedMs) <= 50, `${seconds} s of audio for ${recordedMs} ms recorded`);
    // The same id and signature under the other extension: S3 would find no such key.
    const other = await fetch(wav.url.replace('.wav?', '.mp3?'));
    assert.equal(other.status, 404);
    assert.match(await other.text(), /<Code>NoSuchKey<\/Code>/);
    // The recordings API hands out a .wav URL for it too.
    const found = await api(sim, 'GET', `/v2/recordings/${wav.recordingId}`);
    assert.deepEqual(Object.keys(found.body.data.download_urls), ['wav']);
    assert.match(found.body.data.download_urls.wav, /\.wav\?/);
    // An MP3 recording is not served as WAV either.
    assert.equal((await fetch(sim.recordingUrl(first.recordingId).replace('.mp3?', '.wav?'))).status, 404);
  });

  it('the saved URL answers 403 once expired, while the recordings API hands out a fresh URL that works', async () => {
    const call = await recordCall(sim, '+15557660103', 50);
    assert.equal((await fetch(call.url)).status, 200, 'valid before it expires');
    const expiresMs = Number(SIGNED_URL.exec(call.url)![2]) * 1000;
    await sleep(Math.max(0, expiresMs - Date.now()) + 20);
    const expired = await fetch(call.url);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /AccessDenied/);

    const listed = await api(sim, 'GET', `/v2/recordings?filter[call_leg_id]=${encodeURIComponent(call.legId)}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.data.length, 1);
    const fresh = listed.body.data[0].download_urls.mp3 as string;
    assert.match(fresh, SIGNED_URL);
    assert.notEqual(fresh, call.url);
    const again = await fetch(fresh);
    assert.equal(again.status, 200);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), sim.recording(call.recordingId));
  });

  it('a missing, tampered or wrong-length signature, or a tampered expiry, is refused 403; an unknown id 404', async () => {
    const url = sim.recordingUrl(first.recordingId, 60_000);
    assert.equal((await fetch(url)).status, 200, 'the untampered URL works');
    const [, , expires, signature] = SIGNED_URL.exec(url)!;
    const flipped = (signature!.startsWith('0') ? '1' : '0') + signature!.slice(1);
    const refused: Array<[string, string]> = [
      ['tampered signature', withQuery(url, 'signature', flipped)],
      ['missing signature', withQuery(url, 'signature', null)],
      ['missing expires', withQuery(url, 'expires', null)],
      ['short signature', withQuery(url, 'signature', signature!.slice(0, 63))],
      ['long signature', withQuery(url, 'signature', `${signature}0`)],
      ['uppercase signature', withQuery(url, 'signature', signature!.toUpperCase())],
      ['later expiry', withQuery(url, 'expires', String(Number(expires) + 3600))],
      ['non-numeric expiry', withQuery(url, 'expires', `${expires}x`)],
      ['another recording\'s id', url.replace(first.recordingId, second.recordingId)],
    ];
    for (const [what, bad] of refused) {
      const res = await fetch(bad);
      assert.equal(res.status, 403, what);
      assert.match(await res.text(), /<Code>AccessDenied<\/Code>/, what);
    }
    // Signed but never recorded: the signature is checked first, then the object.
    const unknown = 'ab'.repeat(16);
    assert.equal((await fetch(sim.recordingUrl(unknown))).status, 404);
    assert.equal((await fetch(`${sim.baseUrl}/sim/recordings/${unknown}.mp3`)).status, 403, 'unsigned: refused before the lookup');
    assert.equal((await fetch(sim.recordingUrl(first.recordingId), { method: 'POST' })).status, 405);
  });

  it('Range: one range gives 206 with the slice, an unsatisfiable one 416, malformed or several the whole file', async () => {
    const url = sim.recordingUrl(first.recordingId, 60_000);
    const whole = sim.recording(first.recordingId)!;
    const total = whole.length;
    const ranged = async (range: string): Promise<{ res: Response; body: Buffer }> => {
      const res = await fetch(url, { headers: { range } });
      return { res, body: Buffer.from(await res.arrayBuffer()) };
    };
    const partial: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=-10', total - 10, total - 1],
      ['bytes=10-', 10, total - 1],
      ['bytes=150-160', 150, 160],
      [`bytes=${total - 5}-${total + 1000}`, total - 5, total - 1],
      [`bytes=-${total + 50}`, 0, total - 1],
    ];
    for (const [range, from, to] of partial) {
      const { res, body } = await ranged(range);
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${from}-${to}/${total}`, range);
      assert.equal(Number(res.headers.get('content-length')), to - from + 1, range);
      assert.equal(res.headers.get('accept-ranges'), 'bytes', range);
      assert.equal(res.headers.get('content-type'), 'audio/mpeg', range);
      assert.deepEqual(body, whole.subarray(from, to + 1), range);
    }
    assert.equal((await ranged('bytes=0-99')).body.length, 100);

    for (const range of [`bytes=${total}-`, `bytes=${total + 10}-${total + 20}`, 'bytes=-0']) {
      const { res } = await ranged(range);
      assert.equal(res.status, 416, range);
      assert.equal(res.headers.get('content-range'), `bytes */${total}`, range);
    }

    for (const range of ['bytes=0-9,20-29', 'bytes=0-9, 50-', 'bytes=abc', 'bytes=20-10', 'items=0-9', 'bytes=-', 'bytes 0-9']) {
      const { res, body } = await ranged(range);
      assert.equal(res.status, 200, range);
      assert.equal(res.headers.get('content-range'), null, range);
      assert.equal(Number(res.headers.get('content-length')), total, range);
      assert.deepEqual(body, whole, range);
    }
  });

  it('HEAD answers the headers of GET without a body', async () => {
    const url = sim.recordingUrl(first.recordingId, 60_000);
    const total = sim.recording(first.recordingId)!.length;
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'audio/mpeg');
    assert.equal(Number(head.headers.get('content-length')), total);
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const ranged = await fetch(url, { method: 'HEAD', headers: { range: 'bytes=0-9' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 0-9/${total}`);
    assert.equal((await fetch(withQuery(url, 'signature', null), { method: 'HEAD' })).status, 403);
  });

  it('GET /v2/recordings: the API key, page bounds, filters by leg and session, newest first, Telnyx fields', async () => {
    assert.equal((await api(sim, 'GET', '/v2/recordings', undefined, null)).status, 401);
    assert.equal((await api(sim, 'GET', '/v2/recordings', undefined, 'not-the-key-0000')).status, 401);
    for (const size of ['0', '251', 'abc', '2.5', '-1', '']) {
      const bad = await api(sim, 'GET', `/v2/recordings?page[size]=${size}`);
      assert.equal(bad.status, 422, `page[size]=${size}`);
      assert.match(bad.body.errors[0].detail, /^page\[size\]:/);
    }
    assert.equal((await api(sim, 'GET', '/v2/recordings?page[number]=0')).status, 422);
    assert.equal((await api(sim, 'GET', '/v2/recordings?page%5Bsize%5D=250')).status, 200, 'brackets percent-encoded, at the bound');

    const bySession = await api(sim, 'GET', `/v2/recordings?filter[call_session_id]=${encodeURIComponent(second.sessionId)}`);
    assert.equal(bySession.status, 200);
    assert.equal(bySession.body.data.length, 1);
    const r = bySession.body.data[0];
    assert.equal(r.record_type, 'recording');
    assert.equal(r.id, second.recordingId);
    assert.equal(r.call_control_id, second.callId);
    assert.equal(r.call_leg_id, second.legId);
    assert.equal(r.call_session_id, second.sessionId);
    assert.equal(r.connection_id, second.payload.connection_id);
    assert.equal(r.channels, 'single');
    assert.equal(r.source, 'call');
    assert.equal(r.status, 'completed');
    assert.equal(r.recording_started_at, second.payload.recording_started_at);
    assert.equal(r.recording_ended_at, second.payload.recording_ended_at);
    assert.ok(Number.isInteger(r.duration_millis) && r.duration_millis >= 100 && r.duration_millis < 5_000, `duration ${r.duration_millis}`);
    assert.ok(!Number.isNaN(Date.parse(r.created_at)));
    assert.deepEqual(Object.keys(r.download_urls), ['mp3']);
    assert.match(r.download_urls.mp3, SIGNED_URL);
    assert.deepEqual(bySession.body.meta, { page_number: 1, page_size: 20, total_pages: 1, total_results: 1 });

    const byLeg = await api(sim, 'GET', `/v2/recordings?filter[call_leg_id]=${encodeURIComponent(first.legId)}`);
    assert.deepEqual(byLeg.body.data.map((x: any) => x.id), [first.recordingId]);

    const none = await api(sim, 'GET', '/v2/recordings?filter[call_leg_id]=00000000-0000-4000-8000-000000000000');
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { data: [], meta: { page_number: 1, page_size: 20, total_pages: 0, total_results: 0 } });

    // Newest first, paged: every recording of this simulator, one a page.
    const all = await api(sim, 'GET', '/v2/recordings');
    const ids = all.body.data.map((x: any) => x.id) as string[];
    assert.ok(ids.length >= 2);
    assert.ok(ids.indexOf(first.recordingId) < ids.indexOf(second.recordingId), 'the later recording comes first');
    const page2 = await api(sim, 'GET', '/v2/recordings?page[number]=2&page[size]=1');
    assert.equal(page2.status, 200);
    assert.deepEqual(page2.body.data.map((x: any) => x.id), [ids[1]]);
    assert.deepEqual(page2.body.meta, { page_number: 2, page_size: 1, total_pages: ids.length, total_results: ids.length });
    const byConnection = await api(sim, 'GET', `/v2/recordings?filter[connection_id]=${encodeURIComponent(first.payload.connection_id)}`);
    assert.equal(byConnection.body.meta.total_results, ids.length);
    const otherConnection = await api(sim, 'GET', '/v2/recordings?filter[connection_id]=another-connection');
    assert.equal(otherConnection.body.meta.total_results, 0);
  });

  it('GET /v2/recordings/{id}: the recording, or 404 in the API error shape', async () => {
    const found = await api(sim, 'GET', `/v2/recordings/${first.recordingId}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.data.id, first.recordingId);
    assert.equal(found.body.data.call_control_id, first.callId);
    assert.equal(found.body.data.record_type, 'recording');
    const download = await fetch(found.body.data.download_urls.mp3);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), sim.recording(first.recordingId));

    const missing = await api(sim, 'GET', `/v2/recordings/${'cd'.repeat(16)}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errors[0].code, '10005');
    assert.equal((await api(sim, 'GET', `/v2/recordings/${first.recordingId}`, undefined, null)).status, 401);
  });

  it('the recordings API counts against the API rate limit like the other /v2 routes', async () => {
    const limited = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [],
      tunnels: {},
      signWith: 'node',
      apiRateLimit: { ratePerSec: 0.001, burst: 2 },
      logger: quiet,
    });
    await limited.start();
    try {
      assert.equal((await api(limited, 'GET', '/v2/recordings')).status, 200);
      assert.equal((await api(limited, 'GET', '/v2/recordings/x')).status, 404);
      const over = await api(limited, 'GET', '/v2/recordings');
      assert.equal(over.status, 429);
      assert.equal(over.body.errors[0].code, '10011');
    } finally {
      await limited.stop();
    }
  });

  it('recordingUrlTtlMs defaults to 10 minutes and must be positive', async () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new ProviderSimulator({ apiKey: API_KEY, signingSecretKey: nacl.sign.keyPair().secretKey, webhookUrls: [], tunnels: {}, recordingUrlTtlMs: bad, logger: quiet }),
        /recordingUrlTtlMs/,
        String(bad),
      );
    }
    const plain = new ProviderSimulator({ apiKey: API_KEY, signingSecretKey: nacl.sign.keyPair().secretKey, webhookUrls: [hookUrl], tunnels: {}, signWith: 'node', logger: quiet });
    await plain.start();
    try {
      const saved = await recordCall(plain, '+15557660104', 20);
      const expires = Number(SIGNED_URL.exec(saved.url)![2]) * 1000;
      const endedAt = Date.parse(saved.payload.recording_ended_at);
      assert.ok(expires >= endedAt + 600_000 && expires <= endedAt + 601_000, `expires ${expires - endedAt} ms after the call's end`);
      assert.equal((await fetch(saved.url)).status, 200);
      // The same id and path signed by another simulator: its key is not this one's.
      const foreign = new URL(sim.recordingUrl(saved.recordingId, 60_000));
      foreign.host = new URL(plain.baseUrl).host;
      assert.equal((await fetch(foreign)).status, 403, "another simulator's signature");
    } finally {
      await plain.stop();
    }
  });
});
