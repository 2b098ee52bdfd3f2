/**
 * Redemption behind a tunnel or reverse proxy (the platform listens on
 * 127.0.0.1 only, so every TCP peer is loopback): with --client-address-header
 * the rate limit and the audit address follow the client the proxy names, so
 * one client sending junk cannot lock out the others; a limit per token id
 * bounds attempts on one token from many addresses; and refusals of unknown
 * ids are audited one by one only up to a budget, the rest summarised.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { RedeemLimits } from '../../src/platform/installTokens/redeemLimits.js';
import { adminHeaders, call, type Harness } from '../platform/helpers.js';
import { mint, startInstallPlatform, installBundles } from './helpers.js';

/** Real bundles: the platform mints only for bundles an installer would accept. */
const BUNDLES = await installBundles();
const OPEN_RATE = { ratePerSec: 1000, burst: 1000 };
const junk = (i: number) => `${'A'.repeat(15)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i % 26]}.${Buffer.alloc(32, i).toString('base64url')}`;

/** A reverse proxy on loopback, like nginx: appends the client (named by the test in x-test-client) to x-forwarded-for. */
async function startProxy(target: string): Promise<{ base: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const client = String(req.headers['x-test-client'] ?? '192.0.2.1');
    const prior = req.headers['x-forwarded-for'];
    const { 'x-test-client': _named, ...rest } = req.headers;
    const headers = { ...rest, 'x-forwarded-for': prior ? `${String(prior)}, ${client}` : client };
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const redeemVia = (base: string, token: string, headers: Record<string, string> = {}) =>
  call(base, 'POST', '/v1/install/redeem', { headers, body: { token } });

describe('redemption behind a proxy', () => {
  let h: Harness;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  before(async () => {
    h = await startInstallPlatform({ ...BUNDLES, clientAddressHeader: 'X-Forwarded-For' });
    proxy = await startProxy(h.base);
  });
  after(async () => {
    await proxy.close();
    await h.close();
  });

  test('with --client-address-header, one client sending junk exhausts only its own bucket; the installer redeems, and is audited by its address', async () => {
    const minted = await mint(h);
    const attacker = { 'x-test-client': '198.51.100.9' };
    const burst: number[] = [];
    for (let i = 0; i < 12; i++) burst.push((await redeemVia(proxy.base, junk(i), attacker)).status);
    assert.deepEqual(burst, [...Array(10).fill(410), 429, 429]);
    // Spoofed entries the client sends itself come before the proxy's: they buy no fresh bucket.
    const spoofed = await redeemVia(proxy.base, junk(13), { ...attacker, 'x-forwarded-for': '203.0.113.99' });
    assert.equal(spoofed.status, 429);
    const genuine = await redeemVia(proxy.base, minted.body.token, { 'x-test-client': '203.0.113.7' });
    assert.equal(genuine.status, 200, JSON.stringify(genuine.body));
    const entries = (await call(h.base, 'GET', '/v1/admin/install-tokens/audit', { headers: adminHeaders() })).body.entries as { outcome: string; address: string | null }[];
    assert.equal(entries.find((e) => e.outcome === 'redeemed')?.address, '203.0.113.7');
    assert.deepEqual([...new Set(entries.filter((e) => e.outcome === 'unknown-used-or-expired').map((e) => e.address))], ['198.51.100.9']);
  });
});

test('without the option the header is ignored: the socket address keys the limit (every proxied installer in one bucket)', async () => {
  const h = await startInstallPlatform(BUNDLES);
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await redeemVia(h.base, junk(i), { 'x-forwarded-for': `203.0.113.${i}` })).status);
    assert.deepEqual(statuses, [...Array(10).fill(410), 429]);
  } finally {
    await h.close();
  }
});

test('the header is trusted only from a loopback peer; an unusable value falls back to the peer', () => {
  const limits = new RedeemLimits({ clientAddressHeader: 'cf-connecting-ip' });
  const req = (peer: string, value?: string | string[]) =>
    ({ socket: { remoteAddress: peer }, headers: value === undefined ? {} : { 'cf-connecting-ip': value } }) as unknown as IncomingMessage;
  assert.equal(limits.clientAddress(req('127.0.0.1', '203.0.113.7')), '203.0.113.7');
  assert.equal(limits.clientAddress(req('::ffff:127.0.0.1', '2001:db8::1')), '2001:db8::1');
  assert.equal(limits.clientAddress(req('198.51.100.1', '203.0.113.7')), '198.51.100.1', 'not from a proxy on this machine');
  assert.equal(limits.clientAddress(req('127.0.0.1', 'not-an-address')), '127.0.0.1');
  assert.equal(limits.clientAddress(req('127.0.0.1')), '127.0.0.1');
  assert.equal(limits.clientAddress(req('127.0.0.1', '10.0.0.1, 203.0.113.7')), '203.0.113.7', 'the right-most entry');
  assert.throws(() => new RedeemLimits({ clientAddressHeader: 'x forwarded' }), (err: unknown) => isTtmaError(err, ErrorCodes.CONFIG));
});

test('attempts on one token id are limited however many addresses they come from; other tokens are unaffected', async () => {
  const h = await startInstallPlatform({ ...BUNDLES, clientAddressHeader: 'x-forwarded-for', redeemRateLimit: OPEN_RATE });
  try {
    const minted = await mint(h);
    const other = await mint(h);
    const id = (minted.body.token as string).split('.')[0]!;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await redeemVia(h.base, `${id}.${Buffer.alloc(32, i + 1).toString('base64url')}`, { 'x-forwarded-for': `198.51.100.${i}` })).status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(410), 429, 429]);
    const limited = await redeemVia(h.base, `${id}.${Buffer.alloc(32, 99).toString('base64url')}`, { 'x-forwarded-for': '198.51.100.200' });
    assert.match(limited.body.error.message, /too many redemption attempts for this token/);
    assert.equal((await redeemVia(h.base, other.body.token)).status, 200);
  } finally {
    await h.close();
  }
});

test('refusals of unknown ids are audited one by one up to a budget, the rest as one summary; the entries that matter stay', async () => {
  const h = await startInstallPlatform({ ...BUNDLES, clientAddressHeader: 'x-forwarded-for', redeemRateLimit: OPEN_RATE });
  try {
    const minted = await mint(h);
    for (let i = 0; i < 50; i++) {
      const token = `${String(i).padStart(16, 'B')}.${Buffer.alloc(32, i).toString('base64url')}`;
      assert.equal((await redeemVia(h.base, token, { 'x-forwarded-for': `198.51.${i}.1` })).status, 410);
    }
    const entries = (await call(h.base, 'GET', '/v1/admin/install-tokens/audit', { headers: adminHeaders() })).body.entries as {
      tokenId: string; outcome: string; count?: number; since?: number; at: number;
    }[];
    const unknown = entries.filter((e) => e.outcome === 'unknown-used-or-expired');
    assert.equal(unknown.filter((e) => e.tokenId !== '*').length, 20);
    const summary = unknown.filter((e) => e.tokenId === '*');
    assert.equal(summary.length, 1);
    assert.equal(summary[0]!.count, 30);
    assert.ok(summary[0]!.since! <= summary[0]!.at);
    assert.equal(entries.at(-1)?.outcome, 'minted');
    assert.equal(entries.at(-1)?.tokenId, minted.body.tokenId);
  } finally {
    await h.close();
  }
});
