/**
 * Every allowlist refusal (FAQ-13) answers its own error code and leaves an
 * audit line, and nothing reaches the provider: another deployment's call, a
 * foreign tunnel host, a look-alike domain, a wrong scheme, a wrong `from`,
 * the dialling policy, and record_start with recording off. A restarted
 * stream (streaming_start) passes the same checks as an answer's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const A = { id: 'dep-a', numbers: ['+15551110001'], tunnelHost: 'gw-a.approved.example', dialPolicy: { allowPrefixes: ['+1555', '+44'] } };
const B = { id: 'dep-b', numbers: ['+15552220002'], tunnelHost: 'gw-b.approved.example', recording: false };

describe('allowlist refusals: codes and audit lines', () => {
  let h: Harness;
  let secretA = '';
  let secretB = '';
  let callOfB = '';
  let callOfA = '';

  before(async () => {
    h = await startHarness({ approvedTunnelDomains: ['approved.example'], rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    secretA = (await h.platform.deployments.register(A)).agentSecret;
    secretB = (await h.platform.deployments.register(B)).agentSecret;
    for (const [id, to] of [['v3:call-of-b', B.numbers[0]!], ['v3:call-of-a', A.numbers[0]!]] as const) {
      h.provider.calls.set(id, { direction: 'incoming', from: '+15550009999', to, alive: true });
      await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15550009999', to, direction: 'incoming' }));
    }
    callOfB = 'v3:call-of-b';
    callOfA = 'v3:call-of-a';
  });
  after(() => h.close());

  async function expectRefusal(path: string, headers: Record<string, string>, body: unknown, status: number, code: string): Promise<void> {
    const before = h.provider.requests.filter((r) => r.method === 'POST').length;
    const linesBefore = h.lines.length;
    const res = await call(h.base, 'POST', path, { headers, body });
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error.code, code);
    assert.equal(h.provider.requests.filter((r) => r.method === 'POST').length, before, 'nothing reached the provider');
    const audit = h.lines.slice(linesBefore).map((l) => JSON.parse(l)).find((l) => l.audit === true && l.code === code);
    assert.ok(audit, `no audit line for ${code}`);
    assert.equal(audit.deployment, headers['x-ttma-deployment']);
  }

  const answer = (host: string, callId: string) => ({ stream_url: `wss://${host}/v1/media/${callId}`, stream_auth_token: STREAM_TOKEN });
  const dial = (extra: Record<string, unknown>) => ({
    to: '+15557654321',
    stream_url: `wss://${A.tunnelHost}/v1/media/out-12345678`,
    stream_auth_token: STREAM_TOKEN,
    ...extra,
  });

  it("another deployment's call: TTMA_ERR_CALL_NOT_OWNED", async () => {
    const headers = agentHeaders(A.id, secretA);
    await expectRefusal(PLATFORM_PATHS.answer(callOfB), headers, answer(A.tunnelHost, callOfB), 403, 'TTMA_ERR_CALL_NOT_OWNED');
    await expectRefusal(PLATFORM_PATHS.hangup(callOfB), headers, {}, 403, 'TTMA_ERR_CALL_NOT_OWNED');
  });

  it("a foreign tunnel host (another deployment's): TTMA_ERR_STREAM_HOST", async () => {
    await expectRefusal(PLATFORM_PATHS.answer(callOfA), agentHeaders(A.id, secretA), answer(B.tunnelHost, callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    await expectRefusal(PLATFORM_PATHS.dial, agentHeaders(A.id, secretA), dial({ stream_url: `wss://attacker.example/v1/media/out-12345678` }), 400, 'TTMA_ERR_STREAM_HOST');
  });

  it('a look-alike domain (evil-approved.example): TTMA_ERR_STREAM_HOST, and it cannot be registered', async () => {
    const headers = agentHeaders(A.id, secretA);
    await expectRefusal(PLATFORM_PATHS.answer(callOfA), headers, answer('gw-a.evil-approved.example', callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    await expectRefusal(PLATFORM_PATHS.answer(callOfA), headers, answer('evil-approved.example', callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    await expectRefusal(PLATFORM_PATHS.answer(callOfA), headers, answer(`${A.tunnelHost}.evil-approved.example`, callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    for (const tunnelHost of ['evil-approved.example', 'gw.evil-approved.example', 'approved.example', 'approved.example.evil.com']) {
      await assert.rejects(
        h.platform.deployments.register({ id: 'dep-evil', numbers: ['+15553334444'], tunnelHost }),
        (err: { code?: string }) => err.code === 'TTMA_ERR_BAD_REQUEST',
        tunnelHost,
      );
    }
  });

  it('a wrong scheme: TTMA_ERR_STREAM_SCHEME', async () => {
    const headers = agentHeaders(A.id, secretA);
    for (const scheme of ['ws', 'https', 'http']) {
      await expectRefusal(
        PLATFORM_PATHS.answer(callOfA),
        headers,
        { stream_url: `${scheme}://${A.tunnelHost}/v1/media/${callOfA}`, stream_auth_token: STREAM_TOKEN },
        400,
        'TTMA_ERR_STREAM_SCHEME',
      );
    }
  });

  it("a wrong from: TTMA_ERR_NUMBER_NOT_OWNED", async () => {
    await expectRefusal(PLATFORM_PATHS.dial, agentHeaders(A.id, secretA), dial({ from: B.numbers[0] }), 403, 'TTMA_ERR_NUMBER_NOT_OWNED');
    // A suffix of the own number is not the own number (exact E.164 match only).
    await expectRefusal(PLATFORM_PATHS.dial, agentHeaders(A.id, secretA), dial({ from: '+5551110001' }), 403, 'TTMA_ERR_NUMBER_NOT_OWNED');
  });

  it('the dialling policy: TTMA_ERR_DIAL_POLICY outside the allowed prefixes and for the own number', async () => {
    const headers = agentHeaders(A.id, secretA);
    await expectRefusal(PLATFORM_PATHS.dial, headers, dial({ to: '+33612345678' }), 403, 'TTMA_ERR_DIAL_POLICY');
    await expectRefusal(PLATFORM_PATHS.dial, headers, dial({ to: '+19005550123' }), 403, 'TTMA_ERR_DIAL_POLICY');
    await expectRefusal(PLATFORM_PATHS.dial, headers, dial({ to: A.numbers[0] }), 403, 'TTMA_ERR_DIAL_POLICY');
    // Inside the policy the same request goes through.
    const ok = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, body: dial({ to: '+447700900123' }) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('transfer: a malformed `to` is TTMA_ERR_BAD_REQUEST, as for dial, before the dialling policy', async () => {
    const headers = agentHeaders(A.id, secretA);
    const relayed = h.provider.commands('transfer').length;
    // A national number, an empty string (what a ws agent's missing `to` becomes), a number, none.
    for (const body of [{ to: '5551234567' }, { to: '' }, { to: 15551234567 }, {}]) {
      const res = await call(h.base, 'POST', PLATFORM_PATHS.transfer(callOfA), { headers, body });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TTMA_ERR_BAD_REQUEST', JSON.stringify(body));
    }
    // A well-formed number outside the policy is still the policy's refusal.
    await expectRefusal(PLATFORM_PATHS.transfer(callOfA), headers, { to: '+33612345678' }, 403, 'TTMA_ERR_DIAL_POLICY');
    assert.equal(h.provider.commands('transfer').length, relayed, 'nothing reached the provider');
  });

  it('streaming_start: refused for another deployment\'s call, a foreign or look-alike host, a wrong scheme, another path, a bad token or codec', async () => {
    const headers = agentHeaders(A.id, secretA);
    const path = PLATFORM_PATHS.streamingStart(callOfA);
    await expectRefusal(PLATFORM_PATHS.streamingStart(callOfB), headers, answer(A.tunnelHost, callOfB), 403, 'TTMA_ERR_CALL_NOT_OWNED');
    await expectRefusal(path, headers, answer(B.tunnelHost, callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    await expectRefusal(path, headers, answer('gw-a.evil-approved.example', callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    await expectRefusal(path, headers, answer(`${A.tunnelHost}.evil-approved.example`, callOfA), 400, 'TTMA_ERR_STREAM_HOST');
    for (const scheme of ['ws', 'https']) {
      await expectRefusal(path, headers, { stream_url: `${scheme}://${A.tunnelHost}/v1/media/${callOfA}`, stream_auth_token: STREAM_TOKEN }, 400, 'TTMA_ERR_STREAM_SCHEME');
    }
    // Another call's path, or a dial's media id: a stream is restarted only under its own call id.
    await expectRefusal(path, headers, answer(A.tunnelHost, callOfB), 400, 'TTMA_ERR_STREAM_URL');
    await expectRefusal(path, headers, { stream_url: `wss://${A.tunnelHost}/v1/media/out-12345678`, stream_auth_token: STREAM_TOKEN }, 400, 'TTMA_ERR_STREAM_URL');
    // Malformed fields and a wrong secret are refused too (plain errors, not allowlist audit lines).
    const relayed = h.provider.commands('streaming_start').length;
    for (const [body, hdrs, status, code] of [
      [{ ...answer(A.tunnelHost, callOfA), stream_auth_token: 'short' }, headers, 400, 'TTMA_ERR_BAD_REQUEST'],
      [{ ...answer(A.tunnelHost, callOfA), codec: 'GSM' }, headers, 400, 'TTMA_ERR_CODEC_UNSUPPORTED'],
      [{ stream_url: 42 }, headers, 400, 'TTMA_ERR_STREAM_URL'],
      [answer(A.tunnelHost, callOfA), agentHeaders(A.id, secretB), 401, 'TTMA_ERR_AUTH'],
    ] as const) {
      const res = await call(h.base, 'POST', path, { headers: hdrs, body });
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code);
    }
    assert.equal(h.provider.commands('streaming_start').length, relayed, 'nothing reached the provider');
  });

  it('streaming_start on the own call is relayed with the bidirectional stream fields', async () => {
    const headers = agentHeaders(A.id, secretA);
    const before = h.provider.commands('streaming_start').length;
    const res = await call(h.base, 'POST', PLATFORM_PATHS.streamingStart(callOfA), { headers, body: { ...answer(A.tunnelHost, callOfA), codec: 'PCMA' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const sent = h.provider.commands('streaming_start').slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.body?.['stream_url'], `wss://${A.tunnelHost}/v1/media/${callOfA}`);
    assert.equal(sent[0]?.body?.['stream_auth_token'], STREAM_TOKEN);
    assert.equal(sent[0]?.body?.['stream_bidirectional_mode'], 'rtp');
    assert.equal(sent[0]?.body?.['stream_bidirectional_codec'], 'PCMA');
    assert.equal(typeof sent[0]?.body?.['command_id'], 'string');
  });

  it('record_start with recording off: TTMA_ERR_RECORDING, and answering sends no record_start', async () => {
    const headers = agentHeaders(B.id, secretB);
    const answered = await call(h.base, 'POST', PLATFORM_PATHS.answer(callOfB), { headers, body: answer(B.tunnelHost, callOfB) });
    assert.equal(answered.status, 200);
    await expectRefusal(`/v1/signal/calls/${encodeURIComponent(callOfB)}/record_start`, headers, {}, 403, 'TTMA_ERR_RECORDING');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(h.provider.commands('record_start').filter((r) => r.path.includes(encodeURIComponent(callOfB))).length, 0);
  });

  it('record_start is sent once after answering when recording is on (the default)', async () => {
    const headers = agentHeaders(A.id, secretA);
    const res = await call(h.base, 'POST', PLATFORM_PATHS.answer(callOfA), { headers, body: answer(A.tunnelHost, callOfA) });
    assert.equal(res.status, 200);
    for (let i = 0; i < 50 && h.provider.commands('record_start').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const sent = h.provider.commands('record_start').filter((r) => r.path.includes(encodeURIComponent(callOfA)));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.body?.['format'], 'mp3');
  });
});
