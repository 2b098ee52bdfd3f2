/**
 * A platform serving a skill bundle the installer would refuse mints no
 * token for it (503 TTMA_ERR_CONFIG, in the installer's own words) and says
 * so at start; before, the refusal came from the installer, after the token
 * was redeemed. The same for the gateway bundle. A good bundle mints and installs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { runInstall } from '../../src/installer/Installer.js';
import { packSkill } from '../../scripts/packSkill.js';
import { craftTar, craftTarGz } from '../helpers/tarCraft.js';
import { adminHeaders, call } from '../platform/helpers.js';
import { deploymentInput, makeGatewayBundle, mint, startInstallPlatform } from './helpers.js';
import { maliciousArchives } from './maliciousArchives.js';

let scratch: string;
let gatewayBundle: Buffer;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ttma-skillstart-'));
  gatewayBundle = await makeGatewayBundle();
});
after(() => rm(scratch, { recursive: true, force: true }));

const malicious = maliciousArchives();
const GOOD_MD = '---\nname: good-skill\ndescription: "x"\nversion: 1.0.0\nmetadata:\n  openclaw:\n    requires:\n      bins:\n        - ttma\n---\n';

/** name -> [skill bundle, the installer's reason the refusal must carry] */
const refusedBundles: Record<string, [Buffer, RegExp]> = {
  'a symlink': malicious['symlink']!,
  'a ".." path': malicious['dot-dot path']!,
  'a truncated archive': [gzipSync(craftTar([{ path: 'SKILL.md', body: GOOD_MD }]).subarray(0, 700)), /not a valid tar archive/],
  'no end-of-archive marker': malicious['no end-of-archive marker']!,
  'not gzip at all (placeholder bytes)': [Buffer.from('skill bundle bytes'), /not a gzip file/],
  'no SKILL.md': [craftTarGz([{ path: 'README.md', body: 'x' }]), /no SKILL\.md at its root/],
  'a SKILL.md the installer cannot read': [craftTarGz([{ path: 'SKILL.md', body: GOOD_MD.replace('version: 1.0.0', 'version: one') }]), /version must be a semantic version/],
};

for (const [name, [skillBundle, why]] of Object.entries(refusedBundles)) {
  test(`a skill bundle with ${name}: the platform says so at start and mints no token, nothing registered`, async () => {
    const h = await startInstallPlatform({ gatewayBundle, skillBundle });
    try {
      const line = h.lines.find((l) => l.includes('--skill-bundle would be refused by every installer'));
      assert.ok(line, h.lines.join(''));
      const logged = JSON.parse(line) as { level: number; code: string; msg: string };
      assert.equal(logged.level, 50, 'logged as an error');
      assert.equal(logged.code, ErrorCodes.CONFIG);
      assert.match(logged.msg, why);
      const deployment = deploymentInput();
      const res = await mint(h, deployment);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, ErrorCodes.CONFIG);
      const message = res.body.error.message as string;
      assert.match(message, /^refusing to mint an install token: --skill-bundle would be refused by every installer: refused skill bundle/);
      assert.match(message, why);
      assert.match(message, /rebuild it with node dist\/scripts\/packSkill\.js/);
      assert.doesNotMatch(message, /nothing was written/);
      assert.equal(await h.platform.deployments.get(deployment.id), undefined);
      assert.deepEqual(await h.platform.install.service.store.audit(), []);
    } finally {
      await h.close();
    }
  });
}

test('a hostile or truncated gateway bundle: the platform says so at start and mints no token, naming the gateway bundle first', async () => {
  const good = await makeGatewayBundle();
  const cases: [Buffer, RegExp][] = [
    [craftTarGz([{ path: 'dist/src/cli/ttma.js', body: 'x' }, { path: 'lib', type: '2', linkpath: '/usr/lib' }]), /entry "lib": a SymbolicLink entry/],
    [gzipSync(gunzipSync(good).subarray(0, 700)), /not a valid tar archive/],
  ];
  for (const [bundle, why] of cases) {
    // A bad skill bundle too: the gateway's refusal is the one named.
    const h = await startInstallPlatform({ gatewayBundle: bundle, skillBundle: Buffer.from('skill bundle bytes') });
    try {
      const line = h.lines.find((l) => l.includes('--gateway-bundle would be refused by every installer'));
      assert.ok(line, h.lines.join(''));
      assert.match((JSON.parse(line) as { msg: string }).msg, why);
      const res = await mint(h);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, ErrorCodes.CONFIG);
      assert.match(res.body.error.message, /^refusing to mint an install token: --gateway-bundle would be refused by every installer: refused gateway bundle: /);
      assert.match(res.body.error.message, why);
      assert.match(res.body.error.message, /rebuild it with npm run pack:gateway/);
    } finally {
      await h.close();
    }
  }
});

test('a reissue is refused the same way (it would hand out the same bundle)', async () => {
  const h = await startInstallPlatform({ gatewayBundle, skillBundle: Buffer.from('skill bundle bytes') });
  try {
    const res = await call(h.base, 'POST', `/v1/admin/deployments/dep-${process.pid}-none/install-token`, { headers: adminHeaders(), body: { tunnelCredentialsRef: 'tunnel-0a1b2c' } });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.match(res.body.error.message, /--skill-bundle would be refused by every installer: refused skill bundle: not a gzip file/);
  } finally {
    await h.close();
  }
});

test('the skill bundle packSkill builds: the platform mints, and the install succeeds', async () => {
  const h = await startInstallPlatform({ gatewayBundle, skillBundle: (await packSkill()).bytes });
  try {
    assert.equal(h.lines.find((l) => l.includes('would be refused by every installer')), undefined, h.lines.join(''));
    const minted = await mint(h);
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const root = join(scratch, 'good');
    await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
    const result = await runInstall({
      token: minted.body.token as string, platformUrl: h.base, dir: join(root, 'install'), workspace: join(root, 'ws'),
      user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
    });
    assert.ok((await readdir(join(root, 'ws', 'skills'))).includes(result.skill.name), 'the skill is installed');
  } finally {
    await h.close();
  }
});
