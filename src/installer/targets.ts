/**
 * Where the installer writes, checked before the one-time token is redeemed
 * (FAQ-08, FAQ-18), so a problem on this machine is found while the token is
 * still unused; checked again right before the first write, since a download
 * lies in between.
 *
 * - --dir: absent, its parent a real directory (no symlink anywhere on the
 *   path) that we can write and no other user can change; or an empty
 *   directory of ours that no other user can write. Never a symlink.
 * - --workspace: a real directory (no symlink anywhere on the path) that we
 *   can write and no other user can change.
 * - <workspace>/skills: absent, or a directory of ours that no other user can
 *   write. Never a symlink.
 * - <workspace>/skills/<name>: absent (an installed skill is never replaced).
 *
 * "No other user can change it": owned by us (a parent we only add an entry
 * to may also be root's) and not writable by group or others (a sticky
 * parent such as /tmp excepted: there only we can rename or remove our entry).
 * Otherwise another user could swap a directory for a symlink between our
 * checks and our writes, and send the files elsewhere.
 */
import { constants, type Stats } from 'node:fs';
import { access, lstat, mkdir, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';

/**
 * The skill the platform ships (skill/SKILL.md). The name of the skill in a
 * bundle is known only after redemption; this one is checked before.
 */
export const SHIPPED_SKILL_NAME = 'talk-to-my-agent';

export interface TargetPlan {
  dir: string;
  workspace: string;
  skills: string;
  dirExists: boolean;
  skillsExists: boolean;
}

type Kind = 'ours' | 'parent';

function refusal(what: string): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_TARGET, `${what}; nothing was written`, 2);
}

const errno = (err: unknown): string => String((err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? err);

/** lstat, or null when nothing is there; any other failure is a refusal naming the path. */
async function statOrNull(path: string, what: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw refusal(`${what} ${path} cannot be examined (${errno(err)})`);
  }
}

function checkDirectory(path: string, st: Stats, what: string, kind: Kind): void {
  if (st.isSymbolicLink()) throw refusal(`${what} ${path} is a symbolic link: the installer writes only into real directories; pass the directory itself`);
  if (!st.isDirectory()) throw refusal(`${what} ${path} exists and is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && !(kind === 'parent' && st.uid === 0)) {
    throw refusal(`${what} ${path} belongs to uid ${st.uid}, not to the user installing (uid ${uid}): that user could change what is installed there`);
  }
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !(kind === 'parent' && sticky)) {
    throw refusal(`${what} ${path} is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): another user could swap what is installed there; run chmod go-w ${path}`);
  }
}

async function checkWritable(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw refusal(`${what} ${path} is not writable by this user (${errno(err)})`);
  }
}

/** `path` resolves to itself: no symlink on it, up to the root. null when it does not exist. */
async function realOrNull(path: string, what: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw refusal(`${what} ${path} cannot be examined (${errno(err)})`);
  }
}

async function checkParent(dir: string): Promise<void> {
  const parent = dirname(dir);
  const what = `--dir ${dir}: its parent`;
  const real = await realOrNull(parent, what);
  if (real === null) throw refusal(`${what} ${parent} does not exist (the installer creates only the install directory itself)`);
  if (real !== parent) throw refusal(`${what} ${parent} goes through a symbolic link (its real path is ${real}): pass --dir ${join(real, basename(dir))}`);
  checkDirectory(parent, await lstat(parent), what, 'parent');
}

async function checkWorkspace(workspace: string): Promise<void> {
  const real = await realOrNull(workspace, '--workspace');
  if (real === null || !(await lstat(real)).isDirectory()) {
    throw refusal(`--workspace ${workspace} does not exist or is not a directory: is OpenClaw installed for this user? Pass its workspace with --workspace`);
  }
  if (real !== workspace) throw refusal(`--workspace ${workspace} goes through a symbolic link (its real path is ${real}): pass --workspace ${real}`);
  checkDirectory(workspace, await lstat(workspace), '--workspace', 'parent');
  await checkWritable(workspace, '--workspace');
}

/** The skill's target must not exist: an installed skill is never replaced. */
export async function checkSkillTarget(skillDir: string): Promise<void> {
  if (await statOrNull(skillDir, 'the skill directory')) throw refusal(`${skillDir} already exists: remove it first, or install into another --workspace`);
}

/** Every check on the targets that can be made before the token is redeemed. */
export async function checkTargets(dir: string, workspace: string): Promise<TargetPlan> {
  await checkParent(dir);
  const dirStats = await statOrNull(dir, '--dir');
  if (dirStats) {
    checkDirectory(dir, dirStats, '--dir', 'ours');
    await checkWritable(dir, '--dir');
    if ((await readdir(dir)).length > 0) throw refusal(`--dir ${dir} is not empty: install into a new or empty directory (an existing install is never overwritten)`);
  } else {
    await checkWritable(dirname(dir), `--dir ${dir}: its parent`);
  }
  await checkWorkspace(workspace);
  const skills = join(workspace, 'skills');
  const skillsStats = await statOrNull(skills, 'the skills directory');
  if (skillsStats) {
    checkDirectory(skills, skillsStats, 'the skills directory', 'ours');
    await checkWritable(skills, 'the skills directory');
    await checkSkillTarget(join(skills, SHIPPED_SKILL_NAME));
  }
  return { dir, workspace, skills, dirExists: dirStats !== null, skillsExists: skillsStats !== null };
}

/**
 * Right before the first write: the parents are unchanged, and --dir and
 * <workspace>/skills exist as directories of ours. A directory is created
 * without `recursive` and pushed onto `created` only once its own mkdir has
 * succeeded, so a failure's cleanup never removes a directory another
 * process made in the meantime (mkdir fails with EEXIST then).
 */
export async function prepareTargets(plan: TargetPlan, created: string[]): Promise<void> {
  await checkParent(plan.dir);
  await checkWorkspace(plan.workspace);
  const targets: [string, boolean, number, string][] = [
    [plan.dir, plan.dirExists, 0o700, '--dir'],
    [plan.skills, plan.skillsExists, 0o755, 'the skills directory'],
  ];
  for (const [path, existed, mode, what] of targets) {
    if (!existed) {
      try {
        await mkdir(path, { mode });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refusal(`${what} ${path} appeared while installing (another process made it); it was left as it is`);
        throw refusal(`${what} ${path} cannot be created (${errno(err)})`);
      }
      created.push(path);
    }
    const st = await statOrNull(path, what);
    if (!st) throw refusal(`${what} ${path} disappeared while installing`);
    checkDirectory(path, st, what, 'ours');
  }
}
