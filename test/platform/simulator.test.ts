/**
 * The platform against the real provider simulator (src/sim): signed
 * webhooks from the simulator lock calls, answer/hangup/dial go through the
 * simulator's REST API with the key only the platform holds, and a hang-up of
 * an ended call (422, 90018) is a success.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { createLogger } from '../../src/log.js';
import { ADMIN_TOKEN, STREAM_TOKEN, adminHeaders, agentHeaders, call, capturingLogger, until, simProviderOptions } from './helpers.js';

const API_KEY = 'sim-provider-key-for-platform-tests';
const A = { id: 'sim-a', numbers: ['+15552220001'], tunnelHost: 'sim-a.trycloudflare.com' };
const B = { id: 'sim-b', numbers: ['+15552229999'], tunnelHost: 'sim-b.trycloudflare.com' };
const CALLER = '+15550001111';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('platform with the real provider simulator', () => {
  let sim: ProviderSimulator;
  let platform: PlatformServer;
  let base = '';
  let secretA = '';
  let secretB = '';
  const { logger, lines } = capturingLogger();

  before(async () => {
    const platformPort = await freePort();
    const keys = nacl.sign.keyPair();
    sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: keys.secretKey,
      webhookUrls: [`http://127.0.0.1:${platformPort}/v1/provider/webhooks`],
      tunnels: {},
      answerTimeoutMs: 3_000,
      ringMs: 100,
      outboundTalkMs: 300,
      logger: createLogger('sim', 'silent'),
    });
    const { port: simPort } = await sim.start();
    platform = new PlatformServer({
      ...simProviderOptions(simPort, API_KEY, sim),
      adminToken: ADMIN_TOKEN,
      port: platformPort,
      logger,
    });
    await platform.start();
    base = `http://127.0.0.1:${platformPort}`;
    secretA = (await platform.deployments.register(A)).agentSecret;
    secretB = (await platform.deployments.register(B)).agentSecret;
  });
  after(async () => {
    await platform.stop();
    await sim.stop();
  });

  it('locks an inbound call from signed webhooks, answers it for its owner only, and hangs up idempotently', async () => {
    const simCall = sim.placeInboundCall({ from: CALLER, to: A.numbers[0]!, durationMs: 400 });
    const id = simCall.id;
    await until('call.initiated at the platform', async () => (await platform.calls.get(id)));
    assert.deepEqual((await platform.calls.ownerOf(id)), { locked: true, deploymentId: 'sim-a' });

    const body = (host: string) => ({ stream_url: `wss://${host}/v1/media/${id}`, stream_auth_token: STREAM_TOKEN, codec: 'PCMU' });
    const stolen = await call(base, 'POST', PLATFORM_PATHS.answer(id), { headers: agentHeaders('sim-b', secretB), body: body(B.tunnelHost) });
    assert.equal(stolen.status, 403);
    assert.equal(stolen.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');

    const answered = await call(base, 'POST', PLATFORM_PATHS.answer(id), { headers: agentHeaders('sim-a', secretA), body: body(A.tunnelHost) });
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    // The tunnel is not mapped in this simulator, so media fails and the call ends: all of it lands in the timeline.
    const ended = await until('call.hangup at the platform', async () => {
      const record = (await platform.calls.get(id));
      return record?.state === 'ended' ? record : undefined;
    });
    const events = ended.timeline.map((e) => e.event);
    assert.ok(events.includes('call.initiated') && events.includes('call.answered') && events.includes('call.hangup'), events.join(','));

    // Hanging up an ended call: the simulator answers 422/90018, the platform says ok.
    const hangup = await call(base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('sim-a', secretA) });
    assert.equal(hangup.status, 200, JSON.stringify(hangup.body));
    const foreign = await call(base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('sim-b', secretB) });
    assert.equal(foreign.status, 403);
  });

  it('dials through the simulator and keeps the outbound call locked to the dialler', async () => {
    const res = await call(base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('sim-a', secretA),
      body: { to: '+15553334444', stream_url: `wss://${A.tunnelHost}/v1/media/outbound-0001`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.call_control_id as string;
    assert.match(id, /^v3:/);
    assert.deepEqual((await platform.calls.ownerOf(id)), { locked: true, deploymentId: 'sim-a' });
    await until('outbound call.initiated', async () => (await platform.calls.get(id))?.timeline.some((e) => e.event === 'call.initiated'));
    assert.equal((await platform.calls.get(id))?.direction, 'outgoing');
    const stolen = await call(base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('sim-b', secretB) });
    assert.equal(stolen.status, 403);
    const mine = await call(base, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders('sim-a', secretA) });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    await until('outbound call.hangup', async () => (await platform.calls.get(id))?.state === 'ended');
    const listed = await call(base, 'GET', '/v1/admin/calls', { headers: adminHeaders() });
    assert.ok(listed.body.calls.some((c: { call_control_id: string; deployment_id: string }) => c.call_control_id === id && c.deployment_id === 'sim-a'));
  });

  it("never answers a call whose call.initiated it has not had: the simulator's call status names no number (503, nothing locked)", async () => {
    // A simulator whose webhooks go nowhere the platform listens: the platform only has the provider's call status.
    const silentSim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: nacl.sign.keyPair().secretKey,
      webhookUrls: [],
      tunnels: {},
      answerTimeoutMs: 3_000,
      logger: createLogger('sim', 'silent'),
    });
    const { port } = await silentSim.start();
    const other = new PlatformServer({
      providerBaseUrl: `http://127.0.0.1:${port}`,
      providerApiKey: API_KEY,
      connectionId: 'sim-connection',
      webhookPublicKeyBase64: silentSim.publicKeyBase64,
      adminToken: null,
      logger: createLogger('platform', 'silent'),
      callWaitMs: { signalling: 300 },
    });
    const { port: otherPort } = await other.start();
    try {
      const a = (await other.deployments.register(A)).agentSecret;
      const b = (await other.deployments.register(B)).agentSecret;
      const id = silentSim.placeInboundCall({ from: CALLER, to: A.numbers[0]!, durationMs: 300 }).id;
      const otherBase = `http://127.0.0.1:${otherPort}`;
      const body = (host: string) => ({ stream_url: `wss://${host}/v1/media/${encodeURIComponent(id)}`, stream_auth_token: STREAM_TOKEN });
      for (const [deployment, secret, host] of [['sim-a', a, A.tunnelHost], ['sim-b', b, B.tunnelHost]] as const) {
        const res = await call(otherBase, 'POST', PLATFORM_PATHS.answer(id), { headers: agentHeaders(deployment, secret), body: body(host) });
        assert.equal(res.status, 503, `${deployment}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'TTMA_ERR_CALL_PENDING');
      }
      assert.equal(await other.calls.ownerOf(id), undefined);
      assert.equal(silentSim.liveCall(id)?.state, 'parked', 'never answered');
    } finally {
      await other.stop();
      await silentSim.stop();
    }
  });

  it('never logs the provider key or agent secrets', () => {
    const all = lines.join('');
    for (const secret of [API_KEY, secretA, secretB, STREAM_TOKEN]) assert.ok(!all.includes(secret));
  });
});
