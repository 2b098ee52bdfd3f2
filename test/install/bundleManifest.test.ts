/**
 * The installer checks a gateway bundle's manifest (ttma-bundle.json) before
 * it writes anything: a bundle built for another CPU, Node ABI or a newer
 * glibc, one without a manifest (a plain tar of the checkout, which cannot
 * run by itself), and one whose files are not the ones its manifest lists
 * are refused through a real platform and a real install, nothing written.
 * A bundle built for another machine is refused by the platform before it
 * takes the token, so the token still redeems from a matching machine.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, isTtmaError, type ErrorCode } from '../../src/errors.js';
import { currentTarget, targetMismatch, type BundleTarget } from '../../src/installer/bundleManifest.js';
import { runInstall } from '../../src/installer/Installer.js';
import { checkGatewayBundleBytes } from '../../src/installer/gatewayBundle.js';
import { packSkill } from '../../scripts/packSkill.js';
import { runTtma } from '../helpers/runTtma.js';
import { call } from '../platform/helpers.js';
import { makeGatewayBundle, mint, startInstallPlatform, type GatewayBundleOptions } from './helpers.js';

let scratch: string;
let skill: Buffer;
let seq = 0;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ttma-manifest-'));
  skill = (await packSkill()).bytes;
});
after(() => rm(scratch, { recursive: true, force: true }));

/** A platform serving a bundle made with `options`, a token for it, and empty targets. */
async function setUp(options: GatewayBundleOptions) {
  const h = await startInstallPlatform({ gatewayBundle: await makeGatewayBundle(options), skillBundle: skill });
  const minted = await mint(h);
  assert.equal(minted.status, 201);
  const root = join(scratch, `t${++seq}`);
  await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
  return { h, token: minted.body.token as string, root, dir: join(root, 'install'), workspace: join(root, 'ws') };
}

