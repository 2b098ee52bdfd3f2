/**
 * A platform process killed (SIGKILL) right after it hung a call up at a minute cap: the provider
 * took the hang-up and the call's reservation was released, and its call.hangup webhook never
 * comes (lost for good). Nothing in the dead process will check the call again, and no top-up
 * will: the platform started next on the same Redis must still find the call (the call store's
 * unsettled index, where the hang-up put it) and settle it once at the provider's figure, from
 * its call detail record; the webhook arriving after all settles nothing again.
 * Real parts: a redis-server, the killed platform in a child process of its own, the restarted
 * one in this process, and the fake provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable } from '../helpers/redisServer.js';
import { platformProcess, useCrashFixture } from './platformProcess.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, capturingLogger, envelope, signedHeaders, waitFor } from './helpers.js';

const skip = redisUnavailable();
const UNIT_MS = 500;
const D = { id: 'hung-up-crash', numbers: ['+15551630001'], tunnelHost: 'hung-up-crash.trycloudflare.com', caps: { dayMinutes: 2, monthMinutes: 100 } };

describe('a platform killed right after hanging a call up, its call.hangup lost', { skip }, () => {
  const fx = useCrashFixture();
  const { redisFx, provider, keyPair } = fx;
  const { logger, lines } = capturingLogger();
  let restarted: PlatformServer | undefined;
  const common = (): Record<string, unknown> =>
    fx.options({
      capUnitMs: UNIT_MS,
      capGoodbyeMs: 0,
      // No stream ever connects here: the streamless-call check must not be what ends the call.
      streamlessGraceMs: 600_000,
      cdr: { attempts: 3, backoffMs: 20 },
    });

  before(async () => {
    await fx.startProvider();
  });
  after(async () => {
    await restarted?.stop();
    await provider.stop();
  });

  it('the restarted platform settles the call once at the provider\'s figure', async () => {
    // The dead process's own check would come far too late to matter: it is killed long before.
    const victim = await platformProcess({ ...common(), hungUpCheck: { afterMs: 600_000 } });
    const victimBase = `http://127.0.0.1:${victim.port}`;
    const created = await call(victimBase, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const dialled = await call(victimBase, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(D.id, created.body.agentSecret as string),
      body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/hung-up-crash-0`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
    const id = dialled.body.call_control_id as string;
    const live = (): Promise<string[]> => redisFx.raw.zrange(`ttma:{dep:${D.id}}:live`, '0', '-1');
    await waitFor('the call live', async () => (await live()).length === 1, 5 * UNIT_MS);
    // 2 of 2 minutes: the second top-up is refused, the call hung up, its reservation released: killed then.
    await waitFor('the call hung up and released', async () => provider.commands('hangup').length === 1 && (await live()).length === 0, 10 * UNIT_MS);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const fake = provider.calls.get(id)!;
    assert.equal(fake.alive, false);
    fake.durationMs = 1_400;
    const before = await platformRecord(id);
    assert.notEqual(before?.['state'], 'ended', 'no hang-up event reached the platform');
    assert.equal(before?.['billing'], undefined, 'not settled by the killed process');

    restarted = new PlatformServer({ ...common(), logger } as ConstructorParameters<typeof PlatformServer>[0]);
    const base = `http://127.0.0.1:${(await restarted.start()).port}`;
    await waitFor('the call settled by the restarted platform', async () => (await restarted!.calls.get(id))?.billing != null, 5_000);
    const record = (await restarted.calls.get(id))!;
    assert.equal(record.state, 'ended');
    assert.deepEqual(record.billing, { source: 'cdr', durationMs: 1_400, billedMinutes: 3, costMicroUsd: 30_000 });
    const reservation = await redisFx.raw.hgetall(`ttma:{dep:${D.id}}:call:${record.reservationId}`);
    assert.equal(reservation['settled'], '1');
    assert.equal(reservation['billed'], '3', 'settled at the provider\'s figure (1.4 s in units of 0.5 s)');
    assert.equal((await restarted.caps.usage(D.id)).day, 3);

    // The lost webhook after all, twice: nothing settles again.
    const body = envelope('call.hangup', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing', hangup_cause: 'normal_clearing' });
    for (let i = 0; i < 2; i++) assert.equal((await call(base, 'POST', '/v1/provider/webhooks', { raw: body, headers: signedHeaders(keyPair.secretKey, body) })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await restarted.caps.usage(D.id)).day, 3, 'billed once');
    assert.deepEqual((await restarted.calls.get(id))?.billing, record.billing);
    assert.equal(lines.filter((l) => l.includes('call settled from the provider figure') && l.includes(id)).length, 1);
    assert.equal(provider.commands('hangup').length, 1, 'hung up once');
  });

  async function platformRecord(id: string): Promise<Record<string, string> | undefined> {
    const hash = await redisFx.raw.hgetall(`ttma:{calls}:call:${id}`);
    return Object.keys(hash).length ? hash : undefined;
  }
});
