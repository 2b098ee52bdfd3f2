/**
 * Crash consistency of the platform's Redis state: a platform process killed
 * (SIGKILL, no clean stop) in the middle of a dial, between its cap
 * reservation and the lock of its call. Real parts: a redis-server, the
 * platform that dials in a child process of its own, another platform on the
 * same Redis in this process, and the fake provider, which kills the child
 * when the dial reaches it: before placing the call, and after placing it
 * (its answer lost with the process). Either way no call record carries the
 * reservation, so no hang-up will ever settle it: the surviving platform
 * must give it back (the counters back to what the deployment's real calls
 * reserved, nothing left live) rather than top it up until the cap, which
 * then ended the deployment's real calls. The bounded random version (several
 * platforms killed at random moments under load) is the session's harness,
 * docs/platform-storage.md "Crash consistency".
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable } from '../helpers/redisServer.js';
import { platformProcess, useCrashFixture } from './platformProcess.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, capturingLogger, waitFor } from './helpers.js';

const skip = redisUnavailable();
const UNIT_MS = 100;
/** Five units: far longer than a dial takes here (the provider answers on loopback). */
const ORPHAN_GRACE_MS = 500;
const D = { id: 'crash-dep', numbers: ['+15551610001'], tunnelHost: 'crash-dep.trycloudflare.com', caps: { dayMinutes: 40, monthMinutes: 40 } };

describe('crash consistency: a platform process killed mid-dial', { skip }, () => {
  const fx = useCrashFixture();
  const { redisFx, provider } = fx;
  const { logger, lines } = capturingLogger();
  let survivor: PlatformServer;
  let base = '';
  let agentSecret = '';
  const common = (): Record<string, unknown> =>
    fx.options({
      capUnitMs: UNIT_MS,
      orphanReservationGraceMs: ORPHAN_GRACE_MS,
    });

  before(async () => {
    await fx.startProvider();
    survivor = new PlatformServer({ ...common(), logger } as ConstructorParameters<typeof PlatformServer>[0]);
    base = `http://127.0.0.1:${(await survivor.start()).port}`;
    const created = await call(base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201);
    agentSecret = created.body.agentSecret as string;
  });
  after(async () => {
    await survivor?.stop();
    await provider.stop();
  });

  /** What Redis holds for the deployment: today's counters, its live set, and each reservation. */
  async function capState(): Promise<{ day: number; month: number; live: string[]; reservations: Record<string, Record<string, string>> }> {
    const tag = `ttma:{dep:${D.id}}`;
    const now = new Date().toISOString();
    const [day, month] = await redisFx.raw.mget(`${tag}:day:${now.slice(0, 10)}`, `${tag}:month:${now.slice(0, 7)}`);
    const reservations: Record<string, Record<string, string>> = {};
    for (const key of await redisFx.raw.keys(`${tag}:call:*`)) reservations[key.slice(`${tag}:call:`.length)] = await redisFx.raw.hgetall(key);
    return { day: Number(day ?? 0), month: Number(month ?? 0), live: await redisFx.raw.zrange(`${tag}:live`, '0', '-1'), reservations };
  }

  for (const when of ['before', 'after'] as const) {
    it(`killed as the provider is asked to dial (${when} it places the call): the reservation is given back once, nothing stays live`, async () => {
      const dialler = await platformProcess(common());
      let placed: string | null = null;
      provider.override = (req) => {
        if (req.method !== 'POST' || req.path !== '/v2/calls') return undefined;
        provider.override = null;
        if (when === 'after') {
          placed = `v3:crash-${randomBytes(4).toString('hex')}`;
          provider.calls.set(placed, { direction: 'outgoing', from: String(req.body?.['from']), to: String(req.body?.['to']), alive: true });
        }
        // The dialling platform dies here: its reservation is made, no call is locked with it.
        dialler.child.kill('SIGKILL');
        return 'destroy';
      };
      const dial = call(`http://127.0.0.1:${dialler.port}`, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(D.id, agentSecret),
        body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/crash-${when}-0001`, stream_auth_token: STREAM_TOKEN },
      });
      await assert.rejects(dial, 'the dial is cut off with its process');
      await dialler.exited;
      const ghost = Object.entries((await capState()).reservations).find(([r, h]) => r.startsWith('dial-') && h['settled'] !== '1')?.[0];
      assert.ok(ghost, 'the dead process left its reservation');
      // The surviving platform tops the reservation up, finds no call locked with it, and gives it back.
      await waitFor('the orphan reservation given back', async () => (await capState()).reservations[ghost]?.['settled'] === '1', 5_000);
      // Settled at 0, and no later top-up: the counters hold what real calls reserved (none).
      await new Promise((resolve) => setTimeout(resolve, 4 * UNIT_MS));
      const state = await capState();
      assert.equal(state.reservations[ghost]?.['billed'], '0');
      assert.deepEqual(state.live, []);
      const settledUnits = Object.values(state.reservations).reduce((sum, h) => sum + Number(h['billed'] ?? h['reserved'] ?? 0), 0);
      assert.deepEqual([state.day, state.month], [settledUnits, settledUnits]);
      assert.deepEqual([state.day, state.month], [0, 0]);
      const usage = await call(base, 'GET', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders() });
      assert.deepEqual(usage.body.usage_minutes, { day: 0, month: 0 });
      assert.equal(lines.filter((l) => l.includes(ghost) && l.includes('a dial reservation no call carries')).length, 1, 'given back once');
      if (placed) assert.equal((await survivor.calls.get(placed)), undefined, 'the placed call was never locked (its dial died)');
    });
  }
});
