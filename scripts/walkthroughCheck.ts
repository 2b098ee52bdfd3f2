/**
 * `npm run check:walkthrough`: runs docs/walkthrough.md's sh blocks in order,
 * as an operator would type them, in one bash (so variables and the working
 * directory carry from block to block), each with a bound, and exits non-zero
 * naming the first block that failed. The page's `<!-- check: … -->` comments
 * (scripts/walkthroughBlocks.ts) say what to skip, what to wait for and what
 * to expect. Every process the blocks start is in the shell's own process
 * group, which is stopped at the end, on failure too, and on Ctrl-C.
 *
 *   node dist/scripts/walkthroughCheck.js [--page FILE] [--keep]
 *
 * Needs root (the page runs the installer and the gateway as `nobody`) and
 * the page's ports free; exits 2 when it cannot run, 1 when a block failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { walkthroughBlocks, type WalkBlock } from './walkthroughBlocks.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A background process's ready line: a start under load takes a few seconds, never this long. */
const WAIT_MS = 60_000;
const STOP_GRACE_MS = 15_000;
/** Where the page makes its working directory; only such a directory is removed afterwards. */
const SCRATCH_PREFIX = '/tmp/ttma-walk-';

class BlockFailure extends Error {
  /** What the block printed before it failed, when that was not shown yet. */
  constructor(message: string, readonly output = '') {
    super(message);
  }
}

interface Shell {
  child: ChildProcess;
  output: string;
  exited: Promise<number | null>;
}

function startShell(): Shell {
  const env = { ...process.env };
  // A developer's TTMA_* settings would change what the page's commands do.
  for (const key of Object.keys(env)) if (key.startsWith('TTMA_')) delete env[key];
  // Its own process group (detached): every process a block starts is stopped with it.
  const child = spawn('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail'], { cwd: ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const shell: Shell = { child, output: '', exited: new Promise((r) => child.once('exit', (code, signal) => r(code ?? (signal ? 128 : null)))) };
  const take = (chunk: Buffer) => {
    shell.output += chunk.toString('utf8');
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return shell;
}

/** Stops the shell's process group: TERM, then KILL after a grace period. */
async function stopGroup(shell: Shell): Promise<void> {
  const pgid = shell.child.pid;
  if (pgid === undefined) return;
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pgid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (alive() && Date.now() < deadline) await sleep(100);
  if (alive()) {
    process.stdout.write(`walkthrough: processes still running ${STOP_GRACE_MS / 1000} s after SIGTERM: killed\n`);
    process.kill(-pgid, 'SIGKILL');
  }
}

/** Runs one block in the shell; resolves with its output and the shell's directory afterwards. */
async function runBlock(shell: Shell, block: WalkBlock, blockDir: string): Promise<{ output: string; cwd: string }> {
  const file = join(blockDir, `block-${block.index}.sh`);
  writeFileSync(file, block.code);
  const marker = `@@walk-${randomBytes(6).toString('hex')}`;
  const from = shell.output.length;
  // stdin from /dev/null: a command that reads its input must not eat the next block.
  shell.child.stdin?.write(`. '${file}' </dev/null\nprintf '\\n${marker} %s %s\\n' "$?" "$PWD"\n`);
  const done = new RegExp(`\\n${marker} (\\d+) (.*)\\n`);
  const deadline = Date.now() + block.timeoutSec * 1000;
  let exitCode: number | null | undefined;
  void shell.exited.then((code) => {
    exitCode = code;
  });
  for (;;) {
    const seen = done.exec(shell.output.slice(from));
    if (seen) {
      const output = shell.output.slice(from, from + seen.index);
      if (seen[1] !== '0') throw new BlockFailure(`its last command exited ${seen[1]}`, output);
      return { output, cwd: seen[2] ?? ROOT };
    }
    if (exitCode !== undefined) throw new BlockFailure(`a command failed (the shell, run with -e, exited ${String(exitCode)})`, shell.output.slice(from));
    if (Date.now() > deadline) throw new BlockFailure(`still running after ${block.timeoutSec} s`, shell.output.slice(from));
    await sleep(50);
  }
}

/** A block's output, indented under its name (nothing for none). */
function quoted(output: string): string {
  const text = output.trimEnd();
  return text === '' ? '' : `${text.replace(/^/gm, '  | ')}\n`;
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(cannot read it)';
  }
}

/** Each `wait FILE TEXT` of the block, bounded; on timeout the file (and the .log beside an .out) is shown. */
async function waitFor(block: WalkBlock, cwd: string): Promise<void> {
  for (const { file, text } of block.waits) {
    const path = resolve(cwd, file);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      let content = '';
      try {
        content = readFileSync(path, 'utf8');
      } catch {
        content = '';
      }
      if (content.includes(text)) break;
      if (Date.now() > deadline) {
        const log = path.endsWith('.out') ? `\n--- ${path.replace(/\.out$/, '.log')}:\n${tail(path.replace(/\.out$/, '.log'))}` : '';
        throw new BlockFailure(`${file} did not show "${text}" within ${WAIT_MS / 1000} s\n--- ${path}:\n${tail(path)}${log}`);
      }
      await sleep(100);
    }
  }
}