/** The token still redeems, from an installer on the machine the bundle is built for. */
async function stillRedeems(s: Awaited<ReturnType<typeof setUp>>, options: GatewayBundleOptions): Promise<void> {
  const res = await call(s.h.base, 'POST', '/v1/install/redeem', { body: { token: s.token, target: { ...currentTarget(), ...options.target } } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/** `token`: whether the refusal comes before redemption (the platform's check) or after the download (the installer's). */
async function refused(options: GatewayBundleOptions, code: ErrorCode, why: RegExp, token: 'kept' | 'spent'): Promise<void> {
  const s = await setUp(options);
  try {
    await assert.rejects(
      runInstall({ token: s.token, platformUrl: s.h.base, dir: s.dir, workspace: s.workspace, user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081 }),
      (err: unknown) => {
        assert.ok(isTtmaError(err, code), `${String(err)} (expected ${code})`);
        assert.match((err as Error).message, why);
        assert.match((err as Error).message, token === 'kept' ? /the install token was not used$/ : /the install token is used up/);
        return true;
      },
    );
    assert.deepEqual(await readdir(s.root), ['ws'], 'no install dir');
    assert.deepEqual(await readdir(s.workspace), [], 'no skill');
    if (token === 'kept') await stillRedeems(s, options);
  } finally {
    await s.h.close();
  }
}

const otherArch = currentTarget().arch === 'arm64' ? 'x64' : 'arm64';

test('a bundle built for another CPU is refused by the CLI with TTMA_ERR_INSTALL_PLATFORM naming both before redemption, nothing written, the token still works', async () => {
  const s = await setUp({ target: { arch: otherArch } });
  try {
    const run = await runTtma(['install', '--token', s.token, '--platform-url', s.h.base, '--dir', s.dir, '--workspace', s.workspace, '--user', 'openclaw'], { env: { HOME: scratch }, timeoutMs: 60_000 });
    assert.equal(run.code, 2, run.stderr);
    const here = currentTarget();
    assert.match(run.stderr, new RegExp(`^ttma: TTMA_ERR_INSTALL_PLATFORM: the platform refused this machine before redeeming the token: the gateway bundle this platform serves is built for ${here.platform}-${otherArch}, Node ${here.nodeMajor} \\(ABI ${here.nodeAbi}\\).* and this machine is ${here.platform}-${here.arch}, `, 'm'));
    assert.match(run.stderr, /its native code .* would not load; run the install on a machine like the bundle's \(this token still works there\), or have the platform operator build the bundle on a machine like this one \(npm run pack:gateway\), serve it and mint a new token; nothing was written; the install token was not used$/m);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.deepEqual(await readdir(s.root), ['ws']);
    assert.deepEqual(await readdir(s.workspace), []);
    await stillRedeems(s, { target: { arch: otherArch } });
  } finally {
    await s.h.close();
  }
});

test('a bundle built for another Node ABI is refused, nothing written', async () => {
  await refused({ target: { nodeAbi: '127', nodeMajor: 22 } }, ErrorCodes.INSTALL_PLATFORM, /built for .*Node 22 \(ABI 127\)/, 'kept');
});

test('a bundle built for another platform is refused, nothing written', async () => {
  await refused({ target: { platform: 'darwin', glibc: null } }, ErrorCodes.INSTALL_PLATFORM, /built for darwin-/, 'kept');
});

/** A bundle every installer refuses, whatever its machine: the platform, running the installer's checks at start, mints no token for it. */
async function noToken(options: GatewayBundleOptions, why: RegExp): Promise<void> {
  const bytes = await makeGatewayBundle(options);
  // The installer's own check (what runInstall calls after the download) refuses it with the same reason.
  await assert.rejects(checkGatewayBundleBytes(bytes, currentTarget()), (err: unknown) => {
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), String(err));
    assert.match((err as Error).message, why);
    return true;
  });
  const h = await startInstallPlatform({ gatewayBundle: bytes, skillBundle: skill });
  try {
    const minted = await mint(h);
    assert.equal(minted.status, 503, JSON.stringify(minted.body));
    assert.equal(minted.body.error.code, ErrorCodes.CONFIG);
    assert.match(minted.body.error.message, /^refusing to mint an install token: --gateway-bundle would be refused by every installer: refused gateway bundle: /);
    assert.match(minted.body.error.message, why);
  } finally {
    await h.close();
  }
}

test('a bundle without ttma-bundle.json (a plain tar of the checkout): no token is minted for it', async () => {
  await noToken({ manifest: false }, /has no ttma-bundle\.json, so it is not a release bundle \(build one with npm run pack:gateway\)/);
});

test('a file the manifest does not list: no token is minted for it', async () => {
  await noToken({ unlisted: [{ path: 'dist/src/extra.js', content: Buffer.from('1'), executable: false }] }, /"dist\/src\/extra\.js" is not listed in ttma-bundle\.json/);
});

test('a bundle needing a newer glibc, or glibc on a machine without it, does not fit; an older one does', () => {
  const machine: BundleTarget = { platform: 'linux', arch: 'x64', nodeAbi: '115', nodeMajor: 20, glibc: '2.36' };
  assert.equal(targetMismatch({ ...machine }, machine), null);
  assert.equal(targetMismatch({ ...machine, glibc: '2.28' }, machine), null);
  assert.equal(targetMismatch({ ...machine, glibc: null }, machine), null);
  assert.match(targetMismatch({ ...machine, glibc: '2.38' }, machine) ?? '', /needs glibc 2\.38 or newer/);
  assert.match(targetMismatch({ ...machine, glibc: '3.0' }, machine) ?? '', /needs glibc 3\.0 or newer/);
  assert.match(targetMismatch(machine, { ...machine, glibc: null }) ?? '', /needs glibc and this machine has none/);
  assert.match(targetMismatch({ ...machine, arch: 'arm64' }, machine) ?? '', /would not load/);
});
