/**
 * Minute caps through the platform's HTTP API, against the embedded store
 * and a real redis-server: refusal at the cap with a clear error, top-ups
 * while live, live calls ended through the provider at the cap, settlement
 * exactly once from the provider's record, and fail-closed without Redis; the
 * embedded store runs the suite twice, in memory and journaled to a state directory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { stateDirs } from '../helpers/stateDirs.js';
import type { StateJournal } from '../../src/platform/store/StateJournal.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, waitFor } from './helpers.js';

const UNIT_MS = 200;
let seq = 0;

function dialBody(host: string, to = '+15557654321'): Record<string, unknown> {
  seq += 1;
  return { to, stream_url: `wss://${host}/v1/media/media-${process.pid}-${seq}`, stream_auth_token: STREAM_TOKEN };
}

/** `store`: a Redis URL, or null for the embedded store; `journal` journals the embedded store to a state directory. */
function capSuite(name: string, redisUrl: () => string | null, skip?: string, journal?: () => Promise<StateJournal>): void {
  describe(`minute caps through the platform (${name} store)`, { skip }, () => {
    let h: Harness;
    const harness = async (capUnitMs: number): Promise<Harness> =>
      startHarness({
        redisUrl: redisUrl(),
        ...(journal ? { stateJournal: await journal() } : {}),
        capUnitMs,
        capGoodbyeMs: 0,
        rateLimit: { ratePerSec: 1_000, burst: 1_000 },
        cdr: { attempts: 3, backoffMs: 20 },
      });
    before(async () => {
      h = await harness(UNIT_MS);
    });
    after(() => h?.close());

    /**
     * A platform whose unit is a real minute, for a test that counts reservations right after its
     * dials: with UNIT_MS a loaded box can run a call's top-up between two dials (a minute more).
     */
    async function withMinuteUnit(test: (m: Harness) => Promise<void>): Promise<void> {
      const m = await harness(60_000);
      try {
        await test(m);
      } finally {
        await m.close();
      }
    }

    async function deployment(id: string, caps: { dayMinutes: number; monthMinutes: number }, on: Harness = h) {
      const host = `${id}.trycloudflare.com`;
      const { agentSecret } = await on.platform.deployments.register({ id, numbers: [`+1555${String(100_0000 + seq++).slice(-7)}`], tunnelHost: host, caps });
      return { id, host, headers: agentHeaders(id, agentSecret) };
    }

    it('refuses a new call at the cap with TTMA_ERR_CAP_REACHED before the provider hears of it', () =>
      withMinuteUnit(async (m) => {
        const d = await deployment(`cap-refuse-${name}`, { dayMinutes: 2, monthMinutes: 100 }, m);
        for (let i = 0; i < 2; i++) {
          const ok = await call(m.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
          assert.equal(ok.status, 200, JSON.stringify(ok.body));
        }
        const refused = await call(m.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
        assert.equal(refused.status, 403);
        assert.equal(refused.body.error.code, 'TTMA_ERR_CAP_REACHED');
        assert.match(refused.body.error.message, /daily minute cap reached \(2 of 2 minutes used\)/);
        assert.equal(m.provider.requests.filter((r) => r.path === '/v2/calls').length, 2, 'the provider never heard of the third');
        assert.deepEqual(await m.platform.caps.usage(d.id), { day: 2, month: 2 });
        // Refused calls are logged for audit with their code.
        assert.ok(m.lines.some((l) => l.includes('TTMA_ERR_CAP_REACHED') && l.includes(d.id)));
      }));

    it('tops up each unit while live, then ends the live calls through the provider and tells the gateway', async () => {
      const d = await deployment(`cap-live-${name}`, { dayMinutes: 4, monthMinutes: 100 });
      const notices: unknown[] = [];
      const off = h.platform.onCapNotice((dep, notice) => dep === d.id && notices.push(notice));
      try {
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) {
          const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
          assert.equal(res.status, 200);
          ids.push(res.body.call_control_id);
        }
        // A reservation each; on a loaded box the first may already have topped up before the second dial.
        const early = await h.platform.caps.usage(d.id);
        assert.ok(early.day >= 2 && early.day <= 4 && early.month === early.day, JSON.stringify(early));
        // Each call tops up once (4 of 4), then the next top-up fails and both calls are ended.
        await waitFor('both calls hung up by the platform', () =>
          ids.every((id) => h.provider.commands('hangup').some((r) => r.path.includes(encodeURIComponent(id)))),
        );
        assert.deepEqual(await h.platform.caps.usage(d.id), { day: 4, month: 4 });
        assert.equal(notices.length, 2);
        assert.deepEqual(
          new Set(notices.map((n) => (n as { call_control_id: string }).call_control_id)),
          new Set(ids),
        );
        assert.ok(notices.every((n) => (n as { type: string; cap: string }).type === 'cap.reached' && (n as { cap: string }).cap === 'day'));
        for (const id of ids) assert.equal(h.provider.calls.get(id)?.alive, false);
      } finally {
        off();
      }
    });

    /** An inbound call ringing at the provider, announced to the platform by its signed call.initiated. */
    async function ringing(d: { id: string; host: string }, number: string): Promise<{ id: string; body: Record<string, unknown> }> {
      const id = `v3:in-${d.id}-${seq++}`;
      h.provider.calls.set(id, { direction: 'incoming', from: '+15559990000', to: number, alive: true });
      assert.equal((await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: '+15559990000', to: number, direction: 'incoming' }))).status, 200);
      return { id, body: { stream_url: `wss://${d.host}/v1/media/${encodeURIComponent(id)}`, stream_auth_token: STREAM_TOKEN } };
    }

    it('answers a call once: a second answer is refused (409) before the provider is asked, and the call stays capped', async () => {
      const number = `+1555${String(100_0000 + seq++).slice(-7)}`;
      const id = `cap-once-${name}`;
      const { agentSecret } = await h.platform.deployments.register({ id, numbers: [number], tunnelHost: `${id}.trycloudflare.com`, caps: { dayMinutes: 3, monthMinutes: 100 } });
      const d = { id, host: `${id}.trycloudflare.com`, headers: agentHeaders(id, agentSecret) };
      const c = await ringing(d, number);
      const path = PLATFORM_PATHS.answer(c.id);
      assert.equal((await call(h.base, 'POST', path, { headers: d.headers, body: c.body })).status, 200);
      const answersBefore = h.provider.commands('answer').length;
      const again = await call(h.base, 'POST', path, { headers: d.headers, body: c.body });
      assert.equal(again.status, 409, JSON.stringify(again.body));
      assert.equal(again.body.error.code, 'TTMA_ERR_CONFLICT');
      assert.equal(h.provider.commands('answer').length, answersBefore, 'the provider never heard of the second answer');
      assert.deepEqual(await h.platform.caps.liveOf(d.id), [c.id], 'still live, still topping up');
      // It tops up to the cap (3 units) and is then ended by the platform itself.
      await waitFor('the capped call hung up by the platform', () => h.provider.commands('hangup').some((r) => r.path.includes(encodeURIComponent(c.id))));
      assert.deepEqual(await h.platform.caps.usage(d.id), { day: 3, month: 3 });
    });

    it('refuses to answer a call the deployment dialled (409): its dial reservation is untouched', () =>
      withMinuteUnit(async (m) => {
        const d = await deployment(`cap-dialled-${name}`, { dayMinutes: 50, monthMinutes: 100 }, m);
        const res = await call(m.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
        const id = res.body.call_control_id as string;
        const reservationId = (await m.platform.calls.get(id))?.reservationId;
        const answer = await call(m.base, 'POST', PLATFORM_PATHS.answer(id), {
          headers: d.headers,
          body: { stream_url: `wss://${d.host}/v1/media/${encodeURIComponent(id)}`, stream_auth_token: STREAM_TOKEN },
        });
        assert.equal(answer.status, 409, JSON.stringify(answer.body));
        assert.equal((await m.platform.calls.get(id))?.reservationId, reservationId);
        assert.deepEqual(await m.platform.caps.liveOf(d.id), [reservationId]);
        assert.deepEqual(await m.platform.caps.usage(d.id), { day: 1, month: 1 });
      }));

    it("keeps the reservation live when the provider's answer outcome is unknown (5xx), and releases it when the provider refuses", async () => {
      const number = `+1555${String(100_0000 + seq++).slice(-7)}`;
      const id = `cap-unknown-${name}`;
      const { agentSecret } = await h.platform.deployments.register({ id, numbers: [number], tunnelHost: `${id}.trycloudflare.com`, caps: { dayMinutes: 50, monthMinutes: 100 } });
      const d = { id, host: `${id}.trycloudflare.com`, headers: agentHeaders(id, agentSecret) };
      const unknown = await ringing(d, number);
      const refused = await ringing(d, number);
      h.provider.override = (r) => {
        if (r.path.includes(`${encodeURIComponent(unknown.id)}/actions/answer`)) return { status: 503, body: { errors: [{ code: '10007', title: 'unavailable' }] } };
        if (r.path.includes(`${encodeURIComponent(refused.id)}/actions/answer`)) return { status: 422, body: { errors: [{ code: '90015', title: 'invalid call state' }] } };
        return undefined;
      };
      try {
        assert.equal((await call(h.base, 'POST', PLATFORM_PATHS.answer(unknown.id), { headers: d.headers, body: unknown.body })).status, 502);
        assert.equal((await call(h.base, 'POST', PLATFORM_PATHS.answer(refused.id), { headers: d.headers, body: refused.body })).status, 502);
      } finally {
        h.provider.override = null;
      }
      assert.deepEqual(await h.platform.caps.liveOf(d.id), [unknown.id], 'perhaps answered: still reserving; refused: released');
    });

    it('an operator who lowers a cap to the minutes used stops live calls at it on their next top-up, not at the old cap', async () => {
      const d = await deployment(`cap-lowered-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const id = (await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) })).body.call_control_id as string;
      // 1 minute used, the cap lowered to 2: the call tops up to 2 and is ended there (at 50 it would take 10 s).
      // On a loaded box a top-up may come before the lowering lands: the call then ends at its next one.
      const before = await h.platform.caps.usage(d.id);
      assert.equal((await call(h.base, 'PATCH', `/v1/admin/deployments/${d.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 2, monthMinutes: 100 } } })).status, 200);
      await waitFor('the call ended at the lowered cap', () => h.provider.commands('hangup').some((r) => r.path.includes(encodeURIComponent(id))));
      const after = await h.platform.caps.usage(d.id);
      assert.equal(after.month, after.day);
      assert.ok(after.day >= 2 && after.day <= Math.max(2, before.day + 1), `ended at ${after.day} minutes, ${before.day} used when the cap was lowered to 2`);
    });

    it('disabling a deployment ends its live calls through the provider', async () => {
      const d = await deployment(`cap-disabled-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const id = (await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) })).body.call_control_id as string;
      assert.equal((await call(h.base, 'POST', `/v1/admin/deployments/${d.id}/disable`, { headers: adminHeaders(), body: {} })).status, 200);
      await waitFor('the disabled deployment\'s call hung up', () => h.provider.commands('hangup').some((r) => r.path.includes(encodeURIComponent(id))));
      // The audit line follows the provider's answer, which the simulator records the command before sending.
      await waitFor('logged for audit', () => h.lines.some((l) => l.includes('TTMA_ERR_DEPLOYMENT_DISABLED') && l.includes(id)));
    });

    it("settles exactly once at hang-up, at the provider's billed minutes", async () => {
      const d = await deployment(`cap-settle-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      const id = res.body.call_control_id as string;
      const fake = h.provider.calls.get(id)!;
      // Let it top up a couple of units, then the provider ends it and says it lasted 2.5 units.
      await waitFor('two top-ups', async () => (await h.platform.caps.usage(d.id)).day >= 3);
      fake.alive = false;
      fake.durationMs = Math.round(2.5 * UNIT_MS);
      const facts = { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing' as const };
      for (let i = 0; i < 3; i++) assert.equal((await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: 'normal_clearing' }))).status, 200);
      await waitFor('settled', async () => (await h.platform.calls.get(id))?.billing !== null);
      await new Promise((resolve) => setTimeout(resolve, 3 * UNIT_MS));
      assert.deepEqual(await h.platform.caps.usage(d.id), { day: 3, month: 3 });
      const billing = (await h.platform.calls.get(id))?.billing;
      assert.deepEqual(billing, { source: 'cdr', durationMs: 500, billedMinutes: 3, costMicroUsd: 30_000 });
      assert.deepEqual(await h.platform.caps.liveOf(d.id), [], 'no longer live');
    });

    it("settles a call whose hang-up event never arrives, from the provider's own record", async () => {
      const d = await deployment(`cap-lost-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      const id = res.body.call_control_id as string;
      const fake = h.provider.calls.get(id)!;
      await waitFor('a top-up', async () => (await h.platform.caps.usage(d.id)).day >= 2);
      // The provider ends the call; its call.hangup webhook is lost for good.
      fake.alive = false;
      fake.durationMs = Math.round(1.5 * UNIT_MS);
      await waitFor('settled without the event', async () => (await h.platform.calls.get(id))?.billing != null);
      const record = (await h.platform.calls.get(id))!;
      assert.deepEqual(record.billing, { source: 'cdr', durationMs: 300, billedMinutes: 2, costMicroUsd: 20_000 });
      assert.equal(record.state, 'ended');
      // Telnyx's detail records carry no hang-up cause: the end time comes from finished_at, the cause stays unknown.
      assert.equal(record.hangupCause, null);
      assert.equal(record.timeline.at(-1)?.event, 'call.hangup');
      assert.deepEqual(await h.platform.caps.liveOf(d.id), []);
      const settled = await h.platform.caps.usage(d.id);
      assert.equal(settled.day, 2, 'billed at the provider figure: the extra top-up went back');
      await new Promise((resolve) => setTimeout(resolve, 3 * UNIT_MS));
      assert.deepEqual(await h.platform.caps.usage(d.id), settled, 'no more top-ups');
      assert.ok(h.lines.some((l) => l.includes('no hang-up event reached the platform') && l.includes(id)));
      // The event arriving late changes nothing.
      const facts = { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing' as const };
      assert.equal((await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: 'normal_clearing' }))).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 2 * UNIT_MS));
      assert.deepEqual(await h.platform.caps.usage(d.id), settled);
    });

    it('settles a call the provider no longer keeps a status for (404), when its call record shows the end', async () => {
      const d = await deployment(`cap-gone-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      const id = res.body.call_control_id as string;
      const fake = h.provider.calls.get(id)!;
      await waitFor('a top-up', async () => (await h.platform.caps.usage(d.id)).day >= 2);
      // Ended long ago (say while the platform was down): the status is gone, the record stays.
      const path = `/v2/calls/${encodeURIComponent(id)}`;
      h.provider.override = (r) => (r.method === 'GET' && r.path === path ? { status: 404, body: { errors: [{ code: '90015', title: 'Call not found' }] } } : undefined);
      try {
        fake.alive = false;
        fake.durationMs = Math.round(1.5 * UNIT_MS);
        // The audit's line, not only the billing: on the journaled store the billing is visible before
        // its flush completes, and the line is written after it.
        const audited = () => h.lines.some((l) => l.includes('no longer keeps this call') && l.includes(id));
        await waitFor('settled from the record', async () => (await h.platform.calls.get(id))?.billing != null && audited());
      } finally {
        h.provider.override = null;
      }
      const record = (await h.platform.calls.get(id))!;
      assert.deepEqual(record.billing, { source: 'cdr', durationMs: 300, billedMinutes: 2, costMicroUsd: 20_000 });
      assert.equal(record.state, 'ended');
      assert.deepEqual(await h.platform.caps.liveOf(d.id), []);
    });

    it('keeps a call reserving while the provider does not clearly say it ended (fail closed)', async () => {
      const d = await deployment(`cap-unsure-${name}`, { dayMinutes: 50, monthMinutes: 100 });
      const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      const id = res.body.call_control_id as string;
      const path = `/v2/calls/${encodeURIComponent(id)}`;
      const isRecordSearch = (r: { method: string; path: string }) =>
        r.method === 'GET' && r.path.startsWith('/v2/detail_records?') && r.path.includes(`filter[telnyx_call_control_id]=${encodeURIComponent(id)}`);
      const answers: Array<{ status: number; body: unknown }> = [
        { status: 500, body: { errors: [{ code: '10007', title: 'unexpected error' }] } },
        { status: 404, body: { errors: [{ code: '90015', title: 'Call not found' }] } },
        { status: 200, body: { data: { call_control_id: id } } },
        // Says ended, but has no final record to bill from yet.
        { status: 200, body: { data: { call_control_id: id, is_alive: false } } },
      ];
      let asked = 0;
      h.provider.override = (r) => {
        if (r.method === 'GET' && r.path === path) return answers[Math.min(asked++, answers.length - 1)];
        if (isRecordSearch(r)) return { status: 200, body: { data: [] } };
        return undefined;
      };
      try {
        await waitFor('every kind of unclear answer', () => asked >= answers.length + 1, 10_000);
        const before = (await h.platform.caps.usage(d.id)).day;
        await waitFor('still topping up', async () => (await h.platform.caps.usage(d.id)).day > before);
        assert.equal((await h.platform.calls.get(id))?.billing, null);
        assert.equal((await h.platform.calls.get(id))?.state, 'initiated');
        assert.ok((await h.platform.caps.liveOf(d.id)).length === 1);
      } finally {
        h.provider.override = null;
      }
      await call(h.base, 'POST', PLATFORM_PATHS.hangup(id), { headers: d.headers });
    });

    it('gives the minute back when the provider refuses the dial', async () => {
      const d = await deployment(`cap-fail-${name}`, { dayMinutes: 1, monthMinutes: 100 });
      h.provider.override = (r) => (r.path === '/v2/calls' ? { status: 422, body: { errors: [{ code: '10016', title: 'bad number' }] } } : undefined);
      try {
        const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
        assert.equal(res.status, 502);
      } finally {
        h.provider.override = null;
      }
      assert.deepEqual(await h.platform.caps.usage(d.id), { day: 0, month: 0 });
      const again = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      assert.equal(again.status, 200);
    });
  });
}