/** The ports the page's commands listen on or talk to: all must be free before it starts. */
function pagePorts(blocks: WalkBlock[]): number[] {
  const ports = new Set<number>();
  for (const b of blocks) {
    if (b.skip !== null) continue;
    for (const m of b.code.matchAll(/(?:127\.0\.0\.1:|-port )(\d{2,5})\b/g)) ports.add(Number(m[1]));
  }
  return [...ports].sort((a, b) => a - b);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((r) => {
    const server = createServer();
    server.once('error', () => r(false));
    server.listen(port, '127.0.0.1', () => server.close(() => r(true)));
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { page: { type: 'string' }, keep: { type: 'boolean' } } });
  const page = values.page ?? join(ROOT, 'docs', 'walkthrough.md');
  const blocks = walkthroughBlocks(readFileSync(page, 'utf8'));
  if (process.getuid?.() !== 0) {
    process.stderr.write('walkthrough: run as root: the page runs the installer and the gateway as nobody (setpriv)\n');
    return 2;
  }
  const taken: number[] = [];
  for (const port of pagePorts(blocks)) if (!(await portFree(port))) taken.push(port);
  if (taken.length > 0) {
    process.stderr.write(`walkthrough: port(s) ${taken.join(', ')} on 127.0.0.1 in use: the page's commands need them free\n`);
    return 2;
  }

  const blockDir = mkdtempSync(join(tmpdir(), 'ttma-walkcheck-'));
  const shell = startShell();
  const stop = () => {
    void stopGroup(shell).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const startedAt = Date.now();
  let cwd = ROOT;
  let failed: WalkBlock | null = null;
  try {
    for (const block of blocks) {
      const name = `block ${block.index} (line ${block.line}, "${block.section}")`;
      if (block.skip !== null) {
        process.stdout.write(`walkthrough: ${name}: skipped: ${block.skip}\n`);
        continue;
      }
      const t0 = Date.now();
      process.stdout.write(`walkthrough: ${name}\n`);
      try {
        const result = await runBlock(shell, block, blockDir);
        cwd = result.cwd;
        process.stdout.write(quoted(result.output));
        for (const text of block.expects) if (!result.output.includes(text)) throw new BlockFailure(`its output does not show "${text}"`);
        await waitFor(block, cwd);
      } catch (err) {
        if (!(err instanceof BlockFailure)) throw err;
        failed = block;
        process.stdout.write(quoted(err.output));
        process.stdout.write(`walkthrough: FAILED: ${name}: ${err.message}\n`);
        break;
      }
      process.stdout.write(`walkthrough: ${name}: ok in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    const stopAt = Date.now();
    await stopGroup(shell);
    process.stdout.write(`walkthrough: every process the blocks started is stopped (${((Date.now() - stopAt) / 1000).toFixed(1)} s)\n`);
    rmSync(blockDir, { recursive: true, force: true });
  }
  const scratch = cwd.startsWith(SCRATCH_PREFIX) ? cwd : null;
  if (failed) {
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    if (scratch) process.stdout.write(`walkthrough: the files of the run are in ${scratch}\n`);
    process.stdout.write(`walkthrough: failed at block ${failed.index} (${page} line ${failed.line}) after ${seconds} s\n`);
    return 1;
  }
  if (scratch && !values.keep) rmSync(scratch, { recursive: true, force: true });
  else if (scratch) process.stdout.write(`walkthrough: the files of the run are in ${scratch}\n`);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  process.stdout.write(`walkthrough: all ${blocks.filter((b) => b.skip === null).length} blocks ran as written (${blocks.filter((b) => b.skip !== null).length} skipped) in ${seconds} s\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`walkthrough: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
