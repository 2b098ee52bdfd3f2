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
/** The deployment of the stopped (not killed) platform's test. */
const S = { ...D, id: 'cap-stop-dep', numbers: ['+15551620002'], tunnelHost: 'cap-stop-dep.trycloudflare.com' };
/**
 * Module code for the platform's own process: on SIGTERM it stops (as `ttma platform` does) and
 * lets the process end by itself, so what still holds it (a wait it sits out) shows as a late exit.
 */
const STOP_ON_SIGTERM = `process.once('SIGTERM', () => { const t0 = performance.now(); void p.stop().then(() => process.stderr.write('platform stopped in ' + Math.round(performance.now() - t0) + ' ms\\n')); });`;
/** A stopping process with nothing left to do exits within the stop grace (1 s) and a margin for a loaded machine. */
const EXIT_BOUND_MS = 3_000;

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

  /** The provider's hang-up commands for these calls (the two tests' calls share the provider). */
  const hangupsOf = (ids: string[]): number => provider.commands('hangup').filter((c) => ids.some((id) => decodeURIComponent(c.path).includes(id))).length;

  /** What Redis holds for the deployment: today's counter, its live set, and each reservation. */
  async function capState(id = D.id): Promise<{ day: number; live: string[]; reservations: Record<string, Record<string, string>> }> {
    const tag = `ttma:{dep:${id}}`;
    const day = await redisFx.raw.get(`${tag}:day:${new Date().toISOString().slice(0, 10)}`);
    const reservations: Record<string, Record<string, string>> = {};
    for (const key of await redisFx.raw.keys(`${tag}:call:*`)) reservations[key.slice(`${tag}:call:`.length)] = await redisFx.raw.hgetall(key);
    return { day: Number(day ?? 0), live: await redisFx.raw.zrange(`${tag}:live`, '0', '-1'), reservations };
  }

  /**
   * A platform process whose deployment `d` has two calls at its cap: it warned the gateway and is
   * inside a goodbye far longer than the test, before any hang-up.
   */
  async function warnedAtCap(d: typeof D, prelude?: string): Promise<{ victim: Awaited<ReturnType<typeof platformProcess>>; gateway: ReturnType<typeof opened>; ids: string[] }> {
    const victim = await platformProcess({ ...common(), capGoodbyeMs: 60_000 }, prelude === undefined ? {} : { prelude });
    const victimBase = `http://127.0.0.1:${victim.port}`;
    const created = await call(victimBase, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: d });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const headers = agentHeaders(d.id, created.body.agentSecret as string);
    const gateway = opened(await openControl(victimBase, headers));
    await gateway.next('hello');
    // Both dials at once: one after the other, a loaded box could run the first call's top-up (the
    // second minute of 2) before the second dial, which would then be refused at the cap.
    const dials = await Promise.all(
      [0, 1].map((i) =>
        call(victimBase, 'POST', PLATFORM_PATHS.dial, {
          headers,
          body: { to: '+15557654321', stream_url: `wss://${d.tunnelHost}/v1/media/${d.id}-${i}`, stream_auth_token: STREAM_TOKEN },
        }),
      ),
    );
    const ids = dials.map((dialled) => {
      assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
      return dialled.body.call_control_id as string;
    });
    // 2 of 2 minutes: the first top-up is refused, the gateway is warned, the goodbye starts.
    await gateway.next('cap.reached', 5 * UNIT_MS);
    return { victim, gateway, ids };
  }

  it('a platform stopped inside the goodbye exits at once, and the next process still ends the calls', async () => {
    const { victim, gateway, ids } = await warnedAtCap(S, STOP_ON_SIGTERM);
    const t0 = performance.now();
    victim.child.kill('SIGTERM');
    const exitedInTime = await Promise.race([victim.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), EXIT_BOUND_MS))]);
    const tookMs = Math.round(performance.now() - t0);
    if (!exitedInTime) {
      victim.child.kill('SIGKILL');
      await victim.exited;
    }
    gateway.ws.terminate();
    assert.ok(exitedInTime, `the stopping platform exited within ${EXIT_BOUND_MS} ms (it sat out the 60 s goodbye: still up after ${tookMs} ms)`);
    assert.equal(hangupsOf(ids), 0, 'stopped before any hang-up');
    assert.ok(ids.every((id) => provider.calls.get(id)?.alive), 'both calls still up at the provider');

    const next = new PlatformServer({ ...common(), capGoodbyeMs: 0, logger: capturingLogger().logger } as ConstructorParameters<typeof PlatformServer>[0]);
    await next.start();
    try {
      // Their reservations were left live (postponed a unit): the next top-up is refused at the cap and ends them.
      await waitFor('both calls hung up by the next platform', () => ids.every((id) => provider.calls.get(id)?.alive === false), 4 * UNIT_MS);
      assert.deepEqual((await capState(S.id)).live, [], 'released once hung up');
    } finally {
      await next.stop();
    }
  });

  it('the restarted platform hangs the calls up within a unit or two, and each is settled once', async () => {
    // Killed inside the goodbye, before any hang-up.
    const { victim, gateway, ids } = await warnedAtCap(D);
    victim.child.kill('SIGKILL');
    await victim.exited;
    gateway.ws.terminate();
    assert.equal(hangupsOf(ids), 0, 'killed before any hang-up');
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
    assert.equal(hangupsOf(ids), 2, 'each call hung up once');
    assert.equal(lines.filter((l) => l.includes('call ended by the platform: minute cap reached') && l.includes(D.id)).length, 2);
  });
});
