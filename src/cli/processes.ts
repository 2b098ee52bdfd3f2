/**
 * Child processes for the demo (and end-to-end tests): start a `ttma`
 * subcommand, wait for its ready line, stop it with SIGTERM and check it
 * exits 0. Arguments are arrays; nothing goes through a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, TtmaError } from '../errors.js';

const TTMA_ENTRY = fileURLToPath(new URL('./ttma.js', import.meta.url));

export interface Child {
  name: string;
  process: ChildProcess;
  ready: Record<string, unknown>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** How long a started process has to print its ready line. */
export const READY_TIMEOUT_MS = 20_000;

export async function startTtma(name: string, args: string[], logFile: string, readyTimeoutMs = READY_TIMEOUT_MS, nodeArgs: string[] = []): Promise<Child> {
  return startNode(name, TTMA_ENTRY, args, logFile, { readyTimeoutMs, nodeArgs });
}

export interface StartNodeOptions {
  readyTimeoutMs?: number;
  /** A command the node process runs under, e.g. `['taskset', '-c', '0']` (the bench pins the gateway to a core). */
  wrap?: string[];
  /** Extra node options before the entry, e.g. `['--cpu-prof']`. */
  nodeArgs?: string[];
  /** Its working directory (default this process's). */
  cwd?: string;
  /** Its whole environment (default this process's); TTMA_LOG_LEVEL is added unless given. */
  env?: NodeJS.ProcessEnv;
}

/** Start a node entry script that prints a JSON `{"event":"ready"}` line on stdout when it is ready. */
export async function startNode(name: string, entry: string, args: string[], logFile: string, options: StartNodeOptions = {}): Promise<Child> {
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const wrap = options.wrap ?? [];
  const argv = [...wrap.slice(1), process.execPath, ...(options.nodeArgs ?? []), entry, ...args];
  const child = spawn(wrap[0] ?? process.execPath, wrap.length > 0 ? argv : argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...(options.env ?? process.env), TTMA_LOG_LEVEL: options.env?.['TTMA_LOG_LEVEL'] ?? process.env.TTMA_LOG_LEVEL ?? 'info' },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const log = createWriteStream(logFile);
  child.stderr!.pipe(log);
  // Its last words, for a child that exits before it is ready: the reason is there, not in its exit code.
  let lastWords = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const lines = chunk.toString('utf8').split('\n').filter((line) => line.trim() !== '');
    if (lines.length > 0) lastWords = lines[lines.length - 1]!.slice(0, 2_000);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TtmaError(ErrorCodes.CONFIG, `${name} did not become ready within ${readyTimeoutMs} ms (log: ${logFile})`));
    }, readyTimeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.event === 'ready') {
            clearTimeout(timer);
            resolve(parsed);
          }
        } catch {
          // not a ready line
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      const why = lastWordsOf(lastWords);
      reject(new TtmaError(ErrorCodes.CONFIG, `${name} exited (${code}) before it was ready${why ? `: ${why}` : ''} (log: ${logFile})`));
    });
  });
  return { name, process: child, ready, exited };
}

/** A log line's message (pino JSON) or the line itself (`ttma: CODE: ...`), cut to 300 characters. */
function lastWordsOf(line: string): string {
  let text = line.trim().replace(/^-\s+/, '');
  try {
    const parsed = JSON.parse(text) as { msg?: unknown };
    if (typeof parsed.msg === 'string') text = parsed.msg;
  } catch {
    // a plain line
  }
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

/** SIGTERM, then SIGKILL after the grace period. Resolves with the exit code. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<number | string> {
  if (child.process.exitCode !== null) return child.process.exitCode;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

/** Ask the kernel for free loopback ports (bound, read, released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
