/**
 * The Redis install-token store when a reply is lost with its connection
 * (the command ran, the answer never came): it must never send the command
 * again. A resent take would find its own deletion and answer "absent" (the
 * token spent, nobody given the envelope); a resent SET NX would find its own
 * key and report a stored token as a failure. Here the failure surfaces as
 * TTMA_ERR_STORE_UNAVAILABLE (503), and the installer says the token may be
 * spent. A real redis-server behind a TCP proxy that forwards one command and
 * then cuts the connection before its reply.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { runInstall } from '../../src/installer/Installer.js';
import { RedisInstallTokenStore } from '../../src/platform/installTokens/RedisInstallTokenStore.js';
import { newInstallToken, sealInstallPayload, secretDigestHex } from '../../src/wire/installToken.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { installBundles, mint, startInstallPlatform } from './helpers.js';

/** Forwards everything; once armed, the next command with one of the names runs at Redis but its reply is dropped and the connection cut. */
async function startCuttingProxy(redisPort: number) {
  let armed: string[] | null = null;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let dropReply = false;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1').toLowerCase();
      if (armed !== null && armed.some((name) => text.includes(`\r\n${name}\r\n`))) {
        armed = null;
        dropReply = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!dropReply) return void client.write(chunk);
      cuts += 1;
      client.destroy();
      upstream.destroy();
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => { b.destroy(); sockets.delete(a); });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    arm(...names: string[]) { armed = names; },
    get cuts() { return cuts; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

function sealed(deploymentId: string) {
  const token = newInstallToken();
  const expiresAt = Date.now() + 60_000;
  const envelope = sealInstallPayload(token, deploymentId, expiresAt, { deploymentId, expiresAt });
  return { token, record: { envelope, secretSha256: secretDigestHex(token.secret), createdAt: Date.now() } };
}

const unavailable = (err: unknown) => {
  assert.ok(isTtmaError(err, ErrorCodes.STORE_UNAVAILABLE), String(err));
  assert.equal((err as { status?: number }).status, 503);
  return true;
};

describe('a lost Redis reply is never replayed', () => {
  const skip = redisUnavailable();
  let redis: RedisServer;
  let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
  before(async () => {
    if (skip) return;
    redis = await startRedisServer();
    proxy = await startCuttingProxy(redis.port);
  });
  after(async () => {
    await proxy?.close();
    await redis?.stop();
  });

  test('a take whose reply is lost fails as 503 (not "absent"); it ran once', { skip }, async () => {
    const store = new RedisInstallTokenStore({ url: proxy.url, prefix: 'lost1:' });
    try {
      const { token, record } = sealed('dep-lost');
      await store.put(record, 60_000);
      const cutsBefore = proxy.cuts;
      proxy.arm('eval');
      await assert.rejects(store.take(token.id, secretDigestHex(token.secret), Date.now()), unavailable);
      assert.equal(proxy.cuts, cutsBefore + 1);
      assert.ok(await store.ready(), 'reconnected');
      assert.equal(await store.has(token.id), false, 'the take ran at Redis (once)');
    } finally {
      await store.close();
    }
  });

  test('a mint whose store reply is lost fails as 503 (not "already stored"); the token is stored once and indexed', { skip }, async () => {
    const store = new RedisInstallTokenStore({ url: proxy.url, prefix: 'lost2:' });
    try {
      const { token, record } = sealed('dep-lost');
      // The script stores the token and indexes it in one step (its locator was written just before).
      proxy.arm('eval');
      await assert.rejects(store.put(record, 60_000), unavailable);
      assert.ok(await store.ready(), 'reconnected');
      assert.equal(await store.has(token.id), true);
      assert.deepEqual((await store.revokeDeployment('dep-lost')).map((r) => r.envelope.id), [token.id]);
    } finally {
      await store.close();
    }
  });

  test("a mint whose locator write loses its reply fails as 503, and stores no token", { skip }, async () => {
    const store = new RedisInstallTokenStore({ url: proxy.url, prefix: 'lost4:' });
    try {
      const { token, record } = sealed('dep-lost4');
      proxy.arm('set');
      await assert.rejects(store.put(record, 60_000), unavailable);
      assert.ok(await store.ready(), 'reconnected');
      assert.equal(await store.has(token.id), false);
      assert.deepEqual(await store.revokeDeployment('dep-lost4'), []);
    } finally {
      await store.close();
    }
  });

  test('the installer, told 503 at redemption, says the token may be used up', { skip }, async () => {
    const store = new RedisInstallTokenStore({ url: proxy.url, prefix: 'lost3:' });
    const h = await startInstallPlatform({ ...(await installBundles()), store });
    const root = await mkdtemp(join(tmpdir(), 'ttma-lost-'));
    try {
      await mkdir(join(root, 'ws'), { mode: 0o755 });
      const minted = await mint(h);
      assert.equal(minted.status, 201);
      proxy.arm('eval');
      await assert.rejects(
        runInstall({
          token: minted.body.token, platformUrl: h.base, dir: join(root, 'install'), workspace: join(root, 'ws'),
          user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
        }),
        (err: unknown) => {
          assert.ok(isTtmaError(err, ErrorCodes.INSTALL_TOKEN), String(err));
          assert.match((err as Error).message, /^the platform could not redeem the token \(HTTP 503\): the platform's store cannot answer right now/);
          assert.match((err as Error).message, /the install token may be used up: the platform failed or did not answer after receiving it/);
          return true;
        },
      );
      assert.deepEqual(await readdir(root), ['ws']);
    } finally {
      await h.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
