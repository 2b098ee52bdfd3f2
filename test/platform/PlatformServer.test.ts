import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import {
  ADMIN_TOKEN,
  CONNECTION_ID,
  PROVIDER_KEY,
  STREAM_TOKEN,
  adminHeaders,
  agentHeaders,
  call,
  envelope,
  postWebhook,
  startHarness,
  type Harness,
} from './helpers.js';

const A = { id: 'dep-a', numbers: ['+15551230001', '+15551230002'], tunnelHost: 'aaa.trycloudflare.com' };
const B = { id: 'dep-b', numbers: ['+15551239999'], tunnelHost: 'bbb.trycloudflare.com' };

describe('PlatformServer signalling', () => {
  let h: Harness;
  let secretA = '';
  let secretB = '';
  let callSeq = 0;

  before(async () => {
    // These tests fire many requests in a burst; the limiter has its own test below.
    // A request about a call whose call.initiated has not landed waits 600 ms for it (2.5 s in service).
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 }, callWaitMs: { signalling: 600 } });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
    secretB = (await h.platform.deployments.register(B)).agentSecret;
  });
  after(() => h.close());
  beforeEach(() => {
    h.provider.requests.length = 0;
    h.provider.override = null;
  });

  /** A live inbound call to `to`, known to the provider (and, if announced, to the platform by webhook). */
  async function inboundCall(to: string, announce: boolean): Promise<string> {
    callSeq += 1;
    const id = `v3:in-${callSeq}`;
    h.provider.calls.set(id, { direction: 'incoming', from: '+15550000001', to, alive: true });
    if (announce) {
      const res = await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550000001', to, direction: 'incoming' }));
      assert.equal(res.status, 200);
    }
    return id;
  }

  function answerBody(host: string, callId: string, extra: Record<string, unknown> = {}) {
    return { stream_url: `wss://${host}/v1/media/${callId}`, stream_auth_token: STREAM_TOKEN, ...extra };
  }

  it('serves /healthz', async () => {
    assert.deepEqual((await call(h.base, 'GET', '/healthz')).body, { ok: true });
  });

  it('answers 404 and 405 in the error shape', async () => {
    const missing = await call(h.base, 'GET', '/v1/nothing');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'TTMA_ERR_NOT_FOUND');
    const wrong = await call(h.base, 'PUT', '/v1/signal/calls');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, POST');
  });

  it('refuses wrong secret, unknown deployment and missing headers with one identical 401', async () => {
    const id = await inboundCall(A.numbers[0]!, true);
    const path = PLATFORM_PATHS.answer(id);
    const body = answerBody(A.tunnelHost, id);
    const attempts = [
      agentHeaders('dep-a', `${secretA}x`),
      agentHeaders('dep-a', secretB),
      agentHeaders('dep-zzz', secretA),
      { authorization: `Bearer ${secretA}` },
      { 'x-ttma-deployment': 'dep-a' },
      { authorization: secretA, 'x-ttma-deployment': 'dep-a' },
      { authorization: `Basic ${secretA}`, 'x-ttma-deployment': 'dep-a' },
      {},
    ];
    const bodies = [];
    for (const headers of attempts) {
      const res = await call(h.base, 'POST', path, { headers, body });
      assert.equal(res.status, 401);
      bodies.push(res.body);
    }
    for (const b of bodies) assert.deepEqual(b, bodies[0]);
    assert.equal(bodies[0].error.code, 'TTMA_ERR_AUTH');
    assert.equal(h.provider.commands('answer').length, 0);
  });

  it('answers an announced inbound call with the exact provider command', async () => {
    const id = await inboundCall(A.numbers[1]!, true);
    const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
      headers: agentHeaders('dep-a', secretA),
      body: answerBody(A.tunnelHost, id, { codec: 'L16', client_state: 'aGVsbG8=' }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { ok: true });
    const [cmd] = h.provider.commands('answer');
    assert.equal(cmd?.authorization, `Bearer ${PROVIDER_KEY}`);
    const { command_id, ...rest } = cmd?.body ?? {};
    assert.equal(typeof command_id, 'string');
    assert.deepEqual(rest, {
      stream_url: `wss://${A.tunnelHost}/v1/media/${id}`,
      stream_auth_token: STREAM_TOKEN,
      stream_track: 'inbound_track',
      stream_codec: 'L16',
      stream_bidirectional_mode: 'rtp',
      stream_bidirectional_codec: 'L16',
      // The gateway's L16 is 16 kHz; Telnyx would take it as 8 kHz without this.
      stream_bidirectional_sampling_rate: 16000,
      client_state: 'aGVsbG8=',
    });
  });

  it("an answer that overtakes the call's call.initiated waits for it, then answers (the status endpoint names no number)", async () => {
    const id = await inboundCall(A.numbers[0]!, false);
    const answering = call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
      headers: agentHeaders('dep-a', secretA),
      body: answerBody(A.tunnelHost, encodeURIComponent(id)),
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(h.provider.commands('answer').length, 0, 'not answered before the call.initiated');
    assert.equal((await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550000001', to: A.numbers[0]!, direction: 'incoming' }))).status, 200);
    const res = await answering;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(h.provider.commands('answer')[0]?.body?.['stream_auth_token'], STREAM_TOKEN);
    assert.deepEqual((await h.platform.calls.ownerOf(id)), { locked: true, deploymentId: 'dep-a' });
  });

  it("an answer for a call whose call.initiated never lands: 503 TTMA_ERR_CALL_PENDING, nothing locked, nothing answered", async () => {
    const id = await inboundCall(A.numbers[0]!, false);
    const startedAt = Date.now();
    const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
      headers: agentHeaders('dep-a', secretA),
      body: answerBody(A.tunnelHost, encodeURIComponent(id)),
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'TTMA_ERR_CALL_PENDING');
    assert.ok(Date.now() - startedAt >= 550, 'it waited for the webhook first');
    assert.equal(h.provider.commands('answer').length, 0);
    assert.equal(await h.platform.calls.ownerOf(id), undefined);
    // A hang-up too (the gateway's hang-up retries ask again).
    const hangup = await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('dep-a', secretA), body: {} });
    assert.equal(hangup.status, 503);
    assert.equal(h.provider.commands('hangup').length, 0);
  });

  it("refuses stream URLs that are not exactly the deployment's tunnel and this call's media path", async () => {
    const id = await inboundCall(A.numbers[0]!, true);
    const other = await inboundCall(A.numbers[0]!, true);
    const host = A.tunnelHost;
    const attacks = [
      `wss://${B.tunnelHost}/v1/media/${id}`,
      `wss://evil.com/v1/media/${id}`,
      `wss://evil@${host}/v1/media/${id}`,
      `wss://${host}@evil.com/v1/media/${id}`,
      `wss://user:pass@${host}/v1/media/${id}`,
      `wss://@${host}/v1/media/${id}`,
      `wss://${host}:8443/v1/media/${id}`,
      `wss://${host}:443/v1/media/${id}`,
      `ws://${host}/v1/media/${id}`,
      `https://${host}/v1/media/${id}`,
      `wss://${host}/v1/media/${other}`,
      `wss://${host}/v1/media/${id}?x=1`,
      `wss://${host}/v1/media/${id}?`,
      `wss://${host}/v1/media/${id}#frag`,
      `wss://${host}/v1/media/${id}/`,
      `wss://${host}/v1/media/${id}/extra`,
      `wss://${host}/v1/webhooks/${id}`,
      `wss://${host}/v1/media/x%2F..%2F${id}`,
      `wss://${host}/v1/media/${other}%2F..%2F${id}`,
      `wss://${host}/v1/media/../media/${id}`,
      `wss://${host}/v1/media/%2e%2e/media/${id}`,
      `wss://${host}/v1//media/${id}`,
      `wss://${host}/V1/media/${id}`,
      `wss://${host.toUpperCase()}/v1/media/${id}`,
      `wss://${host}./v1/media/${id}`,
      `wss://${host}.evil.com/v1/media/${id}`,
      `wss:\\\\${host}/v1/media/${id}`,
      `wss://${host}\\v1\\media\\${id}`,
      `wss://${host}/v1/media/${id}\t`,
      `wss://${host}/v1/\nmedia/${id}`,
      ` wss://${host}/v1/media/${id}`,
      `wss://${host}/v1/media/${id}%00`,
      `WSS://${host}/v1/media/${id}`,
      `wss:${host}/v1/media/${id}`,
      `wss:///${host}/v1/media/${id}`,
      `wss://${host}/v1/media/`,
      '',
    ];
    for (const stream_url of attacks) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
        headers: agentHeaders('dep-a', secretA),
        body: { stream_url, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(res.status, 400, `${JSON.stringify(stream_url)} -> ${res.status}`);
      assert.match(res.body.error.code, /^TTMA_ERR_STREAM_(URL|HOST|SCHEME)$/, JSON.stringify(stream_url));
    }
    for (const stream_url of [123, null, ['x'], { href: 'x' }]) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
        headers: agentHeaders('dep-a', secretA),
        body: { stream_url, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(res.body.error.code, 'TTMA_ERR_STREAM_URL');
    }
    assert.equal(h.provider.commands('answer').length, 0);
  });

  it('refuses bad media tokens and codecs', async () => {
    const id = await inboundCall(A.numbers[0]!, true);
    for (const stream_auth_token of [undefined, '', 'short', 'a'.repeat(31), 'a'.repeat(129), `${'a'.repeat(40)}=`, `${'a'.repeat(40)}+/`, `${'a'.repeat(40)} `]) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
        headers: agentHeaders('dep-a', secretA),
        body: { stream_url: `wss://${A.tunnelHost}/v1/media/${id}`, stream_auth_token },
      });
      assert.equal(res.status, 400, String(stream_auth_token));
      assert.equal(res.body.error.code, 'TTMA_ERR_BAD_REQUEST');
    }
    for (const codec of ['pcmu', 'G729', 'MP3', '', 7]) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
        headers: agentHeaders('dep-a', secretA),
        body: answerBody(A.tunnelHost, id, { codec }),
      });
      assert.equal(res.status, 400, String(codec));
      assert.equal(res.body.error.code, 'TTMA_ERR_CODEC_UNSUPPORTED');
    }
    assert.equal(h.provider.commands('answer').length, 0);
  });

  it("does not let deployment B answer or hang up deployment A's calls", async () => {
    const announced = await inboundCall(A.numbers[0]!, true);
    const unknown = 'v3:never-existed';
    // Ringing at the provider, its call.initiated not yet at the platform: held, then refused as another's once it lands.
    const pending = await inboundCall(A.numbers[1]!, false);
    const early = await call(h.base, 'POST', PLATFORM_PATHS.answer(pending), { headers: agentHeaders('dep-b', secretB), body: answerBody(B.tunnelHost, pending) });
    assert.equal(early.status, 503, JSON.stringify(early.body));
    assert.equal(await h.platform.calls.ownerOf(pending), undefined, 'nothing locked by a request');
    await postWebhook(h, envelope('call.initiated', { call_control_id: pending, from: '+15550000001', to: A.numbers[1]!, direction: 'incoming' }));
    const refusals = [];
    for (const id of [announced, pending, unknown]) {
      // B even points the media at its own tunnel, which is allowed for B: ownership still refuses.
      const answer = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
        headers: agentHeaders('dep-b', secretB),
        body: answerBody(B.tunnelHost, id),
      });
      const hangup = await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('dep-b', secretB), body: {} });
      for (const res of [answer, hangup]) {
        assert.equal(res.status, 403, `${id}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');
        refusals.push(res.body);
      }
    }
    for (const r of refusals) assert.deepEqual(r, refusals[0]);
    assert.equal(h.provider.commands('answer').length, 0);
    assert.equal(h.provider.commands('hangup').length, 0);
    // The pending call is locked to A by its webhook, the unknown one was never locked.
    assert.equal((await h.platform.calls.ownerOf(pending))?.deploymentId, 'dep-a');
    assert.equal((await h.platform.calls.ownerOf(unknown)), undefined);
    // A still can.
    const ok = await call(h.base, 'POST', PLATFORM_PATHS.hangup(pending), { headers: agentHeaders('dep-a', secretA) });
    assert.equal(ok.status, 200);
  });

  it('refuses to answer an outgoing call it did not dial, even to the number a deployment owns', async () => {
    const id = 'v3:foreign-out';
    h.provider.calls.set(id, { direction: 'outgoing', from: '+15550000001', to: A.numbers[0]!, alive: true });
    const answer = () => call(h.base, 'POST', PLATFORM_PATHS.answer(id), { headers: agentHeaders('dep-a', secretA), body: answerBody(A.tunnelHost, id) });
    assert.equal((await answer()).status, 503, 'no call.initiated yet');
    await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550000001', to: A.numbers[0]!, direction: 'outgoing' }));
    const res = await answer();
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');
    assert.equal(h.provider.commands('answer').length, 0);
  });

  it('refuses malformed call ids in the path', async () => {
    for (const path of ['/v1/signal/calls/%2F..%2Fx/answer', '/v1/signal/calls/%E0%A4%A/answer', '/v1/signal/calls/a%20b/hangup']) {
      const res = await call(h.base, 'POST', path, { headers: agentHeaders('dep-a', secretA), body: {} });
      assert.equal(res.status, 400, path);
    }
  });

  it('treats a hang-up of an ended call (provider 422, 90018) as success', async () => {
    const id = await inboundCall(A.numbers[0]!, true);
    h.provider.calls.get(id)!.alive = false;
    const res = await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('dep-a', secretA) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(h.provider.commands('hangup').length, 1);
  });

  it('maps other provider refusals to TTMA_ERR_PROVIDER with the provider code', async () => {
    const id = await inboundCall(A.numbers[0]!, true);
    h.provider.override = (r) =>
      r.path.endsWith('/answer') ? { status: 422, body: { errors: [{ code: '90034', title: 'Not parked' }] } } : undefined;
    const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
      headers: agentHeaders('dep-a', secretA),
      body: answerBody(A.tunnelHost, id),
    });
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'TTMA_ERR_PROVIDER');
    assert.match(res.body.error.message, /90034/);
    assert.ok(!JSON.stringify(res.body).includes(PROVIDER_KEY));
  });

  it('dials from an own number, to the own tunnel, and locks the call to the dialler', async () => {
    const mediaId = 'out_abc-12345';
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('dep-a', secretA),
      body: { to: '+15557654321', stream_url: `wss://${A.tunnelHost}/v1/media/${mediaId}`, stream_auth_token: STREAM_TOKEN, codec: 'PCMA', timeout_secs: 30 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.call_control_id as string;
    assert.match(id, /^v3:out-/);
    assert.equal(typeof res.body.call_session_id, 'string');
    const dial = h.provider.requests.find((r) => r.path === '/v2/calls');
    const { command_id, ...rest } = dial?.body ?? {};
    assert.equal(typeof command_id, 'string');
    assert.deepEqual(rest, {
      connection_id: CONNECTION_ID,
      from: A.numbers[0],
      to: '+15557654321',
      stream_url: `wss://${A.tunnelHost}/v1/media/${mediaId}`,
      stream_auth_token: STREAM_TOKEN,
      stream_track: 'inbound_track',
      stream_codec: 'PCMA',
      stream_bidirectional_mode: 'rtp',
      stream_bidirectional_codec: 'PCMA',
      stream_bidirectional_sampling_rate: 8000,
      timeout_secs: 30,
    });
    assert.deepEqual((await h.platform.calls.ownerOf(id)), { locked: true, deploymentId: 'dep-a' });
    // A late webhook for it changes nothing about ownership.
    await postWebhook(h, envelope('call.answered', { call_control_id: id, from: A.numbers[0]!, to: '+15557654321', direction: 'outgoing' }));
    assert.deepEqual((await h.platform.calls.ownerOf(id)), { locked: true, deploymentId: 'dep-a' });
    const stolen = await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('dep-b', secretB) });
    assert.equal(stolen.status, 403);
    const mine = await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('dep-a', secretA) });
    assert.equal(mine.status, 200);
  });

  it('locks an outgoing call to the dialler even when its webhook arrives before the dial returns', async () => {
    let webhookStatus = 0;
    h.provider.override = async (r) => {
      if (r.path !== '/v2/calls') return undefined;
      const id = 'v3:early-webhook';
      const body = envelope('call.initiated', { call_control_id: id, from: A.numbers[0]!, to: '+15557654321', direction: 'outgoing' });
      // The provider's webhook lands before its answer to our dial request.
      webhookStatus = (await postWebhook(h, body)).status;
      assert.deepEqual((await h.platform.calls.ownerOf(id)), { locked: false, deploymentId: null });
      return { status: 200, body: { data: { call_control_id: id, call_session_id: 's' } } };
    };
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('dep-a', secretA),
      body: { to: '+15557654321', stream_url: `wss://${A.tunnelHost}/v1/media/early-123`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(webhookStatus, 200);
    assert.equal(res.status, 200);
    assert.deepEqual((await h.platform.calls.ownerOf('v3:early-webhook')), { locked: true, deploymentId: 'dep-a' });
  });

  it('refuses dials with a foreign from, a bad to, or a bad stream URL', async () => {
    const base = { to: '+15557654321', stream_url: `wss://${A.tunnelHost}/v1/media/out_abc-12345`, stream_auth_token: STREAM_TOKEN };
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ ...base, from: B.numbers[0] }, 403, 'TTMA_ERR_NUMBER_NOT_OWNED'],
      [{ ...base, from: '+15550000000' }, 403, 'TTMA_ERR_NUMBER_NOT_OWNED'],
      [{ ...base, from: 15551230001 }, 403, 'TTMA_ERR_NUMBER_NOT_OWNED'],
      [{ ...base, to: '5557654321' }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, to: '+1555765432199999' }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, to: undefined }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, stream_url: `wss://${B.tunnelHost}/v1/media/out_abc-12345` }, 400, 'TTMA_ERR_STREAM_HOST'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}/v1/media/short` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}/v1/media/${'a'.repeat(65)}` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}/v1/media/abc.defgh` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}/v1/media/abcdefgh%2F..` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}/v1/media/abcdefgh?x` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `wss://x@${A.tunnelHost}/v1/media/abcdefgh` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_url: `ws://${A.tunnelHost}/v1/media/abcdefgh` }, 400, 'TTMA_ERR_STREAM_SCHEME'],
      [{ ...base, stream_url: `wss://${A.tunnelHost}:444/v1/media/abcdefgh` }, 400, 'TTMA_ERR_STREAM_URL'],
      [{ ...base, stream_auth_token: 'x' }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, codec: 'G729' }, 400, 'TTMA_ERR_CODEC_UNSUPPORTED'],
      [{ ...base, timeout_secs: 1 }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, time_limit_secs: 1e9 }, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...base, client_state: 'not base64 !' }, 400, 'TTMA_ERR_BAD_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders('dep-a', secretA), body });
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(res.body.error.code, code, JSON.stringify(body));
    }
    assert.equal(h.provider.requests.length, 0);
  });

  it('refuses bodies over 64 KiB, non-JSON and non-object bodies', async () => {
    const headers = agentHeaders('dep-a', secretA);
    const big = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, raw: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'TTMA_ERR_BODY_TOO_LARGE');
    const notJson = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, raw: '{"to":' });
    assert.equal(notJson.status, 400);
    const array = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, raw: '[1,2]' });
    assert.equal(array.status, 400);
  });

  it('refuses a chunked body that grows past 64 KiB without a content-length', async () => {
    const url = new URL(h.base);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: 'POST', path: PLATFORM_PATHS.dial, headers: agentHeaders('dep-a', secretA) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i += 1) req.write('x'.repeat(8 * 1024));
      req.end();
    });
    assert.equal(status, 413);
  });
});

