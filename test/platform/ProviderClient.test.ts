import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { ProviderClient } from '../../src/platform/ProviderClient.js';
import { retryAfterMsOf } from '../../src/platform/providerTransport.js';
import { isTtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { FakeProvider, PROVIDER_KEY } from './helpers.js';

describe('ProviderClient', () => {
  const provider = new FakeProvider();
  let baseUrl = '';
  let client: ProviderClient;

  before(async () => {
    baseUrl = await provider.start();
    client = new ProviderClient({ baseUrl, apiKey: PROVIDER_KEY, backoffMs: 5, timeoutMs: 2_000 });
  });
  after(() => provider.stop());
  beforeEach(() => {
    provider.requests.length = 0;
    provider.override = null;
    provider.calls.clear();
  });

  it('sends the bearer key and a uuid command_id', async () => {
    provider.calls.set('v3:abc', { direction: 'incoming', from: '+15550000001', to: '+15551230001', alive: true });
    await client.answer('v3:abc', { stream_url: 'wss://x.trycloudflare.com/v1/media/v3:abc' });
    const [req] = provider.requests;
    assert.equal(req?.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.equal(req?.path, '/v2/calls/v3%3Aabc/actions/answer');
    assert.match(String(req?.body?.['command_id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('retries a 503 with the same command_id', async () => {
    provider.calls.set('c1', { direction: 'incoming', from: '+15550000001', to: '+15551230001', alive: true });
    let attempts = 0;
    provider.override = () => (++attempts === 1 ? { status: 503, body: { errors: [{ code: '10011', title: 'Unavailable' }] } } : undefined);
    await client.answer('c1', {});
    assert.equal(provider.requests.length, 2);
    const ids = provider.requests.map((r) => r.body?.['command_id']);
    assert.equal(ids[0], ids[1]);
    assert.equal(typeof ids[0], 'string');
  });

  it('retries a dropped connection with the same command_id', async () => {
    let attempts = 0;
    provider.override = () => (++attempts < 3 ? 'destroy' : undefined);
    const result = await client.dial({ connection_id: 'c', from: '+15551230001', to: '+15559990000' });
    assert.match(result.call_control_id, /^v3:out-/);
    assert.equal(provider.requests.length, 3);
    assert.equal(new Set(provider.requests.map((r) => r.body?.['command_id'])).size, 1);
  });

  it('gives up after 3 attempts with TTMA_ERR_PROVIDER, the code, and never the key', async () => {
    provider.override = () => ({ status: 500, body: { errors: [{ code: '10007', title: `Boom ${PROVIDER_KEY}` }] } });
    await assert.rejects(client.hangup('c1'), (err: unknown) => {
      assert.ok(isTtmaError(err, 'TTMA_ERR_PROVIDER'));
      assert.match(err.message, /10007/);
      assert.match(err.message, /after 3 attempts/);
      assert.ok(!err.message.includes(PROVIDER_KEY));
      assert.ok(!JSON.stringify(err).includes(PROVIDER_KEY));
      return true;
    });
    assert.equal(provider.requests.length, 3);
  });

  it('names the longest a command can take (UnownedDials waits past it): a dial the provider never answers gives up within it', async () => {
    // Defaults: 3 attempts of 5 s, and before each retry its backoff or an advised wait of up to 1 s.
    assert.equal(new ProviderClient({ baseUrl, apiKey: PROVIDER_KEY }).commandDeadlineMs, 3 * 5_000 + 1_000 + 1_000);
    const slow = new ProviderClient({ baseUrl, apiKey: PROVIDER_KEY, backoffMs: 5, timeoutMs: 150, maxAdvisedWaitMs: 100 });
    assert.equal(slow.commandDeadlineMs, 3 * 150 + 100 + 100);
    provider.override = () => new Promise((resolve) => setTimeout(() => resolve(undefined), 1_000));
    const started = performance.now();
    await assert.rejects(slow.dial({ connection_id: 'c', from: '+15551230001', to: '+15559990000' }), (err: unknown) => isTtmaError(err, 'TTMA_ERR_PROVIDER'));
    const tookMs = performance.now() - started;
    assert.equal(provider.requests.length, 3);
    assert.ok(tookMs <= slow.commandDeadlineMs, `gave up after ${Math.round(tookMs)} ms, deadline ${slow.commandDeadlineMs} ms`);
    slow.close();
  });

  it('does not retry a 4xx and names the provider code', async () => {
    await assert.rejects(client.answer('missing', {}), (err: unknown) => {
      assert.ok(isTtmaError(err, 'TTMA_ERR_PROVIDER'));
      assert.match(err.message, /HTTP 404 code 90015/);
      return true;
    });
    assert.equal(provider.requests.length, 1);
  });

  it('treats a hang-up answered 422 with code 90018 as success, other 422s not', async () => {
    provider.calls.set('gone', { direction: 'incoming', from: '+15550000001', to: '+15551230001', alive: false });
    assert.deepEqual(await client.hangup('gone'), { alreadyEnded: true });
    provider.override = () => ({ status: 422, body: { errors: [{ code: '90020', title: 'Invalid' }] } });
    await assert.rejects(client.hangup('gone'), /code 90020/);
  });

  it("reads a call's status with getCall: is_alive, as Telnyx's \"Retrieve a call status\" names it (no direction or numbers)", async () => {
    provider.calls.set('in1', { direction: 'incoming', from: '+15550000001', to: '+15551230001', alive: true });
    assert.deepEqual(await client.getCall('in1'), { call_control_id: 'in1', is_alive: true });
    provider.override = () => ({ status: 200, body: { data: { call_control_id: 'x', call_duration: 3 } } });
    assert.deepEqual(await client.getCall('x'), { call_control_id: 'x', is_alive: null });
  });

  it("reads a call's record from Telnyx's Detail Records search, in its documented shape", async () => {
    // The documented example's fields (developers.telnyx.com/development/webrtc/troubleshooting/detail-records),
    // as a call-control record: seconds as numbers, times to the second, inbound/outbound, cli/cld.
    const record = {
      record_type: 'call_control_detail_record',
      id: '4b679aae-b7e7-11ef-9fe0-02420aef3920',
      telnyx_call_control_id: 'v3:abc',
      telnyx_session_id: '4b679edc-b7e7-11ef-adfb-02420aef3920',
      telnyx_leg_id: '4b679aae-b7e7-11ef-9fe0-02420aef3920',
      connection_id: '2519141575053804765',
      direction: 'outbound',
      cli: '+15127376291',
      cld: '+18008648331',
      started_at: '2024-12-11T17:42:30Z',
      finished_at: '2024-12-11T17:43:24Z',
      call_sec: 50,
      billed_sec: 60,
      cost: '0.002',
      rate: '0.002',
      currency: 'USD',
    };
    const other = { ...record, telnyx_call_control_id: 'v3:another', call_sec: 999 };
    provider.override = () => ({ status: 200, body: { data: [other, record], meta: { total_pages: 1, total_results: 2, page_number: 1, page_size: 5 } } });
    assert.deepEqual(await client.callDetailRecord('v3:abc'), {
      call_control_id: 'v3:abc',
      direction: 'outgoing',
      from: '+15127376291',
      to: '+18008648331',
      started_at: '2024-12-11T17:42:30Z',
      ended_at: '2024-12-11T17:43:24Z',
      duration_ms: 50_000,
      billed_sec: 60,
      hangup_cause: null,
    });
    const [req] = provider.requests;
    assert.equal(req?.method, 'GET');
    const [path, query] = (req?.path ?? '').split('?');
    assert.equal(path, '/v2/detail_records');
    const params = new URLSearchParams(query);
    assert.equal(params.get('filter[record_type]'), 'call-control');
    assert.equal(params.get('filter[telnyx_call_control_id]'), 'v3:abc');
    const size = Number(params.get('page[size]'));
    assert.ok(size >= 1 && size <= 50, 'a documented page size');
    // Numbers sent as strings are read too; no record (yet) is null, not an error.
    provider.override = () => ({ status: 200, body: { data: [{ ...record, call_sec: '12', billed_sec: '60' }] } });
    assert.equal((await client.callDetailRecord('v3:abc'))?.duration_ms, 12_000);
    provider.override = () => ({ status: 200, body: { data: [], meta: { total_pages: 0, total_results: 0, page_number: 1, page_size: 5 } } });
    assert.equal(await client.callDetailRecord('v3:abc'), null);
  });

  it('refuses a bad configuration without echoing the key', () => {
    assert.throws(() => new ProviderClient({ baseUrl: 'ftp://x', apiKey: PROVIDER_KEY }), /http/);
    assert.throws(() => new ProviderClient({ baseUrl: 'http://u:p@x', apiKey: PROVIDER_KEY }), /credentials/);
    assert.throws(() => new ProviderClient({ baseUrl, apiKey: '' }), /API key/);
    assert.throws(
      () => new ProviderClient({ baseUrl: `not a url ${PROVIDER_KEY}`, apiKey: PROVIDER_KEY }),
      (err: Error) => !err.message.includes(PROVIDER_KEY),
    );
  });

  it('reports a refused connection as a provider error', async () => {
    const dead = new ProviderClient({ baseUrl: 'http://127.0.0.1:1', apiKey: PROVIDER_KEY, backoffMs: 1 });
    await assert.rejects(dead.hangup('c1'), (err: unknown) => {
      assert.ok(isTtmaError(err, 'TTMA_ERR_PROVIDER'));
      assert.match(err.message, /network error/);
      assert.ok(!err.message.includes(PROVIDER_KEY));
      return true;
    });
  });
});

describe('ProviderClient against the provider\'s own rate limit (the simulator answers 429 code 10011 with x-ratelimit-reset)', () => {
  let sim: ProviderSimulator;
  let baseUrl = '';
  let callId = '';
  before(async () => {
    sim = new ProviderSimulator({
      apiKey: PROVIDER_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [],
      tunnels: {},
      answerTimeoutMs: 30_000,
      apiRateLimit: { ratePerSec: 1, burst: 2 },
      logger: createLogger('sim', 'silent'),
    });
    baseUrl = `http://127.0.0.1:${(await sim.start()).port}`;
    callId = sim.placeInboundCall({ from: '+15550000001', to: '+15551230001', durationMs: 30_000 }).id;
  });
  after(() => sim.stop());

  it('waits as long as the provider asks (1 s), not its own 5 ms backoff, and gets through', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // the bucket full
    const client = new ProviderClient({ baseUrl, apiKey: PROVIDER_KEY, backoffMs: 5, timeoutMs: 2_000 });
    try {
      const started = performance.now();
      for (let i = 0; i < 3; i++) assert.equal((await client.getCall(callId)).call_control_id, callId);
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= 900, `the third request waited for the provider's reset: ${tookMs.toFixed(0)} ms`);
    } finally {
      client.close();
    }
  });

  it('does not wait longer than it may: a reset over maxAdvisedWaitMs is TTMA_ERR_RATE_LIMITED 429 at once, naming the wait', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const client = new ProviderClient({ baseUrl, apiKey: PROVIDER_KEY, backoffMs: 5, timeoutMs: 2_000, maxAdvisedWaitMs: 500 });
    try {
      await client.getCall(callId);
      await client.getCall(callId);
      const started = performance.now();
      await assert.rejects(client.getCall(callId), (err: unknown) => {
        assert.ok(isTtmaError(err, 'TTMA_ERR_RATE_LIMITED'), String(err));
        assert.equal(err.status, 429);
        assert.match(err.message, /rate limit.*asks for 1 s/);
        assert.ok(!err.message.includes(PROVIDER_KEY));
        return true;
      });
      assert.ok(performance.now() - started < 400, 'no pointless retries');
    } finally {
      client.close();
    }
  });
});

describe('retryAfterMsOf', () => {
  const now = Date.parse('2026-11-27T12:00:00Z');
  it('reads Retry-After seconds or an HTTP date, else x-ratelimit-reset; ignores junk; caps at 60 s', () => {
    assert.equal(retryAfterMsOf({ 'retry-after': '2' }, now), 2_000);
    assert.equal(retryAfterMsOf({ 'retry-after': '0.5' }, now), 500);
    assert.equal(retryAfterMsOf({ 'retry-after': 'Fri, 27 Nov 2026 12:00:03 GMT' }, now), 3_000);
    assert.equal(retryAfterMsOf({ 'retry-after': 'Fri, 27 Nov 2026 11:59:00 GMT' }, now), 0, 'a date in the past: no wait');
    assert.equal(retryAfterMsOf({ 'x-ratelimit-reset': '1' }, now), 1_000);
    assert.equal(retryAfterMsOf({ 'retry-after': '1', 'x-ratelimit-reset': '9' }, now), 1_000, 'Retry-After wins');
    assert.equal(retryAfterMsOf({ 'retry-after': '3600' }, now), 60_000);
    for (const junk of ['-1', '1e3', 'soon', '', ' ', '12345678901', '0x10', 'NaN', 'Infinity']) {
      assert.equal(retryAfterMsOf({ 'retry-after': junk }, now), null, JSON.stringify(junk));
      assert.equal(retryAfterMsOf({ 'x-ratelimit-reset': junk }, now), null, JSON.stringify(junk));
    }
    assert.equal(retryAfterMsOf({}, now), null);
    assert.equal(retryAfterMsOf({ 'retry-after': ['2', '9'] }, now), 2_000);
  });
});
