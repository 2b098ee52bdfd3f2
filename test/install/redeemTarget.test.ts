/**
 * The platform checks the installer's machine against the gateway bundle it
 * serves before it spends the token: a real platform on loopback serving a
 * real tar bundle (scripts/tarWriter.ts) whose manifest names another CPU.
 * A mismatched installer is refused with 409 and the same token then
 * redeems from a matching one; a malformed target is 400 and costs the
 * token nothing; repeated mismatches neither lock the token out nor answer
 * differently for a real token than for a made-up one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { currentTarget, describeTarget, type BundleTarget } from '../../src/wire/bundleTarget.js';
import { call, type Harness } from '../platform/helpers.js';
import { makeGatewayBundle, makeSkillBundle, mint, startInstallPlatform } from './helpers.js';

const here = currentTarget();
const otherArch = here.arch === 'arm64' ? 'x64' : 'arm64';
/** What the served bundle is built for: this machine but another CPU. */
const built: BundleTarget = { ...here, arch: otherArch };
const SKILL = makeSkillBundle();

let h: Harness;

before(async () => {
  h = await startInstallPlatform({
    gatewayBundle: await makeGatewayBundle({ target: { arch: otherArch } }),
    skillBundle: SKILL,
    // Few attempts per token: a mismatch that counted against them would lock the token out within the test.
    redeemRateLimitPerToken: { ratePerSec: 0.001, burst: 2 },
    redeemRateLimit: { ratePerSec: 1000, burst: 1000 },
  });
});
after(() => h.close());

const redeemAs = (token: string, target?: unknown) => call(h.base, 'POST', '/v1/install/redeem', { body: target === undefined ? { token } : { token, target } });

async function freshToken(): Promise<string> {
  const minted = await mint(h);
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  return minted.body.token as string;
}

test('the platform logs at start what machine its gateway bundle is built for', () => {
  assert.ok(h.lines.some((l) => l.includes(describeTarget(built)) && l.includes('refused before their token is spent')), h.lines.join(''));
});

test('an installer on another machine is refused with 409 naming both machines and what to do; the same token then redeems from a matching one', async () => {
  const token = await freshToken();
  const refused = await redeemAs(token, here);
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, ErrorCodes.INSTALL_PLATFORM);
  const message = refused.body.error.message as string;
  assert.ok(message.includes(`built for ${describeTarget(built)} and this machine is ${describeTarget(here)}`), message);
  assert.match(message, /would not load/);
  assert.match(message, /npm run pack:gateway/);
  assert.match(message, /this token still works there/);
  const redeemed = await redeemAs(token, built);
  assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  assert.ok(redeemed.body.envelope);
  assert.equal((await redeemAs(token, built)).status, 410, 'redeemed once, as ever');
});

test('a bundle needing a newer glibc than the installer has is refused before redemption', async () => {
  if (built.glibc === null) return; // musl: the manifest names no glibc to compare
  const token = await freshToken();
  const refused = await redeemAs(token, { ...built, glibc: '1.0' });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, new RegExp(`needs glibc ${built.glibc!.replace('.', '\\.')} or newer`));
  assert.equal((await redeemAs(token, built)).status, 200);
});

test('repeated mismatches do not use up the token\'s attempts, and answer the same for a made-up token (no oracle)', async () => {
  const token = await freshToken();
  const madeUp = `${'A'.repeat(16)}.${'B'.repeat(43)}`;
  const answers = [];
  for (let i = 0; i < 5; i++) answers.push(await redeemAs(token, here));
  const forMadeUp = await redeemAs(madeUp, here);
  const forGarbage = await redeemAs('not a token', here);
  for (const a of [...answers, forMadeUp, forGarbage]) {
    assert.equal(a.status, 409);
    assert.deepEqual(a.body, answers[0]!.body);
  }
  // Five refusals against a per-token burst of 2: none counted, the matching installer gets through.
  assert.equal((await redeemAs(token, built)).status, 200);
});

const MALFORMED: Record<string, unknown> = {
  'an unknown key': { ...built, extra: 'x' },
  'a missing key': { platform: built.platform, arch: built.arch, nodeAbi: built.nodeAbi, nodeMajor: built.nodeMajor },
  'an overlong platform': { ...built, platform: 'l'.repeat(33) },
  'a platform with a shell character': { ...built, platform: 'linux;rm' },
  'nodeMajor as a string': { ...built, nodeMajor: String(built.nodeMajor) },
  'a fractional nodeMajor': { ...built, nodeMajor: 20.5 },
  'a five-digit ABI': { ...built, nodeAbi: '11500' },
  'a three-part glibc version': { ...built, glibc: '2.36.1' },
  'null': null,
  'a string': 'linux-x64',
  'an array': [built],
};

test('a malformed target is 400 and the token still redeems afterwards', async () => {
  const token = await freshToken();
  for (const [name, target] of Object.entries(MALFORMED)) {
    const res = await redeemAs(token, target);
    assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, ErrorCodes.BAD_REQUEST, name);
    assert.match(res.body.error.message, /^target is malformed at target.*\(the install token was not used\)$/, name);
  }
  assert.equal((await redeemAs(token, built)).status, 200);
});

test('an installer from before the check (no target) still redeems: the platform cannot check, the installer checks after the download', async () => {
  const token = await freshToken();
  assert.equal((await redeemAs(token)).status, 200);
});

test('a platform whose gateway bundle has no readable manifest says so at start, and mints no token (every installer would refuse the bundle)', async () => {
  for (const gatewayBundle of [await makeGatewayBundle({ manifest: false }), Buffer.from('not a tarball')]) {
    const p = await startInstallPlatform({ gatewayBundle, skillBundle: SKILL });
    try {
      const warning = p.lines.find((l) => l.includes('--gateway-bundle has no readable manifest'));
      assert.ok(warning, p.lines.join(''));
      assert.match(warning, /cannot refuse a mismatched installer before spending its token/);
      assert.match(warning, /npm run pack:gateway/);
      const minted = await mint(p);
      assert.equal(minted.status, 503, JSON.stringify(minted.body));
      assert.match(minted.body.error.message, /--gateway-bundle would be refused by every installer: refused gateway bundle: .*rebuild it with npm run pack:gateway/);
    } finally {
      await p.close();
    }
  }
});
