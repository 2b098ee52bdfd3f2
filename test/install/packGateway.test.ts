/**
 * The bundle script's refusals on a checkout that is not ready, each naming
 * the command to run first (fixture checkouts in a temporary directory; the
 * real build is packed once, in gatewayBundle.test.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { PackError } from '../../scripts/gatewayFiles.js';
import { packGateway } from '../../scripts/packGateway.js';
import { GATEWAY_LIMITS, scanArchive } from '../../src/installer/archiveScan.js';
import { checkGatewayBundle, currentTarget } from '../../src/installer/bundleManifest.js';

let scratch: string;
let seq = 0;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ttma-pack-'));
});
after(() => rm(scratch, { recursive: true, force: true }));

const OLD = new Date('2025-01-01T00:00:00Z');
const NEW = new Date('2025-06-01T00:00:00Z');

/** A checkout with one source, built, its addon built, and one production dependency installed. */
async function checkout(): Promise<string> {
  const root = join(scratch, `c${++seq}`);
  const put = async (path: string, text: string, when = OLD) => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
    await utimes(join(root, path), when, when);
  };
  await put('package.json', JSON.stringify({ name: 'talk-to-my-agent', version: '0.1.0', type: 'module', scripts: { x: 'y' }, devDependencies: { d: '1' } }));
  await put('package-lock.json', JSON.stringify({
    lockfileVersion: 3,
    packages: { '': {}, 'node_modules/dep': { version: '1.0.0' }, 'node_modules/devdep': { version: '1.0.0', dev: true }, 'node_modules/other-os': { version: '1.0.0', optional: true } },
  }));
  await put('src/cli/ttma.ts', 'export {};\n');
  await put('dist/src/cli/ttma.js', 'export {};\n', NEW);
  await put('dist/src/cli/ttma.js.map', '{}', NEW);
  await put('native/binding.gyp', '{}');
  await put('native/src/addon.c', '');
  await put('native/build/Release/ttma_media.node', 'addon', NEW);
  await put('systemd/ttma-gateway.service', '[Service]\n');
  await put('node_modules/dep/package.json', JSON.stringify({ name: 'dep', version: '1.0.0' }));
  await put('node_modules/dep/index.js', 'module.exports = 1;\n');
  await put('node_modules/dep/node_modules/nested/index.js', '');
  await put(`node_modules/dep/uws_linux_x64_${process.versions.modules}.node`, 'mine');
  await put('node_modules/dep/uws_darwin_arm64_999.node', 'foreign');
  await put('node_modules/devdep/package.json', JSON.stringify({ name: 'devdep', version: '1.0.0' }));
  return root;
}

async function refusedWith(root: string, why: RegExp): Promise<void> {
  await assert.rejects(packGateway(root), (err: unknown) => {
    assert.ok(err instanceof PackError, String(err));
    assert.match((err as Error).message, why);
    return true;
  });
}

test('a ready checkout packs: its sources, the addon, the units and the production dependency, nothing else; the installer accepts it', async () => {
  const packed = await packGateway(await checkout());
  const paths = packed.manifest.files.map((f) => f.path);
  assert.deepEqual(paths, [
    'dist/src/cli/ttma.js', 'native/binding.gyp', 'native/build/Release/ttma_media.node',
    'node_modules/dep/index.js', 'node_modules/dep/package.json', `node_modules/dep/uws_linux_x64_${process.versions.modules}.node`,
    'package.json', 'systemd/ttma-gateway.service',
  ]);
  assert.deepEqual(packed.manifest.target, currentTarget());
  const scanned = await scanArchive(packed.bytes, GATEWAY_LIMITS, 'gateway bundle');
  // The manifest is the first entry: its content follows the first 512-byte header.
  assert.equal(scanned.entries[0]!.path, 'ttma-bundle.json');
  const manifestText = gunzipSync(packed.bytes).subarray(512, 512 + scanned.entries[0]!.size).toString('utf8');
  assert.equal(checkGatewayBundle(scanned, manifestText, currentTarget()).version, '0.1.0');
  // Another checkout with the same content (not a git checkout: no commit) gives the same bytes.
  assert.equal(packed.manifest.commit, null);
  assert.equal((await packGateway(await checkout())).sha256, packed.sha256);
});