describe('PlatformServer limits and admin', () => {
  let h: Harness;
  let secretA = '';

  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 0.001, burst: 3 }, bodyTimeoutMs: 200 });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
    await h.platform.deployments.register(B);
  });
  after(() => h.close());

  it('rate limits per deployment with 429 TTMA_ERR_RATE_LIMITED, after authentication', async () => {
    // Failed authentications do not drain A's bucket.
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await call(h.base, 'POST', PLATFORM_PATHS.hangup('v3:x'), { headers: agentHeaders('dep-a', 'wrong-secret') })).status, 401);
    }
    const statuses = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.hangup('v3:nope'), { headers: agentHeaders('dep-a', secretA) });
      statuses.push(res.status);
      if (res.status === 429) {
        assert.equal(res.body.error.code, 'TTMA_ERR_RATE_LIMITED');
        assert.ok(Number(res.headers.get('retry-after')) >= 1);
      }
    }
    assert.deepEqual(statuses, [403, 403, 403, 429, 429]);
  });

  it('times out a body that never finishes', async () => {
    const url = new URL(h.base);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, method: 'POST', path: '/v1/admin/deployments', headers: { ...adminHeaders(), 'content-length': '100' } },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write('{"id":');
    });
    assert.equal(res.status, 408);
    assert.equal(JSON.parse(res.body).error.code, 'TTMA_ERR_REQUEST_TIMEOUT');
  });

  it('guards the admin API with the admin token', async () => {
    const body = { id: 'dep-c', numbers: ['+15551231111'], tunnelHost: 'ccc.cfargotunnel.com' };
    for (const headers of [{}, adminHeaders('wrong-token-0123456789'), { authorization: ADMIN_TOKEN }]) {
      const res = await call(h.base, 'POST', '/v1/admin/deployments', { headers, body });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'TTMA_ERR_AUTH');
      assert.equal((await call(h.base, 'GET', '/v1/admin/calls', { headers })).status, 401);
    }
    // A deployment's agent secret is not an admin token.
    assert.equal((await call(h.base, 'GET', '/v1/admin/calls', { headers: adminHeaders(secretA) })).status, 401);
  });

  it('registers a deployment once through the admin API and its secret then works', async () => {
    const body = { id: 'dep-c', numbers: ['+15551231111'], tunnelHost: 'ccc.cfargotunnel.com' };
    const res = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body });
    assert.equal(res.status, 201);
    assert.equal(res.body.id, 'dep-c');
    assert.match(res.body.agentSecret, /^[A-Za-z0-9_-]{43}$/);
    const again = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body });
    assert.equal(again.status, 409);
    const bad = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: { ...body, id: 'dep-d', tunnelHost: 'evilcfargotunnel.com' } });
    assert.equal(bad.status, 400);
    const dial = await call(h.base, 'POST', PLATFORM_PATHS.hangup('v3:nothing'), { headers: agentHeaders('dep-c', res.body.agentSecret) });
    assert.equal(dial.status, 403); // authenticated, the call just is not its own
    // The secret is not in any log line.
    assert.ok(!h.lines.join('').includes(res.body.agentSecret));
  });

  it('lists call records with their timelines', async () => {
    const id = 'v3:listed';
    await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550000001', to: A.numbers[0]!, direction: 'incoming' }));
    const res = await call(h.base, 'GET', '/v1/admin/calls', { headers: adminHeaders() });
    assert.equal(res.status, 200);
    const record = res.body.calls.find((c: { call_control_id: string }) => c.call_control_id === id);
    assert.equal(record.deployment_id, 'dep-a');
    assert.equal(record.direction, 'incoming');
    assert.equal(record.timeline[0].event, 'call.initiated');
  });

  it('never logs the provider key, agent secrets or tokens', () => {
    const all = h.lines.join('');
    assert.ok(all.length > 0);
    for (const secret of [PROVIDER_KEY, secretA, ADMIN_TOKEN, STREAM_TOKEN]) assert.ok(!all.includes(secret));
  });
});

describe('PlatformServer without an admin token', () => {
  it('disables the admin API with 503', async () => {
    const h = await startHarness({ adminToken: null });
    try {
      const res = await call(h.base, 'GET', '/v1/admin/calls', { headers: adminHeaders() });
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TTMA_ERR_CONFIG');
    } finally {
      await h.close();
    }
  });
});
