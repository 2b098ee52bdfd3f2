/**
 * `ttma install` against targets that are wrong on this machine (FAQ-08,
 * FAQ-18): each is refused before the one-time token is redeemed, so the
 * same token still works afterwards, and nothing is written anywhere, not
 * even where a symlink points. A real platform mints the tokens; the
 * directories are real ones in a temporary root.
 */
import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { runInstall, type InstallOptions } from '../../src/installer/Installer.js';
import { packSkill } from '../../scripts/packSkill.js';
import type { Harness } from '../platform/helpers.js';
import { makeGatewayBundle, mint, redeem, startInstallPlatform } from './helpers.js';
import { runTtma } from '../helpers/runTtma.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const rootOnly = asRoot ? false : 'needs root to give a directory to another user';

let h: Harness;
let scratch: string;

before(async () => {
  // 0755, not mkdtemp's 0700: one test runs the CLI as another user, who must reach its paths.
  scratch = await mkdtemp(join(tmpdir(), 'ttma-targets-'));
  await chmod(scratch, 0o755);
  const skill = await packSkill();
  h = await startInstallPlatform({ gatewayBundle: await makeGatewayBundle(), skillBundle: skill.bytes, redeemRateLimit: { ratePerSec: 1000, burst: 1000 } });
});

after(async () => {
  await h.close();
  await rm(scratch, { recursive: true, force: true });
});

let seq = 0;
/** A fresh root (0755) holding a workspace (0755); the install dir does not exist yet. */
async function targets() {
  const root = join(scratch, `t${++seq}`);
  await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  await chmod(join(root, 'ws'), 0o755);
  return { root, dir: join(root, 'install'), workspace: join(root, 'ws') };
}

/** Every path under `root` with its type and mode (symlinks not followed). */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const st = await lstat(d);
    out.push(`${d} ${st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file'} ${(st.mode & 0o7777).toString(8)} ${st.uid}`);
    if (st.isDirectory()) for (const name of (await readdir(d)).sort()) await walk(join(d, name));
  };
  await walk(root);
  return out;
}

function options(token: string, t: { dir: string; workspace: string }, extra: Partial<InstallOptions> = {}): InstallOptions {
  return { token, platformUrl: h.base, dir: t.dir, workspace: t.workspace, user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081, ...extra };
}

/** Refused with INSTALL_TARGET and `why`, nothing under `root` changed, and the token still redeems. */
async function refusedBeforeRedemption(t: { root: string; dir: string; workspace: string }, why: RegExp, extra: Partial<InstallOptions> = {}) {
  const minted = await mint(h);
  assert.equal(minted.status, 201);
  const token = minted.body.token as string;
  const before = await snapshot(t.root);
  await assert.rejects(runInstall(options(token, t, extra)), (err: unknown) => {
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_TARGET), `expected ${ErrorCodes.INSTALL_TARGET}, got ${String((err as Error)?.stack ?? err)}`);
    assert.match((err as Error).message, why);
    assert.match((err as Error).message, /nothing was written; the install token was not used: fix this and run the same command again$/);
    return true;
  });
  assert.deepEqual(await snapshot(t.root), before, 'nothing written or changed');
  assert.equal((await redeem(h, token)).status, 200, 'the token was not spent');
}

test('local problems are refused before the token is redeemed, and the same token still works', async () => {
  let t = await targets();
  await writeFile(join(t.workspace, 'skills'), 'x');
  await refusedBeforeRedemption(t, /^the skills directory \S+\/ws\/skills exists and is not a directory/);

  t = await targets();
  await mkdir(join(t.workspace, 'skills', 'talk-to-my-agent'), { recursive: true, mode: 0o755 });
  await writeFile(join(t.workspace, 'skills', 'talk-to-my-agent', 'SKILL.md'), 'mine');
  await refusedBeforeRedemption(t, /^\S+\/ws\/skills\/talk-to-my-agent already exists: remove it first/);

  t = await targets();
  await writeFile(t.dir, 'x');
  await refusedBeforeRedemption(t, /^--dir \S+\/install exists and is not a directory/);

  t = await targets();
  await mkdir(t.dir, { mode: 0o700 });
  await writeFile(join(t.dir, 'old'), 'x');
  await refusedBeforeRedemption(t, /^--dir \S+ is not empty/);

  t = await targets();
  await refusedBeforeRedemption(t, /^--dir \S+: its parent \S+\/nope does not exist/, { dir: join(t.root, 'nope', 'install') });
  await refusedBeforeRedemption(t, /^--workspace \S+ does not exist or is not a directory/, { workspace: join(t.root, 'nows') });
});

test('symlinks are refused: at --dir, at <workspace>/skills, and anywhere above --dir or the workspace', async () => {
  // <ws>/skills links elsewhere: the skill would land in the link's target.
  let t = await targets();
  await mkdir(join(t.root, 'outside'), { mode: 0o755 });
  await symlink(join(t.root, 'outside'), join(t.workspace, 'skills'));
  await refusedBeforeRedemption(t, /^the skills directory \S+\/ws\/skills is a symbolic link/);

  // --dir links to an empty directory: everything would land there, and it would be made 0700.
  t = await targets();
  await mkdir(join(t.root, 'elsewhere'), { mode: 0o755 });
  await chmod(join(t.root, 'elsewhere'), 0o755);
  await symlink(join(t.root, 'elsewhere'), t.dir);
  await refusedBeforeRedemption(t, /^--dir \S+\/install is a symbolic link/);

  // A link further up: only the immediate parent was looked at before.
  t = await targets();
  await mkdir(join(t.root, 'real', 'sub'), { recursive: true, mode: 0o755 });
  await symlink(join(t.root, 'real'), join(t.root, 'link'));
  await refusedBeforeRedemption(t, new RegExp(`^--dir \\S+: its parent ${t.root}/link/sub goes through a symbolic link \\(its real path is ${t.root}/real/sub\\): pass --dir ${t.root}/real/sub/install`), {
    dir: join(t.root, 'link', 'sub', 'install'),
  });
  await refusedBeforeRedemption(t, /^--dir \S+: its parent \S+\/link goes through a symbolic link/, { dir: join(t.root, 'link', 'install') });

  // The workspace reached through a link.
  t = await targets();
  await symlink(t.workspace, join(t.root, 'wslink'));
  await refusedBeforeRedemption(t, new RegExp(`^--workspace ${t.root}/wslink goes through a symbolic link \\(its real path is ${t.workspace}\\): pass --workspace ${t.workspace}`), {
    workspace: join(t.root, 'wslink'),
  });
});