capSuite('embedded', () => null);

const dirs = stateDirs();
after(() => dirs.close());
capSuite('journaled', () => null, undefined, () => dirs.journal());

const skip = redisUnavailable();
let redis: RedisServer | undefined;
let redisUrl = '';
describe('redis for the cap tests', { skip }, () => {
  before(async () => {
    redis = await startRedisServer();
    redisUrl = redis.url;
  });
  capSuite('redis', () => redisUrl, skip);

  describe('Redis unreachable', () => {
    let h: Harness;
    let d: { host: string; headers: Record<string, string> };
    before(async () => {
      h = await startHarness({ redisUrl, capUnitMs: UNIT_MS, capGoodbyeMs: 0, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
      const { agentSecret } = await h.platform.deployments.register({
        id: 'dep-degraded',
        numbers: ['+15553330000'],
        tunnelHost: 'degraded.trycloudflare.com',
        caps: { dayMinutes: 100, monthMinutes: 1000 },
      });
      d = { host: 'degraded.trycloudflare.com', headers: agentHeaders('dep-degraded', agentSecret) };
    });
    after(async () => {
      await h?.close();
      await redis?.stop();
    });

    it('refuses new calls (fail closed), lets live calls continue and reports degraded', async () => {
      assert.equal((await call(h.base, 'GET', '/readyz')).status, 200);
      const live = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      assert.equal(live.status, 200);
      const liveId = live.body.call_control_id as string;
      await redis!.kill();

      const refused = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: d.headers, body: dialBody(d.host) });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'TTMA_ERR_STORE_UNAVAILABLE');
      const ready = await call(h.base, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.degraded, true);
      assert.equal(ready.body.store, 'redis');
      assert.equal(ready.body.error.code, 'TTMA_ERR_STORE_UNAVAILABLE');
      // A gateway's read of its calls fails closed too, in the platform's words, not Redis's (no host or port).
      const listed = await call(h.base, 'GET', `${PLATFORM_PATHS.dial}?limit=5`, { headers: d.headers });
      assert.equal(listed.status, 503);
      assert.equal(listed.body.error.message, "the platform's store cannot answer right now: retry later");
      assert.ok(h.lines.some((l) => l.includes('redis unavailable')), 'the store\'s own words are in the log');
      // Several units pass without a successful top-up: the live call is not ended.
      await new Promise((resolve) => setTimeout(resolve, 4 * UNIT_MS));
      assert.equal(h.provider.calls.get(liveId)?.alive, true);
      // (Calls left live by the suites before, on this Redis, are this process's to top up and end: not counted.)
      assert.equal(h.provider.commands('hangup').filter((r) => r.path.includes(encodeURIComponent(liveId))).length, 0);
      // And the live call can still be hung up by its gateway.
      const hangup = await call(h.base, 'POST', PLATFORM_PATHS.hangup(liveId), { headers: d.headers, body: {} });
      assert.equal(hangup.status, 200);
      assert.ok(h.lines.some((l) => l.includes('degraded')));
    });
  });
});

