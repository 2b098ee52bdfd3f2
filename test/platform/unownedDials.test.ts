/**
 * A dialled call nobody owns: the platform process placing it is killed
 * (SIGKILL) after the provider answered the dial and before the lock. The
 * call is real at the provider; its webhooks reach the platform processes
 * still up. Real parts: a redis-server, the real provider simulator, two
 * platforms on that Redis in this process taking the webhooks in turn (a
 * load balancer's round robin), and the dialling platform in a child process
 * of its own, killed by its provider transport as the dial's answer comes
 * back. The call must be hung up through the provider once the dial deadline
 * is past, once (one hang-up request over both processes, one warn line, one
 * count in /metrics, the other process finding the call claimed while the
 * hang-up is in flight), and nothing billed to anyone. And a live dial whose
 * webhooks come before its answer must not be hung up. And when the process
 * that took the call's webhooks (and so holds its watch) is killed too, another
 * process's periodic pass over the call records hangs it up, once.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import nacl from 'tweetnacl';
import { createLogger } from '../../src/log.js';
import { PlatformServer, type PlatformServerOptions } from '../../src/platform/PlatformServer.js';
import { LOCK_MARGIN_MS } from '../../src/platform/UnownedDials.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { hookedProviderTransport } from '../helpers/providerHooks.js';
import { metricValue } from '../helpers/promText.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { ADMIN_TOKEN, STREAM_TOKEN, adminHeaders, agentHeaders, call, capturingLogger, readAll, until, waitFor } from './helpers.js';
import { platformProcess } from './platformProcess.js';

const skip = redisUnavailable();
const HOOKS_MODULE = fileURLToPath(new URL('../helpers/providerHooks.js', import.meta.url));
const API_KEY = 'sim-provider-key-for-unowned-dials';
const UNIT_MS = 100;
/** One attempt of at most 2 s: the dial deadline. */
const PROVIDER = { timeoutMs: 2_000, maxAttempts: 1, backoffMs: 5 };
const GRACE_MS = PROVIDER.timeoutMs + LOCK_MARGIN_MS;
const D = { id: 'unowned-dep', numbers: ['+15551710001'], tunnelHost: 'unowned-dep.trycloudflare.com', caps: { dayMinutes: 40, monthMinutes: 40 } };
/** UnownedDials' debug line when another process holds the claim. */
const PEER_CLAIMED = 'is being hung up by another platform process';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Forwards each webhook, byte for byte, to the next of `targets` in turn (as a load balancer in front of several platform processes). */
function startRoundRobin(targets: () => number[]): Promise<{ server: Server; port: number }> {
  let next = 0;
  const server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const ports = targets();
      const port = ports[next++ % ports.length]!;
      const forward = request({ host: '127.0.0.1', port, method: 'POST', path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.writeHead(502).end());
      forward.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

/** A platform in a process of its own whose provider transport kills it (SIGKILL) once the provider has answered a dial. */
function dyingDialler(options: Record<string, unknown>): ReturnType<typeof platformProcess> {
  return platformProcess(options, {
    prelude: `import { hookedProviderTransport } from ${JSON.stringify(HOOKS_MODULE)};
// The provider placed the call and answered; the process dies before the call is locked.
const after = (method, url) => { if (method === 'POST' && url.pathname === '/v2/calls') process.kill(process.pid, 'SIGKILL'); };`,
    options: '{ ...options, provider: { ...options.provider, transport: hookedProviderTransport({ after }) } }',
  });
}

describe('an outgoing call no deployment owns (its dial died before the lock)', { skip }, () => {
  const redisFx = useRedisServer();
  let sim: ProviderSimulator;
  let relay: { server: Server; port: number };
  const platforms: PlatformServer[] = [];
  const logs: string[][] = [];
  const ports: number[] = [];
  /** Every hang-up request the surviving platforms sent the provider (path). */
  const hangups: string[] = [];
  /** Held before a dial's answer goes back to the first platform (ms; 0: not held). */
  let holdDialMs = 0;
  /** Hang-ups wait (up to 3 s) for the other platform to find the call claimed. */
  let holdHangups = true;
  /** Held dial: whether a platform had recorded the call, unlocked, from its webhooks before the answer came back. */
  let recordedBeforeAnswer: boolean | null = null;
  let secret = '';
  let common: () => Record<string, unknown> = () => ({});
  /** Every webhook goes to this port alone when set (a process that then dies). */
  let onlyTo: number | null = null;

  before(async () => {
    relay = await startRoundRobin(() => (onlyTo !== null ? [onlyTo] : ports));
    const keys = nacl.sign.keyPair();
    sim = new ProviderSimulator({
      apiKey: API_KEY,
      signingSecretKey: keys.secretKey,
      webhookUrls: [`http://127.0.0.1:${relay.port}/v1/provider/webhooks`],
      tunnels: {},
      // The callee answers at once and talks a minute; no gateway ever streams (the call goes on without one).
      ringMs: 0,
      outboundTalkMs: 60_000,
      onStreamFailure: 'continue',
      logger: createLogger('sim', 'silent'),
    });
    const { port: simPort } = await sim.start();
    common = () => ({
      providerBaseUrl: `http://127.0.0.1:${simPort}`,
      providerApiKey: API_KEY,
      connectionId: 'sim-connection',
      webhookPublicKeyBase64: sim.publicKeyBase64,
      adminToken: ADMIN_TOKEN,
      redisUrl: redisFx.server.url,
      capUnitMs: UNIT_MS,
      orphanReservationGraceMs: 5 * UNIT_MS,
      relayWebhooks: false,
      provider: PROVIDER,
      // The passes over the records are the last test's: the others are about the watches.
      unownedDialSweepMs: 600_000,
    });
    for (let i = 0; i < 2; i += 1) {
      const { logger, lines } = capturingLogger();
      const transport = hookedProviderTransport({
        before: async (method, url) => {
          if (method !== 'POST' || !url.pathname.endsWith('/actions/hangup')) return;
          hangups.push(url.pathname);
          // A slow provider: the hang-up is still in flight when the other process's watch runs out (bounded).
          const peer = logs[1 - i]!;
          const until = Date.now() + 3_000;
          while (holdHangups && Date.now() < until && !peer.some((l) => l.includes(PEER_CLAIMED))) await sleep(20);
        },
        after: async (method, url) => {
          if (method !== 'POST' || url.pathname !== '/v2/calls' || holdDialMs === 0) return;
          await sleep(holdDialMs);
          const placed = sim.callSummaries().filter((s) => s.direction === 'outgoing' && s.endedBy === null).at(-1);
          const record = placed ? await platforms[1]!.calls.get(placed.callId) : undefined;
          recordedBeforeAnswer = record !== undefined && !record.locked;
        },
      });
      const platform = new PlatformServer({ ...common(), provider: { ...PROVIDER, transport }, logger } as PlatformServerOptions);
      ports.push((await platform.start()).port);
      platforms.push(platform);
      logs.push(lines);
    }
    secret = (await platforms[0]!.deployments.register(D)).agentSecret;
  });
  after(async () => {
    await Promise.all(platforms.map((p) => p.stop()));
    await sim.stop();
    await new Promise<void>((resolve) => relay.server.close(() => resolve()));
  });

  const scrapeSum = async (labels: Record<string, string>): Promise<number> => {
    let sum = 0;
    for (const port of ports) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: adminHeaders() });
      assert.equal(res.status, 200);
      sum += metricValue(await res.text(), 'ttma_unowned_dials_total', labels) ?? 0;
    }
    return sum;
  };

  it('is hung up through the provider once the dial deadline is past, once, and nobody is billed for it', async () => {
    const unauthenticated = await fetch(`http://127.0.0.1:${ports[0]}/metrics`);
    assert.equal(unauthenticated.status, 401, '/metrics takes the admin token');
    const dialler = await dyingDialler(common());
    const dial = call(`http://127.0.0.1:${dialler.port}`, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(D.id, secret),
      body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/unowned-0001`, stream_auth_token: STREAM_TOKEN },
    });
    await assert.rejects(dial, 'the dial is cut off with its process');
    await dialler.exited;
    const placed = sim.callSummaries().filter((s) => s.direction === 'outgoing');
    assert.equal(placed.length, 1, 'the provider placed the call before the process died');
    const id = placed[0]!.callId;
    const seenAt = Date.now();
    await waitFor('both platforms took an event of the call', () => logs.every((lines) => lines.some((l) => l.includes(id) && l.includes('webhook recorded'))));
    // Not before the grace: a live dial's call is unlocked that long.
    await sleep(GRACE_MS / 2);
    assert.equal(sim.hasEnded(id), false, 'not hung up within the dial deadline');
    await waitFor('the unowned call hung up through the provider', () => sim.hasEnded(id), GRACE_MS + 10_000);
    assert.ok(Date.now() - seenAt >= GRACE_MS - 500, 'hung up after the grace');
    assert.equal(sim.callSummary(id)?.endedBy, 'gateway', 'ended by the hang-up action');
    // The other platform's watch runs out too: still one hang-up, one warning, one count.
    await sleep(GRACE_MS);
    assert.deepEqual(hangups.filter((p) => p.includes(encodeURIComponent(id))).length, 1, `one hang-up request: ${JSON.stringify(hangups)}`);
    const warned = logs.flat().filter((l) => l.includes(id) && l.includes('no deployment owns') && l.includes('"level":40'));
    assert.equal(warned.length, 1, warned.join('\n'));
    const peerSaw = logs.flat().filter((l) => l.includes(id) && l.includes(PEER_CLAIMED));
    assert.equal(peerSaw.length, 1, 'the other process found the call claimed (its hang-up in flight) and left it');
    assert.equal(await scrapeSum({ outcome: 'hung_up' }), 1);
    assert.equal(await scrapeSum({ outcome: 'failed' }), 0);
    // Nobody billed: the record has no owner and no billing; the dead dial's reservation is given back at 0.
    const record = await platforms[0]!.calls.get(id);
    assert.equal(record?.locked, false);
    assert.equal(record?.deploymentId, null);
    assert.equal(record?.billing, null);
    assert.equal(record?.state, 'ended');
    await waitFor('the dead dial\'s reservation given back', async () => (await platforms[0]!.caps.liveOf(D.id)).length === 0, 5_000);
    const usage = await call(`http://127.0.0.1:${ports[0]}`, 'GET', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders() });
    assert.deepEqual(usage.body.usage_minutes, { day: 0, month: 0 });
  });

  it('a live dial whose webhooks come before its answer is not hung up', async () => {
    hangups.length = 0;
    holdHangups = false;
    const countedBefore = await scrapeSum({ outcome: 'hung_up' });
    // Inside the dial deadline: the provider's answer is back after 1.8 s of a 2 s attempt.
    holdDialMs = 1_800;
    const started = Date.now();
    const res = await call(`http://127.0.0.1:${ports[0]}`, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(D.id, secret),
      body: { to: '+15557654322', stream_url: `wss://${D.tunnelHost}/v1/media/unowned-0002`, stream_auth_token: STREAM_TOKEN },
    });
    holdDialMs = 0;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(recordedBeforeAnswer, true, 'the call was recorded, unlocked, from its webhooks before the dial answered');
    const id = res.body.call_control_id as string;
    await waitFor('both platforms took an event of the call', () => logs.every((lines) => lines.some((l) => l.includes(id) && l.includes('webhook recorded'))));
    // Past every watch's grace (the last event came after the answer at the latest).
    await sleep(Math.max(0, started + GRACE_MS + 2_000 - Date.now()));
    assert.equal(sim.hasEnded(id), false, 'the dialled call is still up');
    assert.deepEqual(hangups, []);
    const record = await until('the call record', () => platforms[1]!.calls.get(id));
    assert.equal(record.locked, true);
    assert.equal(record.deploymentId, D.id);
    assert.equal(logs.flat().filter((l) => l.includes(id) && l.includes('no deployment owns')).length, 0);
    assert.equal(await scrapeSum({ outcome: 'hung_up' }), countedBefore);
    const hungUp = await call(`http://127.0.0.1:${ports[0]}`, 'POST', PLATFORM_PATHS.hangup(id), { headers: agentHeaders(D.id, secret), body: {} });
    assert.equal(hungUp.status, 200);
    await waitFor('the call ended', () => sim.hasEnded(id));
  });

  it('the process holding the watch is killed too: another process\'s pass over the records hangs the call up, once', async () => {
    const sweepMs = 300;
    const { logger, lines } = capturingLogger();
    const survivor = new PlatformServer({ ...common(), unownedDialSweepMs: sweepMs, logger } as PlatformServerOptions);
    await survivor.start();
    // The watcher takes every webhook of the call (so only it watches it), then dies before the grace.
    const watcher = await platformProcess(common());
    onlyTo = watcher.port;
    try {
      const dialler = await dyingDialler(common());
      const dial = call(`http://127.0.0.1:${dialler.port}`, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(D.id, secret),
        body: { to: '+15557654323', stream_url: `wss://${D.tunnelHost}/v1/media/unowned-0003`, stream_auth_token: STREAM_TOKEN },
      });
      await assert.rejects(dial, 'the dial is cut off with its process');
      await dialler.exited;
      const id = sim.callSummaries().filter((s) => s.direction === 'outgoing' && s.endedBy === null).at(-1)?.callId ?? '';
      assert.ok(id, 'the provider placed the call before the process died');
      await waitFor('the watcher recorded the answer, unlocked', async () => {
        const record = await survivor.calls.get(id);
        return record?.state === 'answered' && !record.locked;
      }, GRACE_MS / 2);
      const seenAt = Date.now();
      watcher.child.kill('SIGKILL');
      await watcher.exited;
      // No other event comes to anyone (the call talks on; the relay still points at the dead process).
      await waitFor('the orphan hung up by the surviving process', () => sim.hasEnded(id), GRACE_MS + 5 * sweepMs + 5_000);
      assert.ok(Date.now() - seenAt < GRACE_MS + 5 * sweepMs + 5_000);
      assert.equal(sim.callSummary(id)?.endedBy, 'gateway', 'ended by the hang-up action');
      assert.equal(lines.filter((l) => l.includes(id) && l.includes('webhook recorded')).length, 0, 'the survivor took none of its events');
      await sleep(5 * sweepMs);
      const warned = lines.filter((l) => l.includes(id) && l.includes('no deployment owns') && l.includes('"level":40'));
      assert.equal(warned.length, 1, warned.join('\n'));
      assert.equal((await survivor.calls.get(id))?.billing, null, 'nobody billed');
    } finally {
      onlyTo = null;
      watcher.child.kill('SIGKILL');
      await survivor.stop();
    }
  });
});
