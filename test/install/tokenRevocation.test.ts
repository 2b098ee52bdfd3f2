/**
 * No install token may install a secret the platform no longer accepts
 * (docs/install.md): a reissue and a secret rotation revoke the deployment's
 * earlier tokens, a disable revokes its outstanding ones (enabling again
 * brings none back), the operator revokes one by id, and a token whose
 * secret went stale without a revocation is refused at redemption anyway.
 * Over the platform's real HTTP API, against the embedded store and a real
 * redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { MemoryInstallTokenStore, type InstallAuditEntry, type InstallTokenStore } from '../../src/platform/installTokens/InstallTokenStore.js';
import { RedisInstallTokenStore } from '../../src/platform/installTokens/RedisInstallTokenStore.js';
import { openInstallEnvelope, parseInstallToken } from '../../src/wire/installToken.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { startRedisCluster } from '../helpers/redisCluster.js';
import { adminHeaders, call, type Harness } from '../platform/helpers.js';
import { deploymentInput, mint, redeem, startInstallPlatform, installBundles } from './helpers.js';

/** Real bundles: the platform mints only for bundles an installer would accept. */
const BUNDLES = await installBundles();
const OPEN_RATE = { ratePerSec: 1000, burst: 1000 };
const REF = 'tunnel-0a1b2c';

const reissue = (h: Harness, id: string) => call(h.base, 'POST', `/v1/admin/deployments/${id}/install-token`, { headers: adminHeaders(), body: { tunnelCredentialsRef: REF } });
const action = (h: Harness, id: string, what: 'rotate-secret' | 'disable' | 'enable') =>
  call(h.base, 'POST', `/v1/admin/deployments/${id}/${what}`, { headers: adminHeaders(), body: {} });
const revokeRoute = (h: Harness, tokenId: string, headers = adminHeaders()) => call(h.base, 'DELETE', `/v1/admin/install-tokens/${tokenId}`, { headers });
const audit = async (h: Harness): Promise<InstallAuditEntry[]> => (await call(h.base, 'GET', '/v1/admin/install-tokens/audit', { headers: adminHeaders() })).body.entries;
const revokedIn = (entries: InstallAuditEntry[]) => entries.filter((e) => e.outcome === 'revoked').map((e) => [e.tokenId, e.reason]);