test('directories another user could change are refused: writable by group or others', async () => {
  let t = await targets();
  await mkdir(t.dir);
  await chmod(t.dir, 0o777);
  await refusedBeforeRedemption(t, /^--dir \S+\/install is writable by group or others \(mode 0777\): another user could swap what is installed there; run chmod go-w /);

  t = await targets();
  await mkdir(join(t.workspace, 'skills'));
  await chmod(join(t.workspace, 'skills'), 0o775);
  await refusedBeforeRedemption(t, /^the skills directory \S+ is writable by group or others \(mode 0775\)/);

  t = await targets();
  await chmod(t.workspace, 0o777);
  await refusedBeforeRedemption(t, /^--workspace \S+ is writable by group or others \(mode 0777\)/);

  t = await targets();
  await chmod(t.root, 0o777);
  await refusedBeforeRedemption(t, /^--dir \S+: its parent \S+ is writable by group or others \(mode 0777\)/);
});

test('directories owned by another user are refused', { skip: rootOnly }, async () => {
  // The reviewer's case: --dir made beforehand by nobody, mode 0777; nobody could swap gateway/ afterwards.
  let t = await targets();
  await mkdir(t.dir);
  await chown(t.dir, NOBODY, NOBODY);
  await chmod(t.dir, 0o777);
  await refusedBeforeRedemption(t, /^--dir \S+\/install belongs to uid 65534, not to the user installing \(uid 0\)/);

  t = await targets();
  await mkdir(t.dir, { mode: 0o700 });
  await chown(t.dir, NOBODY, NOBODY);
  await refusedBeforeRedemption(t, /^--dir \S+\/install belongs to uid 65534/);

  t = await targets();
  await mkdir(join(t.workspace, 'skills'), { mode: 0o755 });
  await chown(join(t.workspace, 'skills'), NOBODY, NOBODY);
  await refusedBeforeRedemption(t, /^the skills directory \S+ belongs to uid 65534/);

  t = await targets();
  await chown(t.workspace, NOBODY, NOBODY);
  await refusedBeforeRedemption(t, /^--workspace \S+ belongs to uid 65534/);
});

test('existing directories of ours are used as they are: an empty --dir, a skills directory holding another skill, a sticky parent', async () => {
  const t = await targets();
  await mkdir(t.dir, { mode: 0o700 });
  await mkdir(join(t.workspace, 'skills', 'other-skill'), { recursive: true, mode: 0o755 });
  await chmod(join(t.workspace, 'skills'), 0o755);
  await writeFile(join(t.workspace, 'skills', 'other-skill', 'SKILL.md'), 'other');
  const result = await runInstall(options((await mint(h)).body.token, t));
  assert.equal(result.skillDir, join(t.workspace, 'skills', 'talk-to-my-agent'));
  assert.ok(!result.written.includes(t.dir) && !result.written.includes(join(t.workspace, 'skills')), 'directories that existed are not reported as written');
  assert.deepEqual((await readdir(join(t.workspace, 'skills'))).sort(), ['other-skill', 'talk-to-my-agent']);

  // /tmp-like: anyone may add entries, but only we may rename or remove ours.
  const sticky = await targets();
  await chmod(sticky.root, 0o1777);
  await runInstall(options((await mint(h)).body.token, sticky));
  assert.ok((await readdir(sticky.dir)).includes('install.json'));
});

test('an install directory whose parent this user cannot write: the CLI says so in one line, exit 2, and the token still works', async () => {
  // The reviewer ran `ttma install --dir /opt/...` as a normal user: EACCES as a stack trace, token gone.
  const t = await targets();
  const parent = join(t.root, 'locked');
  await mkdir(parent, { mode: 0o755 });
  if (asRoot) await chown(t.workspace, NOBODY, NOBODY);
  else await chmod(parent, 0o555);
  const token = (await mint(h)).body.token as string;
  const { code, stderr: err } = await runTtma(['install', '--token', token, '--platform-url', h.base, '--dir', join(parent, 'ttma'), '--workspace', t.workspace, '--user', 'openclaw'], {
    env: { HOME: t.root },
    timeoutMs: 60_000,
    ...(asRoot ? { uid: NOBODY } : {}),
  });
  assert.equal(code, 2, err);
  assert.equal(
    err,
    `ttma: TTMA_ERR_INSTALL_TARGET: --dir ${parent}/ttma: its parent ${parent} is not writable by this user (EACCES); nothing was written;`
      + ' the install token was not used: fix this and run the same command again\n',
  );
  assert.deepEqual(await readdir(parent), []);
  assert.equal((await redeem(h, token)).status, 200, 'the token was not spent');
});