describe('a cap lowered below the minutes already used', () => {
  it('ends the live calls at once, not at their next top-up (a unit is a minute here: none comes during the test)', async () => {
    const h = await startHarness({ capUnitMs: 60_000, capGoodbyeMs: 0, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    try {
      const id = 'cap-lowered-now';
      const host = `${id}.trycloudflare.com`;
      const { agentSecret } = await h.platform.deployments.register({ id, numbers: ['+15550007777'], tunnelHost: host, caps: { dayMinutes: 50, monthMinutes: 100 } });
      const headers = agentHeaders(id, agentSecret);
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, body: dialBody(host) })).body.call_control_id as string);
      const hungUp = () => ids.filter((c) => h.provider.commands('hangup').some((r) => r.path.includes(encodeURIComponent(c))));
      // A change that leaves the caps above the minutes used ends nothing.
      assert.equal((await call(h.base, 'PATCH', `/v1/admin/deployments/${id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 2, monthMinutes: 100 } } })).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(hungUp(), []);
      // 2 minutes used, the cap lowered to 1: both calls end now.
      assert.equal((await call(h.base, 'PATCH', `/v1/admin/deployments/${id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 1, monthMinutes: 100 } } })).status, 200);
      await waitFor('both calls over the lowered cap hung up', () => hungUp().length === 2);
      assert.ok(h.lines.some((l) => l.includes('TTMA_ERR_CAP_REACHED') && l.includes(ids[0]!)), 'logged for audit');
    } finally {
      await h.close();
    }
  });
});