test('a dependency built from source at npm ci: its addon is packed, node-gyp\'s build leftovers (which name the checkout\'s path and the builder\'s tools) are not, so checkouts in two places pack the same bytes', async () => {
  /** What `node-gyp rebuild` leaves in a package's build directory, with the paths it writes. */
  const built = async (root: string): Promise<string> => {
    const put = async (path: string, text: string) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    };
    await put('node_modules/dep/build/config.gypi', `{ "variables": { "nodedir": "${root}/.cache/node-gyp", "python": "${root}/.pyenv/bin/python3" } }\n`);
    await put('node_modules/dep/build/Makefile', `srcdir := ${root}/node_modules/dep\n`);
    await put('node_modules/dep/build/dep.target.mk', 'TOOLSET := target\n');
    await put('node_modules/dep/build/Release/.deps/Release/dep.node.d', `cmd_Release/dep.node := g++ -o ${root}/node_modules/dep/build/Release/dep.node\n`);
    await put('node_modules/dep/build/Release/obj.target/dep/src/dep.o', 'object');
    await put('node_modules/dep/build/Release/dep.node', 'addon of dep');
    return root;
  };
  const packed = await packGateway(await built(await checkout()));
  const paths = packed.manifest.files.map((f) => f.path).filter((p) => p.startsWith('node_modules/dep/build/'));
  assert.deepEqual(paths, ['node_modules/dep/build/Release/dep.node']);
  assert.equal((await packGateway(await built(await checkout()))).sha256, packed.sha256);
});

test('a checkout that is no git repository but sits inside one (a source tarball unpacked under a home kept in git) names no commit, not the enclosing repository\'s', async () => {
  const root = await checkout();
  const git = (...args: string[]) => execFileSync('git', args, { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }).trim();
  git('init', '-q');
  await writeFile(join(scratch, 'dotfile'), 'x');
  git('add', 'dotfile');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'enclosing');
  try {
    const packed = await packGateway(root);
    assert.equal(packed.manifest.commit, null, `named the enclosing repository's commit ${git('rev-parse', 'HEAD')}`);
    assert.equal(packed.manifest.dirty, false);
  } finally {
    await rm(join(scratch, '.git'), { recursive: true, force: true });
  }
});

test('a git checkout git cannot read (another user\'s: "dubious ownership"; here a broken .git) packs with no commit and says so, not silently', async () => {
  const root = await checkout();
  await writeFile(join(root, '.git'), 'gitdir: /nonexistent/ttma-pack-test\n');
  const lines: string[] = [];
  const packed = await packGateway(root, (line) => lines.push(line));
  assert.equal(packed.manifest.commit, null);
  assert.ok(lines.some((l) => /^WARNING: .* is a git checkout that git could not read \(.+\); ttma-bundle\.json names no commit$/.test(l)), lines.join('\n'));
});

test('not built yet: the script says to run npm run build first', async () => {
  const root = await checkout();
  await rm(join(root, 'dist'), { recursive: true });
  await refusedWith(root, /dist\/src\/cli\/ttma\.js is missing: the gateway is not built yet; run npm run build first/);
});

test('a source newer than its compiled file: run npm run build first', async () => {
  const root = await checkout();
  await utimes(join(root, 'src/cli/ttma.ts'), new Date(), new Date());
  await refusedWith(root, /dist is older than src\/cli\/ttma\.ts: run npm run build first/);
});

test('no media addon, or one older than its sources: run npm run build:native first', async () => {
  const root = await checkout();
  await utimes(join(root, 'native/src/addon.c'), new Date(), new Date());
  await refusedWith(root, /ttma_media\.node is older than native\/src\/addon\.c: run npm run build:native first/);
  await rm(join(root, 'native/build'), { recursive: true });
  await refusedWith(root, /the native media addon is not built; run npm run build:native first/);
});

test('node_modules out of step with package-lock.json: run npm ci first', async () => {
  const root = await checkout();
  await writeFile(join(root, 'node_modules/dep/package.json'), JSON.stringify({ name: 'dep', version: '2.0.0' }));
  await refusedWith(root, /node_modules\/dep is 2\.0\.0, package-lock\.json says 1\.0\.0: run npm ci first/);
  await rm(join(root, 'node_modules/dep'), { recursive: true });
  await refusedWith(root, /node_modules\/dep is missing: node_modules does not match package-lock\.json; run npm ci first/);
});
