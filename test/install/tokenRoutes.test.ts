/**
 * Minting and redeeming over the platform's real HTTP API, with the embedded
 * store and with a real redis-server: single use under concurrency, the
 * server-side TTL, deletion of the envelope, audit metadata only, and no
 * minting without a webhook signing key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes } from '../../src/errors.js';
import { MemoryInstallTokenStore, type InstallTokenStore } from '../../src/platform/installTokens/InstallTokenStore.js';
import { RedisInstallTokenStore } from '../../src/platform/installTokens/RedisInstallTokenStore.js';
import { RedisDeploymentStore } from '../../src/platform/store/RedisDeploymentStore.js';
import { openInstallEnvelope, parseInstallToken } from '../../src/wire/installToken.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { stateDirs } from '../helpers/stateDirs.js';
import { adminHeaders, call, type Harness } from '../platform/helpers.js';
import { deploymentInput, mint, redeem, startInstallPlatform, installBundles } from './helpers.js';

const OPEN_RATE = { ratePerSec: 1000, burst: 1000 };
/** Real bundles: the platform mints only for bundles an installer would accept. */
const BUNDLES = await installBundles();

test('minting is refused with a clear error while no webhook signing key is configured', async () => {
  const h = await startInstallPlatform(BUNDLES, { webhookPublicKeyBase64: null });
  try {
    const deployment = deploymentInput();
    const res = await mint(h, deployment);
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, ErrorCodes.INSTALL_NO_SIGNING_KEY);
    assert.match(res.body.error.message, /no webhook signing key.*--webhook-public-key-file/);
    // Nothing was registered or stored.
    assert.equal(await h.platform.deployments.get(deployment.id), undefined);
    assert.deepEqual(await h.platform.install.service.store.audit(), []);
  } finally {
    await h.close();
  }
});

test('minting needs the admin token and valid fields', async () => {
  const h = await startInstallPlatform(BUNDLES);
  try {
    const unauth = await call(h.base, 'POST', '/v1/admin/install-tokens', { body: { deployment: deploymentInput() } });
    assert.equal(unauth.status, 401);
    const bad = await mint(h, { ...deploymentInput(), tunnelHost: 'evil.example.com' });
    assert.equal(bad.status, 400);
    const badRef = await mint(h, deploymentInput(), 'ref;rm -rf /');
    assert.equal(badRef.status, 400);
    assert.match(badRef.body.error.message, /tunnelCredentialsRef/);
  } finally {
    await h.close();
  }
});