describe('a hang-up at the cap the provider fails', () => {
  it('is tried again until the call ends: at the cap it has no reservation left to be audited by', async () => {
    const h = await startHarness({
      capUnitMs: UNIT_MS,
      capGoodbyeMs: 0,
      capHangupRetryMs: [50, 50, 50],
      rateLimit: { ratePerSec: 1_000, burst: 1_000 },
      provider: { backoffMs: 5, timeoutMs: 2_000, maxAttempts: 1 },
    });
    try {
      const id = 'cap-hangup-retry';
      const host = `${id}.trycloudflare.com`;
      const { agentSecret } = await h.platform.deployments.register({ id, numbers: ['+15550008888'], tunnelHost: host, caps: { dayMinutes: 1, monthMinutes: 100 } });
      const dialled = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(id, agentSecret), body: dialBody(host) });
      const callId = dialled.body.call_control_id as string;
      // The provider fails the first two hang-ups of this call.
      let failures = 0;
      h.provider.override = (r) => (r.path.includes(`${encodeURIComponent(callId)}/actions/hangup`) && failures++ < 2 ? { status: 500, body: { errors: [{ code: '10001' }] } } : undefined);
      await waitFor('the call ended at the cap despite two failed hang-ups', () => h.provider.calls.get(callId)?.alive === false);
      assert.equal(h.provider.commands('hangup').filter((r) => r.path.includes(encodeURIComponent(callId))).length, 3);
      assert.ok(h.lines.some((l) => l.includes('could not end a call, trying again') && l.includes(callId)));
    } finally {
      h.provider.override = null;
      await h.close();
    }
  });
});