/** Redeems and returns the agent secret the token carries (asserting 200). */
async function secretOf(h: Harness, token: string): Promise<string> {
  const res = await redeem(h, token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return openInstallEnvelope(res.body.envelope, parseInstallToken(token), Date.now())['agentSecret'] as string;
}

async function refusedAsGone(h: Harness, token: string, why: RegExp = /unknown, already used, or expired/): Promise<void> {
  const res = await redeem(h, token);
  assert.equal(res.status, 410, JSON.stringify(res.body));
  assert.equal(res.body.error.code, ErrorCodes.INSTALL_TOKEN);
  assert.match(res.body.error.message, why);
}

for (const kind of ['embedded', 'redis', 'redis cluster'] as const) {
  describe(`install token revocation (${kind} store)`, () => {
    const skip = kind === 'embedded' ? undefined : redisUnavailable();
    let redis: { url: string; stop(): Promise<void> } | undefined;
    const stores: InstallTokenStore[] = [];
    const platforms: Harness[] = [];
    before(async () => {
      if (kind !== 'embedded' && !skip) redis = kind === 'redis' ? await startRedisServer() : await startRedisCluster();
    });
    after(async () => {
      for (const p of platforms) await p.close();
      for (const s of stores) await s.close();
      await redis?.stop();
    });
    const start = async (): Promise<{ h: Harness; store: InstallTokenStore }> => {
      const store = kind !== 'embedded' ? new RedisInstallTokenStore({ url: redis!.url, prefix: `r${stores.length}:` }) : new MemoryInstallTokenStore();
      stores.push(store);
      const h = await startInstallPlatform({ ...BUNDLES, store, redeemRateLimit: OPEN_RATE, redeemRateLimitPerToken: OPEN_RATE });
      platforms.push(h);
      return { h, store };
    };
    /** Nothing but the audit left in Redis: no token, no index. */
    const onlyAudit = async (store: InstallTokenStore) => {
      if (store instanceof RedisInstallTokenStore) assert.deepEqual(await store.rawKeysForTest(), [`r${stores.indexOf(store)}:audit`]);
    };

    test('a reissue revokes the tokens minted before it; the reissued one installs a secret that works', { skip }, async () => {
      const { h, store } = await start();
      const d = deploymentInput();
      const a = await mint(h, d);
      const b = await reissue(h, d.id);
      const c = await reissue(h, d.id);
      assert.deepEqual([a.status, b.status, c.status], [201, 201, 201]);
      for (const t of [a, b]) assert.equal(await store.has(t.body.tokenId), false, 'deleted at the reissue');
      await refusedAsGone(h, a.body.token);
      await refusedAsGone(h, b.body.token);
      const secret = await secretOf(h, c.body.token);
      assert.equal((await h.platform.deployments.authenticate(d.id, secret)).id, d.id);
      assert.deepEqual(revokedIn(await audit(h)).sort(), [[a.body.tokenId, 'reissued'], [b.body.tokenId, 'reissued']].sort());
      await onlyAudit(store);
    });

    test("the operator's secret rotation revokes the outstanding tokens", { skip }, async () => {
      const { h, store } = await start();
      const d = deploymentInput();
      const a = await mint(h, d);
      const rotated = await action(h, d.id, 'rotate-secret');
      assert.equal(rotated.status, 200);
      assert.deepEqual(rotated.body.revokedInstallTokens, [a.body.tokenId]);
      await refusedAsGone(h, a.body.token);
      assert.deepEqual(revokedIn(await audit(h)), [[a.body.tokenId, 'secret-rotated']]);
      // The rotated secret is the one that works; a fresh reissue works too.
      assert.equal((await h.platform.deployments.authenticate(d.id, rotated.body.agentSecret)).id, d.id);
      const b = await reissue(h, d.id);
      assert.equal((await h.platform.deployments.authenticate(d.id, await secretOf(h, b.body.token))).id, d.id);
      await onlyAudit(store);
    });

    test('disabling revokes the outstanding tokens, and enabling again brings none back', { skip }, async () => {
      const { h, store } = await start();
      const d = deploymentInput();
      const other = deploymentInput();
      const a = await mint(h, d);
      const kept = await mint(h, other);
      const disabled = await action(h, d.id, 'disable');
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.disabled, true);
      assert.deepEqual(disabled.body.revokedInstallTokens, [a.body.tokenId]);
      assert.equal((await action(h, d.id, 'enable')).status, 200);
      await refusedAsGone(h, a.body.token);
      assert.deepEqual(revokedIn(await audit(h)), [[a.body.tokenId, 'disabled']]);
      // Another deployment's token is untouched.
      assert.equal((await redeem(h, kept.body.token)).status, 200);
      await onlyAudit(store);
    });

    test('the operator revokes one token by id (DELETE, admin only, audited)', { skip }, async () => {
      const { h, store } = await start();
      const d = deploymentInput();
      const a = await mint(h, d);
      assert.equal((await revokeRoute(h, a.body.tokenId, {})).status, 401);
      assert.equal((await revokeRoute(h, 'A'.repeat(16))).status, 404);
      assert.equal((await revokeRoute(h, 'not-a-token-id')).status, 404);
      assert.ok(await store.has(a.body.tokenId), 'refusals changed nothing');
      const res = await revokeRoute(h, a.body.tokenId);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.revoked, { tokenId: a.body.tokenId, deploymentId: d.id });
      assert.equal((await revokeRoute(h, a.body.tokenId)).status, 404, 'revoked once');
      await refusedAsGone(h, a.body.token);
      const entries = await audit(h);
      assert.deepEqual(revokedIn(entries), [[a.body.tokenId, 'operator']]);
      const revoked = entries.find((e) => e.outcome === 'revoked')!;
      assert.equal(revoked.deploymentId, d.id);
      assert.equal(revoked.expiresAt, a.body.expiresAt);
      await onlyAudit(store);
    });

    test('a token whose secret went stale without a revocation, or whose deployment was disabled, is refused at redemption', { skip }, async () => {
      const { h } = await start();
      // The registry changed directly (another platform process on the same store, or a race): no revocation ran.
      const d = deploymentInput();
      const a = await mint(h, d);
      await h.platform.deployments.rotateSecret(d.id);
      await refusedAsGone(h, a.body.token, /install token revoked: the deployment's agent secret changed after it was minted/);
      const e = deploymentInput();
      const b = await mint(h, e);
      await h.platform.deployments.setDisabled(e.id, true);
      await refusedAsGone(h, b.body.token, /install token revoked: its deployment is disabled/);
      await h.platform.deployments.setDisabled(e.id, false);
      await refusedAsGone(h, b.body.token, /unknown, already used, or expired/);
      const entries = (await audit(h)).filter((x) => x.outcome === 'revoked');
      assert.deepEqual(entries.map((x) => [x.tokenId, x.reason, x.address]).sort(), [
        [a.body.tokenId, 'stale-secret', '127.0.0.1'],
        [b.body.tokenId, 'deployment-disabled', '127.0.0.1'],
      ].sort());
    });
  });
}

describe('the Redis index of outstanding tokens', () => {
  const skip = redisUnavailable();
  let redis: RedisServer | undefined;
  before(async () => {
    if (!skip) redis = await startRedisServer();
  });
  after(async () => redis?.stop());

  test('tokens stored while revocations run are each either revoked or still indexed: a final revocation leaves none', { skip }, async () => {
    const store = new RedisInstallTokenStore({ url: redis!.url, prefix: 'race:' });
    const twin = new RedisInstallTokenStore({ url: redis!.url, prefix: 'race:' });
    try {
      const { newInstallToken, sealInstallPayload, secretDigestHex } = await import('../../src/wire/installToken.js');
      const ids: string[] = [];
      const revoked: string[] = [];
      const puts = Array.from({ length: 60 }, async (_, i) => {
        const token = newInstallToken();
        ids.push(token.id);
        const expiresAt = Date.now() + 60_000;
        const envelope = sealInstallPayload(token, 'dep-race', expiresAt, { deploymentId: 'dep-race', expiresAt });
        await (i % 2 ? store : twin).put({ envelope, secretSha256: secretDigestHex(token.secret), createdAt: Date.now() }, 60_000);
      });
      const revocations = Array.from({ length: 10 }, async (_, i) => {
        for (const r of await (i % 2 ? twin : store).revokeDeployment('dep-race')) revoked.push(r.envelope.id);
      });
      await Promise.all([...puts, ...revocations]);
      for (const r of await store.revokeDeployment('dep-race')) revoked.push(r.envelope.id);
      assert.deepEqual([...revoked].sort(), [...ids].sort(), 'every token revoked exactly once');
      for (const id of ids) assert.equal(await store.has(id), false);
      assert.deepEqual(await store.rawKeysForTest(), []);
    } finally {
      await store.close();
      await twin.close();
    }
  });
});