for (const kind of ['embedded', 'embedded, journaled', 'redis'] as const) {
  describe(`install tokens (${kind} store)`, () => {
    let redis: RedisServer | undefined;
    const skip = kind === 'redis' ? redisUnavailable() : undefined;
    const stores: InstallTokenStore[] = [];
    const dirs = stateDirs();
    const newStore = async (): Promise<InstallTokenStore> => {
      const store =
        kind === 'redis'
          ? new RedisInstallTokenStore({ url: redis!.url, prefix: `t${stores.length}:` })
          : kind === 'embedded, journaled'
            ? new MemoryInstallTokenStore(Date.now, await dirs.journal())
            : new MemoryInstallTokenStore();
      stores.push(store);
      return store;
    };
    before(async () => {
      if (kind === 'redis' && !skip) redis = await startRedisServer();
    });
    after(async () => {
      for (const s of stores) await s.close();
      await dirs.close();
      await redis?.stop();
    });

    test('a token redeems once: the envelope opens, then only audit metadata remains', { skip }, async () => {
      const store = (await newStore());
      const h = await startInstallPlatform({ ...BUNDLES, store });
      try {
        const deployment = deploymentInput();
        const minted = await mint(h, deployment);
        assert.equal(minted.status, 201);
        const token = parseInstallToken(minted.body.token);
        const expiresIn = minted.body.expiresAt - Date.now();
        assert.ok(expiresIn > 14 * 60_000 && expiresIn <= 15 * 60_000, `expires in ${expiresIn} ms`);
        assert.ok(await store.has(token.id));

        const first = await redeem(h, minted.body.token);
        assert.equal(first.status, 200);
        const payload = openInstallEnvelope(first.body.envelope, token, Date.now());
        assert.equal(payload['deploymentId'], deployment.id);
        assert.equal(payload['platformUrl'], h.base);
        // The agent secret authenticates against the stored digest (FAQ-09).
        const authed = await h.platform.deployments.authenticate(deployment.id, payload['agentSecret'] as string);
        assert.equal(authed.id, deployment.id);
        assert.equal(await store.has(token.id), false);

        const second = await redeem(h, minted.body.token);
        assert.equal(second.status, 410);
        assert.equal(second.body.error.code, ErrorCodes.INSTALL_TOKEN);

        const audit = await call(h.base, 'GET', '/v1/admin/install-tokens/audit', { headers: adminHeaders() });
        assert.deepEqual(audit.body.entries.map((e: { outcome: string }) => e.outcome), ['unknown-used-or-expired', 'redeemed', 'minted']);
        const redeemed = audit.body.entries[1];
        assert.equal(redeemed.tokenId, token.id);
        assert.equal(redeemed.deploymentId, deployment.id);
        assert.equal(redeemed.address, '127.0.0.1');
        const auditText = JSON.stringify(audit.body);
        for (const secret of [payload['agentSecret'] as string, token.secret.toString('base64url'), first.body.envelope.ciphertext]) {
          assert.ok(!auditText.includes(secret), 'audit holds no secret and no ciphertext');
        }
        if (store instanceof RedisInstallTokenStore) {
          assert.deepEqual(await store.rawKeysForTest(), [`t${stores.indexOf(store)}:audit`]);
        }
      } finally {
        await h.close();
      }
    });

    test('re-issuing for an existing deployment: a new token with its registered numbers and host; the old secret stops working', { skip }, async () => {
      const store = (await newStore());
      const h = await startInstallPlatform({ ...BUNDLES, store });
      const reissue = (id: string, ref: unknown = 'tunnel-0a1b2c', headers = adminHeaders()) =>
        call(h.base, 'POST', `/v1/admin/deployments/${id}/install-token`, { headers, body: { tunnelCredentialsRef: ref } });
      try {
        const deployment = deploymentInput();
        const first = await mint(h, deployment);
        const firstPayload = openInstallEnvelope((await redeem(h, first.body.token)).body.envelope, parseInstallToken(first.body.token), Date.now());
        const oldSecret = firstPayload['agentSecret'] as string;
        assert.equal((await h.platform.deployments.authenticate(deployment.id, oldSecret)).id, deployment.id);

        // Refusals change nothing: no admin token, unknown id, a bad tunnel reference.
        assert.equal((await reissue(deployment.id, 'tunnel-0a1b2c', {})).status, 401);
        assert.equal((await reissue('no-such-deployment')).status, 404);
        const badRef = await reissue(deployment.id, 'ref;rm -rf /');
        assert.equal(badRef.status, 400);
        assert.match(badRef.body.error.message, /tunnelCredentialsRef/);
        assert.equal((await h.platform.deployments.authenticate(deployment.id, oldSecret)).id, deployment.id, 'still the old secret');

        const again = await reissue(deployment.id);
        assert.equal(again.status, 201);
        assert.equal(again.body.deploymentId, deployment.id);
        const payload = openInstallEnvelope((await redeem(h, again.body.token)).body.envelope, parseInstallToken(again.body.token), Date.now());
        assert.deepEqual(payload['numbers'], deployment.numbers);
        assert.equal(payload['publicHost'], deployment.tunnelHost);
        assert.notEqual(payload['agentSecret'], oldSecret);
        assert.equal((await h.platform.deployments.authenticate(deployment.id, payload['agentSecret'] as string)).id, deployment.id);
        await assert.rejects(h.platform.deployments.authenticate(deployment.id, oldSecret), 'the replaced gateway is locked out');
        const outcomes = (await store.audit()).map((e) => e.outcome);
        assert.deepEqual(outcomes.slice(0, 2), ['redeemed', 'reissued']);

        // A disabled deployment gets no token until it is enabled.
        await h.platform.deployments.setDisabled(deployment.id, true);
        assert.equal((await reissue(deployment.id)).status, 409);

        // When the rotation fails, the stored token is taken back: no token carries a secret the platform lacks.
        await h.platform.deployments.setDisabled(deployment.id, false);
        const put = store.put.bind(store);
        const storedIds: string[] = [];
        store.put = async (record, ttl) => {
          storedIds.push(record.envelope.id);
          return put(record, ttl);
        };
        const rotate = h.platform.deployments.rotateSecret;
        h.platform.deployments.rotateSecret = async () => {
          throw new Error('store down');
        };
        try {
          assert.equal((await reissue(deployment.id)).status, 500);
        } finally {
          h.platform.deployments.rotateSecret = rotate;
          store.put = put;
        }
        assert.equal(storedIds.length, 1);
        assert.equal(await store.has(storedIds[0]!), false);
        assert.equal((await h.platform.deployments.authenticate(deployment.id, payload['agentSecret'] as string)).id, deployment.id);
      } finally {
        await h.close();
      }
    });

    test('twenty concurrent redemptions: exactly one wins', { skip }, async () => {
      const h = await startInstallPlatform({ ...BUNDLES, store: (await newStore()), redeemRateLimit: OPEN_RATE, redeemRateLimitPerToken: OPEN_RATE });
      try {
        const minted = await mint(h);
        const results = await Promise.all(Array.from({ length: 20 }, () => redeem(h, minted.body.token)));
        const statuses = results.map((r) => r.status).sort();
        assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
        assert.equal(statuses.filter((s) => s === 410).length, 19, statuses.join(','));
      } finally {
        await h.close();
      }
    });

    if (kind === 'redis') {
      test('two platforms on one Redis, redeeming the same token at once: exactly one wins', { skip }, async () => {
        const prefix = `shared${Date.now()}:`;
        // Both processes share the deployments too, as two platforms on one --redis-url do: redemption checks the deployment.
        const platform = (): Promise<Harness> =>
          startInstallPlatform(
            { ...BUNDLES, store: new RedisInstallTokenStore({ url: redis!.url, prefix }), redeemRateLimit: OPEN_RATE, redeemRateLimitPerToken: OPEN_RATE },
            { deploymentStore: new RedisDeploymentStore({ url: redis!.url, prefix: `${prefix}dep` }) },
          );
        const a = await platform();
        const b = await platform();
        try {
          for (let round = 0; round < 5; round++) {
            const minted = await mint(a);
            const results = await Promise.all(Array.from({ length: 10 }, (_, i) => redeem(i % 2 ? a : b, minted.body.token)));
            assert.equal(results.filter((r) => r.status === 200).length, 1, `round ${round}`);
          }
        } finally {
          await a.platform.install.service.store.close();
          await b.platform.install.service.store.close();
          await a.close();
          await b.close();
        }
      });
    }

    test('a wrong secret for a known id is refused and does not burn the token', { skip }, async () => {
      const store = (await newStore());
      const h = await startInstallPlatform({ ...BUNDLES, store });
      try {
        const minted = await mint(h);
        const [id] = (minted.body.token as string).split('.');
        const forged = `${id}.${Buffer.alloc(32, 1).toString('base64url')}`;
        assert.equal((await redeem(h, forged)).status, 410);
        assert.ok(await store.has(id!));
        assert.equal((await redeem(h, minted.body.token)).status, 200);
        const outcomes = (await store.audit()).map((e) => e.outcome);
        assert.deepEqual(outcomes, ['redeemed', 'bad-secret', 'minted']);
      } finally {
        await h.close();
      }
    });

    test('an expired token is gone: the server-side TTL removes it', { skip }, async () => {
      const store = (await newStore());
      const h = await startInstallPlatform({ ...BUNDLES, store, ttlMs: 1000 });
      try {
        const minted = await mint(h);
        const id = (minted.body.token as string).split('.')[0]!;
        await sleep(1200);
        assert.equal(await store.has(id), false);
        const res = await redeem(h, minted.body.token);
        assert.equal(res.status, 410);
        assert.match(res.body.error.message, /expired/);
      } finally {
        await h.close();
      }
    });
  });
}

test('redemption attempts are rate limited per address (429 after the burst)', async () => {
  const h = await startInstallPlatform(BUNDLES);
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await redeem(h, `${'a'.repeat(16)}.${Buffer.alloc(32, i).toString('base64url')}`)).status);
    assert.deepEqual(statuses, [...Array(10).fill(410), 429, 429]);
  } finally {
    await h.close();
  }
});

test('the bundles are served with their digest', async () => {
  const h = await startInstallPlatform(BUNDLES);
  try {
    const res = await fetch(`${h.base}/v1/bundles/skill.tar.gz`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), BUNDLES.skillBundle);
    assert.match(res.headers.get('x-ttma-sha256') ?? '', /^[0-9a-f]{64}$/);
    assert.equal((await fetch(`${h.base}/v1/bundles/other.tar.gz`)).status, 404);
  } finally {
    await h.close();
  }
});
