/**
 * The `ttma` CLI as a child process, bounded: no shell, a fixed environment
 * (PATH and what the caller gives), standard input written and closed.
 * Declares no test.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));

export interface TtmaRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TtmaRunOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to its standard input, which is then closed (closed at once without it). */
  stdin?: string;
  /** Run as this user (and group): the tests run as root. */
  uid?: number;
  timeoutMs?: number;
  /** Called once it has started (to look at /proc/<pid>, say). */
  onSpawn?: (pid: number) => Promise<void>;
}

export async function runTtma(args: string[], options: TtmaRunOptions = {}): Promise<TtmaRun> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const child = spawn(process.execPath, [TTMA, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ttma ${args[0] ?? ''} did not exit within ${timeoutMs / 1000} s; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  if (options.onSpawn && child.pid !== undefined) await options.onSpawn(child.pid);
  child.stdin.end(options.stdin);
  const code = await exited;
  return { code, stdout, stderr };
}
