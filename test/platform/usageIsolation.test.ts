/**
 * Usage cross-check retention (FAQ-14): a gateway's reports of made-up call
 * ids cannot flush the ledger. Through the real platform (in process, and on a
 * real redis-server): deployment A's and B's tampered reports stay flagged,
 * and B's settled-but-unreported call stays pending (then `unreported`), while
 * B sends more unknown reports than the whole retention; the operator sees the
 * newest of B's unknown ids and how many there were.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT } from '../../src/platform/store/UsageStore.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { adminHeaders, agentHeaders, call, dialledAndEnded, startHarness, waitFor, type Harness } from './helpers.js';

const A = { id: 'victim-a', numbers: ['+15550003333'], tunnelHost: 'a.trycloudflare.com' };
const B = { id: 'spammer-b', numbers: ['+15550004444'], tunnelHost: 'b.trycloudflare.com' };
const RETAINED = 50;
const GHOSTS = 2 * DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT;
const GRACE_MS = 1_500;

interface View {
  call_control_id: string;
  deployment_id: string;
  flags: string[];
}

function suite(name: string, redis: () => Promise<RedisServer | undefined>, skip?: string): void {
  describe(`usage ledger retention against made-up call ids: ${name}`, { skip }, () => {
    let server: RedisServer | undefined;
    let h: Harness;
    const headers: Record<string, Record<string, string>> = {};
    before(async () => {
      server = await redis();
      h = await startHarness({
        ...(server ? { redisUrl: server.url } : {}),
        callRetention: { maxCalls: RETAINED },
        usageReportGraceMs: GRACE_MS,
        rateLimit: { ratePerSec: 10_000, burst: 10_000 },
        cdr: { attempts: 2, backoffMs: 10 },
      });
      for (const d of [A, B]) headers[d.id] = agentHeaders(d.id, (await h.platform.deployments.register(d)).agentSecret);
    });
    after(async () => {
      await h?.close();
      await server?.stop();
    });

    async function settled(d: typeof A, providerMs: number): Promise<string> {
      const id = await dialledAndEnded(h, headers[d.id]!, d.tunnelHost, providerMs);
      await waitFor('the provider figure in the ledger', async () => (await h.platform.ledger.get(d.id, id))?.providerMs === providerMs);
      return id;
    }

    const report = (d: typeof A, id: string, ms: number) =>
      call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(id)}/usage`, { headers: headers[d.id]!, body: { duration_ms: ms } });

    it("keeps every real call's flag and pending figure while one deployment reports twice the retention in unknown ids", async () => {
      const victim = await settled(A, 45_000);
      assert.deepEqual((await report(A, victim, 1_000)).body.flags, ['duration_mismatch']);
      const own = await settled(B, 45_000);
      assert.deepEqual((await report(B, own, 1_000)).body.flags, ['duration_mismatch']);
      const silent = await settled(B, 30_000);
      const started = Date.now();
      for (let i = 0; i < GHOSTS; i++) assert.equal((await report(B, `v3:ghost-${i}`, 1)).status, 403);
      assert.ok(GHOSTS > RETAINED);

      const flagged = (await call(h.base, 'GET', '/v1/admin/usage?flagged=1', { headers: adminHeaders() })).body;
      const flagsOf = (id: string) => (flagged.usage as View[]).find((u) => u.call_control_id === id)?.flags;
      assert.deepEqual(flagsOf(victim), ['duration_mismatch'], "another deployment's flag stays");
      assert.deepEqual(flagsOf(own), ['duration_mismatch'], "the spammer's own flag stays");
      const ghosts = (flagged.usage as View[]).filter((u) => u.flags.includes('unknown_to_provider'));
      assert.deepEqual(
        ghosts.map((u) => u.call_control_id),
        Array.from({ length: DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT }, (_, i) => `v3:ghost-${GHOSTS - DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT + i}`),
        'the newest unknown ids',
      );
      assert.deepEqual(flagged.unknown_reports, [{ deployment_id: B.id, reports: GHOSTS }]);
      const scoped = (await call(h.base, 'GET', `/v1/admin/usage?deployment=${A.id}`, { headers: adminHeaders() })).body;
      assert.deepEqual([scoped.usage.map((u: View) => u.call_control_id), scoped.unknown_reports], [[victim], []]);

      // The settled call B never reported is still pending, so it is flagged once the grace passes.
      await new Promise((r) => setTimeout(r, Math.max(0, started + GRACE_MS + 50 - Date.now())));
      assert.deepEqual((await h.platform.ledger.get(B.id, silent))?.flags, ['unreported']);
    });
  });
}

suite('in process', async () => undefined);
const skip = redisUnavailable();
suite('redis', () => startRedisServer(), skip);
