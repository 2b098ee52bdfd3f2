/**
 * The cap race (issue 5's figure): 8 gateways of one deployment place calls
 * as fast as the platform lets them, through two platform instances sharing
 * one real redis-server, against a 10-minute daily cap. The minutes granted
 * must never exceed the cap, and every refusal must be the cap error.
 *
 * Writes `{granted, cap, overshoot}` to TTMA_CAP_RACE_FILE when set, for the
 * suite runner's last line `platform: cap race granted G of C minutes, overshoot O`.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { CONNECTION_ID, FakeProvider, PROVIDER_KEY, STREAM_TOKEN, agentHeaders, call, capturingLogger } from './helpers.js';

const GATEWAYS = 8;
const CAP = 10;
const MAX_ATTEMPTS_PER_GATEWAY = 40;
const DEPLOYMENT = { id: 'race-dep', numbers: ['+15554440000'], tunnelHost: 'race.trycloudflare.com', agentSecret: 'r'.repeat(40) };

const skip = redisUnavailable();

describe('cap race through a real Redis', { skip }, () => {
  let redis: RedisServer;
  let provider: FakeProvider;
  const platforms: PlatformServer[] = [];
  const bases: string[] = [];

  before(async () => {
    redis = await startRedisServer();
    provider = new FakeProvider();
    const providerBaseUrl = await provider.start();
    for (let i = 0; i < 2; i++) {
      const platform = new PlatformServer({
        providerBaseUrl,
        providerApiKey: PROVIDER_KEY,
        connectionId: CONNECTION_ID,
        webhookPublicKeyBase64: null,
        adminToken: null,
        logger: capturingLogger().logger,
        redisUrl: redis.url,
        rateLimit: { ratePerSec: 10_000, burst: 10_000 },
      });
      // Both platforms share the Redis: the deployment registered on the first is the second's too.
      if (i === 0) await platform.deployments.register({ ...DEPLOYMENT, caps: { dayMinutes: CAP, monthMinutes: 1_000 } });
      platforms.push(platform);
      bases.push(`http://127.0.0.1:${(await platform.start()).port}`);
    }
  });
  after(async () => {
    for (const p of platforms) await p.stop();
    await provider?.stop();
    await redis?.stop();
  });

  it(`grants at most ${CAP} minutes to ${GATEWAYS} gateways racing, each refusal a cap error`, async () => {
    const headers = agentHeaders(DEPLOYMENT.id, DEPLOYMENT.agentSecret);
    const refusals: Array<{ status: number; code: string; message: string }> = [];
    let granted = 0;
    let seq = 0;
    const gateway = async (index: number): Promise<void> => {
      const base = bases[index % bases.length]!;
      for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_GATEWAY; attempt++) {
        seq += 1;
        const res = await call(base, 'POST', PLATFORM_PATHS.dial, {
          headers,
          body: { to: '+15557654321', stream_url: `wss://${DEPLOYMENT.tunnelHost}/v1/media/race-${index}-${seq}`, stream_auth_token: STREAM_TOKEN },
        });
        if (res.status === 200) {
          granted += 1;
          continue;
        }
        refusals.push({ status: res.status, code: res.body?.error?.code, message: res.body?.error?.message });
        // A gateway at the cap keeps trying a little: every retry must be refused too.
        if (refusals.filter((r) => r.code === 'TTMA_ERR_CAP_REACHED').length > 3 * GATEWAYS) return;
      }
    };
    await Promise.all(Array.from({ length: GATEWAYS }, (_, i) => gateway(i)));

    const usage = await platforms[0]!.caps.usage(DEPLOYMENT.id);
    const overshoot = Math.max(0, usage.day - CAP);
    const line = { granted: usage.day, cap: CAP, overshoot, dialsAccepted: granted, refusals: refusals.length };
    if (process.env.TTMA_CAP_RACE_FILE) appendFileSync(process.env.TTMA_CAP_RACE_FILE, `${JSON.stringify(line)}\n`);
    process.stdout.write(`platform: cap race granted ${usage.day} of ${CAP} minutes, overshoot ${overshoot}\n`);

    assert.equal(usage.day, granted, 'every accepted dial holds exactly one reserved minute');
    assert.ok(usage.day <= CAP, `granted ${usage.day} > cap ${CAP}`);
    assert.equal(usage.day, CAP, 'racing gateways use the whole cap');
    assert.equal(provider.requests.filter((r) => r.path === '/v2/calls').length, granted, 'no refused call reached the provider');
    assert.ok(refusals.length >= GATEWAYS);
    for (const r of refusals) {
      assert.equal(r.status, 403);
      assert.equal(r.code, 'TTMA_ERR_CAP_REACHED');
      assert.match(r.message, /daily minute cap reached \(10 of 10 minutes used\)/);
    }
  });
});
