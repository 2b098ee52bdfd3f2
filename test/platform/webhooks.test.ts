import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../src/wire/telnyx.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, signedHeaders, startHarness, type Harness } from './helpers.js';

const A = { id: 'dep-a', numbers: ['+15551230001'], tunnelHost: 'aaa.trycloudflare.com' };
const CALLER = '+15550000001';

describe('provider webhooks to the platform', () => {
  let h: Harness;
  let secretA = '';
  let seq = 0;
  const nextId = (): string => `v3:wh-${++seq}`;

  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
  });
  after(() => h.close());

  it('accepts a signed event and locks the inbound call to the owner of the dialled number', async () => {
    const id = nextId();
    const res = await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true });
    const record = (await h.platform.calls.get(id));
    assert.equal(record?.deploymentId, 'dep-a');
    assert.equal(record?.locked, true);
    assert.deepEqual(record?.timeline.map((e) => e.event), ['call.initiated']);
  });

  it('looks signature headers up case-insensitively', async () => {
    const id = nextId();
    const body = envelope('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' });
    const headers = signedHeaders(h.keyPair.secretKey, body);
    const upper = {
      'Telnyx-Signature-Ed25519': headers[HEADER_SIGNATURE]!,
      'TELNYX-TIMESTAMP': headers[HEADER_TIMESTAMP]!,
    };
    assert.equal((await postWebhook(h, body, upper)).status, 200);
    assert.ok((await h.platform.calls.get(id)));
  });

  it('refuses bad signatures before parsing, and records nothing', async () => {
    const id = nextId();
    const body = envelope('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' });
    const good = signedHeaders(h.keyPair.secretKey, body);
    const otherKey = nacl.sign.keyPair().secretKey;
    const sig = Buffer.from(good[HEADER_SIGNATURE]!, 'base64');
    sig[10] = (sig[10] ?? 0) ^ 1;
    const cases: Array<[string, Record<string, string>]> = [
      [body, signedHeaders(otherKey, body)],
      [body, { ...good, [HEADER_SIGNATURE]: sig.toString('base64') }],
      [body.replace(A.numbers[0]!, '+15551239999'), good],
      [`${body} `, good],
      [body, { ...good, [HEADER_TIMESTAMP]: String(Number(good[HEADER_TIMESTAMP]) + 1) }],
      [body, { [HEADER_TIMESTAMP]: good[HEADER_TIMESTAMP]! }],
      [body, { [HEADER_SIGNATURE]: good[HEADER_SIGNATURE]! }],
      [body, { ...good, [HEADER_SIGNATURE]: 'not-base64!!' }],
      [body, { ...good, [HEADER_TIMESTAMP]: 'yesterday' }],
      ['not json at all', signedHeaders(otherKey, 'not json at all')],
    ];
    for (const [raw, headers] of cases) {
      const res = await postWebhook(h, raw, headers);
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.body.error.code, 'TTMA_ERR_WEBHOOK_SIGNATURE');
    }
    assert.equal((await h.platform.calls.get(id)), undefined);
  });

  it('refuses stale and future timestamps outside 300 s', async () => {
    for (const skew of [-400, 400]) {
      const id = nextId();
      const body = envelope('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' });
      const res = await postWebhook(h, body, signedHeaders(h.keyPair.secretKey, body, Math.floor(Date.now() / 1000) + skew));
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'TTMA_ERR_WEBHOOK_STALE');
      assert.equal((await h.platform.calls.get(id)), undefined);
    }
  });

  it('answers a replay 200 with no side effect, also when re-signed as a retry', async () => {
    const id = nextId();
    const body = envelope('call.initiated', { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' }, { id: 'evt-replay-1' });
    const headers = signedHeaders(h.keyPair.secretKey, body);
    assert.deepEqual((await postWebhook(h, body, headers)).body, { ok: true });
    const replay = await postWebhook(h, body, headers);
    assert.equal(replay.status, 200);
    assert.deepEqual(replay.body, { ok: true, duplicate: true });
    const retried = await postWebhook(h, body, signedHeaders(h.keyPair.secretKey, body, Math.floor(Date.now() / 1000) + 5));
    assert.deepEqual(retried.body, { ok: true, duplicate: true });
    assert.equal((await h.platform.calls.get(id))?.timeline.length, 1);
  });

  it('records a call to a number nobody owns as unowned, and nobody can take it', async () => {
    const id = nextId();
    const res = await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: CALLER, to: '+15550009999', direction: 'incoming' }));
    assert.equal(res.status, 200);
    assert.deepEqual((await h.platform.calls.ownerOf(id)), { locked: true, deploymentId: null });
    h.provider.calls.set(id, { direction: 'incoming', from: CALLER, to: A.numbers[0]!, alive: true });
    const grab = await call(h.base, 'POST', PLATFORM_PATHS.answer(id), {
      headers: agentHeaders('dep-a', secretA),
      body: { stream_url: `wss://${A.tunnelHost}/v1/media/${id}`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(grab.status, 403);
  });

  it('reconciles out-of-order events by occurred_at and the state machine', async () => {
    const id = nextId();
    const facts = { call_control_id: id, from: CALLER, to: A.numbers[0]!, direction: 'incoming' as const };
    const t0 = Date.now() - 10_000;
    const at = (ms: number): string => new Date(t0 + ms).toISOString();
    await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: 'normal_clearing', hangup_source: 'caller' }, { occurredAt: at(9_000) }));
    await postWebhook(h, envelope('call.answered', facts, { occurredAt: at(1_000) }));
    await postWebhook(h, envelope('call.initiated', facts, { occurredAt: at(0) }));
    const record = (await h.platform.calls.get(id));
    assert.deepEqual(record?.timeline.map((e) => e.event), ['call.initiated', 'call.answered', 'call.hangup']);
    assert.equal(record?.state, 'ended');
    assert.equal(record?.hangupCause, 'normal_clearing');
    assert.equal(record?.deploymentId, 'dep-a');
  });

  it('refuses a signed body that is not a JSON event, and ignores events without a call', async () => {
    const notJson = '{"data":';
    const bad = await postWebhook(h, notJson);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'TTMA_ERR_WEBHOOK_MALFORMED');
    const noId = await postWebhook(h, JSON.stringify({ data: { event_type: 'call.initiated' } }));
    assert.equal(noId.status, 400);
    const other = await postWebhook(h, JSON.stringify({ data: { id: 'evt-other', event_type: 'number.updated', occurred_at: new Date().toISOString(), payload: {} } }));
    assert.deepEqual(other.body, { ok: true, ignored: true });
  });

  it('refuses webhook bodies over 64 KiB', async () => {
    const raw = JSON.stringify({ pad: 'x'.repeat(70_000) });
    const res = await postWebhook(h, raw, signedHeaders(h.keyPair.secretKey, raw));
    assert.equal(res.status, 413);
  });
});

describe('provider webhooks without a public key', () => {
  it('fails closed with 503 TTMA_ERR_WEBHOOK_NO_KEY', async () => {
    const h = await startHarness({ webhookPublicKeyBase64: null });
    try {
      const body = envelope('call.initiated', { call_control_id: 'v3:nokey', from: CALLER, to: '+15551230001', direction: 'incoming' });
      const res = await postWebhook(h, body);
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TTMA_ERR_WEBHOOK_NO_KEY');
      assert.deepEqual(await h.platform.calls.list(), []);
      assert.ok(h.lines.some((l) => l.includes('TTMA_ERR_WEBHOOK_NO_KEY') && l.includes('"level":40')));
    } finally {
      await h.close();
    }
  });

  it('refuses to start with a malformed key', async () => {
    await assert.rejects(startHarness({ webhookPublicKeyBase64: 'AAAA' }), /32 bytes/);
  });
});
