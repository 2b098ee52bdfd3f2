/**
 * A platform process killed (SIGKILL) while it ends a deployment's calls at a minute cap: after
 * it warned the gateway (`cap.reached`) and before the goodbye ran out and it hung the calls up.
 * The calls must not run on past the cap with nothing left to end them: their reservations stay
 * live until hung up, so the platform started next on the same Redis finds them at their next
 * top-up, refused at the cap, and hangs them up; each is settled once from its hang-up.
 * Real parts: a redis-server, the platform that is killed in a child process of its own, the
 * restarted one in this process, the gateway's control connection (a raw ws client), and the
 * fake provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable } from '../helpers/redisServer.js';
import { openControl, opened } from './controlClient.js';
import { platformProcess, useCrashFixture } from './platformProcess.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, capturingLogger, envelope, signedHeaders, waitFor } from './helpers.js';

const skip = redisUnavailable();
const UNIT_MS = 1_000;
const D = { id: 'cap-crash-dep', numbers: ['+15551620001'], tunnelHost: 'cap-crash-dep.trycloudflare.com', caps: { dayMinutes: 2, monthMinutes: 100 } };

describe('a platform killed while ending calls at a cap', { skip }, () => {
  const fx = useCrashFixture();
  const { redisFx, provider, keyPair } = fx;
  const { logger, lines } = capturingLogger();
  let restarted: PlatformServer | undefined;
  const common = (): Record<string, unknown> =>
    fx.options({
      capUnitMs: UNIT_MS,
      // No stream ever connects here: the streamless-call check must not be what ends the calls.
      streamlessGraceMs: 600_000,
    });

  before(async () => {
    await fx.startProvider();
  });
  after(async () => {
    await restarted?.stop();
    await provider.stop();
  });

  /** What Redis holds for the deployment: today's counter, its live set, and each reservation. */
  async function capState(): Promise<{ day: number; live: string[]; reservations: Record<string, Record<string, string>> }> {
    const tag = `ttma:{dep:${D.id}}`;
    const day = await redisFx.raw.get(`${tag}:day:${new Date().toISOString().slice(0, 10)}`);
    const reservations: Record<string, Record<string, string>> = {};
    for (const key of await redisFx.raw.keys(`${tag}:call:*`)) reservations[key.slice(`${tag}:call:`.length)] = await redisFx.raw.hgetall(key);
    return { day: Number(day ?? 0), live: await redisFx.raw.zrange(`${tag}:live`, '0', '-1'), reservations };
  }

  it('the restarted platform hangs the calls up within a unit or two, and each is settled once', async () => {
    // A goodbye far longer than the test: the process is killed inside it, before any hang-up.
    const victim = await platformProcess({ ...common(), capGoodbyeMs: 60_000 });
    const victimBase = `http://127.0.0.1:${victim.port}`;
    const created = await call(victimBase, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const headers = agentHeaders(D.id, created.body.agentSecret as string);
    const gateway = opened(await openControl(victimBase, headers));
    await gateway.next('hello');
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const dialled = await call(victimBase, 'POST', PLATFORM_PATHS.dial, {
        headers,
        body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/cap-crash-${i}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
      ids.push(dialled.body.call_control_id as string);
    }
    // 2 of 2 minutes: the first top-up is refused, the gateway is warned, the goodbye starts: killed there.
    await gateway.next('cap.reached', 5 * UNIT_MS);
    victim.child.kill('SIGKILL');
    await victim.exited;
    gateway.ws.terminate();
    assert.equal(provider.commands('hangup').length, 0, 'killed before any hang-up');
    assert.ok(ids.every((id) => provider.calls.get(id)?.alive), 'both calls still up at the provider');
    for (const id of ids) provider.calls.get(id)!.durationMs = 1_500;

    restarted = new PlatformServer({ ...common(), capGoodbyeMs: 0, logger } as ConstructorParameters<typeof PlatformServer>[0]);
    const base = `http://127.0.0.1:${(await restarted.start()).port}`;
    // Next due a unit after the refusal (the ending postponed them): refused again at the cap, ended here.
    await waitFor('both calls hung up by the restarted platform', () => ids.every((id) => provider.calls.get(id)?.alive === false), 4 * UNIT_MS);
    assert.deepEqual((await capState()).live, [], 'released once hung up');

    // The provider's hang-ups reach the platform: each call settled once, at the provider's figure (2 units of 1 s).
    for (const id of ids) {
      const fake = provider.calls.get(id)!;
      const body = envelope('call.hangup', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing', hangup_cause: 'normal_clearing' });
      for (let i = 0; i < 2; i++) assert.equal((await call(base, 'POST', '/v1/provider/webhooks', { raw: body, headers: signedHeaders(keyPair.secretKey, body) })).status, 200);
    }
    await waitFor('both calls settled', async () => Object.values((await capState()).reservations).filter((r) => r['settled'] === '1').length === 2, 5_000);
    const state = await capState();
    for (const reservation of Object.values(state.reservations)) assert.equal(reservation['billed'], '2');
    assert.equal(state.day, 4, 'the counter holds what the provider billed, once');
    assert.equal(provider.commands('hangup').length, 2, 'each call hung up once');
    assert.equal(lines.filter((l) => l.includes('call ended by the platform: minute cap reached')).length, 2);
  });
});
