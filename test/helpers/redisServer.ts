/**
 * A real redis-server for tests: started on a free loopback port with no
 * persistence, stopped at the end. Tests that need Redis call
 * `startRedisServer()` and get a `redis://127.0.0.1:<port>` URL.
 *
 * Without the Debian package: under CI (CI set) it throws, so the suite fails
 * rather than silently skips; elsewhere `redisUnavailable()` gives a reason
 * for `test.skip`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { freePorts } from '../../src/cli/processes.js';

export interface RedisServer {
  url: string;
  port: number;
  /** The server's process id (a bench pins it to a core). */
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 2 s). */
  stop(): Promise<void>;
  /** Kill it abruptly, to test what happens when Redis goes away. */
  kill(): Promise<void>;
}

const REDIS_BINARY = 'redis-server';

/** A reason to skip when redis-server is missing and we are not in CI, else undefined. */
export function redisUnavailable(): string | undefined {
  const found = spawnSync(REDIS_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
  if (found) return undefined;
  if (process.env.CI) throw new Error('redis-server is not installed; CI must install it (apt-get install redis-server)');
  return 'redis-server is not installed (apt-get install redis-server)';
}

/**
 * `port`: start on this one (e.g. again after `kill`, to test a comeback); default a free one.
 * `dataDir`: keep the data there (append-only file, fsync per write), so a server stopped and
 * started again on the same port and directory has everything it had (a Redis restart, not a wipe).
 * `args`: more configuration, last (e.g. `--rename-command CONFIG ""`, as managed Redis does).
 */
export async function startRedisServer(port?: number, options: { dataDir?: string; args?: readonly string[] } = {}): Promise<RedisServer> {
  port ??= ((await freePorts(1)) as [number])[0];
  const persistence = options.dataDir
    ? ['--dir', options.dataDir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const child = spawn(
    REDIS_BINARY,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--protected-mode', 'yes', '--loglevel', 'warning', ...(options.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPing(port, child, () => stderr);
  forgettable(child);
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Held again while it is being stopped: its exit is what this waits for.
    child.ref();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

/** Servers still running in this process: killed when it exits. */
const running = new Set<ChildProcess>();
let killAtExit = false;

/**
 * A server a failed test never stopped must not keep the test file's process
 * alive (the runner waits for it to exit, and no test timeout covers that
 * wait), nor outlive it: not holding the event loop, and killed at exit.
 */
function forgettable(child: ChildProcess): void {
  if (!killAtExit) process.once('exit', killRunning);
  killAtExit = true;
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.unref();
  (child.stderr as Socket | null)?.unref();
}

function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Bounded: 100 attempts 50 ms apart. Speaks RESP directly, no client library. */
async function waitForPing(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr().trim()}`);
    if (await pingOnce(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * A redis-server for the enclosing describe block, with a raw client on it
 * (for checks of key layout and TTLs); both are gone after the block.
 */
export function useRedisServer(): { readonly server: RedisServer; readonly raw: Redis } {
  let server: RedisServer | undefined;
  let raw: Redis | undefined;
  before(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });
  return {
    get server(): RedisServer {
      if (!server) throw new Error('useRedisServer: the server starts in before()');
      return server;
    },
    get raw(): Redis {
      if (!raw) throw new Error('useRedisServer: the client opens in before()');
      return raw;
    },
  };
}

/**
 * For a store contract suite on Redis: one redis-server for the file, a fresh
 * key prefix per store (so each test starts on empty state) and a "twin" on
 * the same prefix (a second connection, as a second platform process would).
 */
export async function prefixedRedisStores<S extends object, O>(make: (url: string, prefix: string, options?: O) => S) {
  return prefixedStores(await startRedisServer(), make);
}

/** As `prefixedRedisStores`, on a server (or cluster) already started, stopped by `close`. */
export function prefixedStores<S extends object, O>(server: { url: string; stop(): Promise<void> }, make: (url: string, prefix: string, options?: O) => S) {
  const prefixes = new WeakMap<S, string>();
  return {
    store: (options?: O): S => {
      const prefix = `t${randomUUID().slice(0, 8)}`;
      const store = make(server.url, prefix, options);
      prefixes.set(store, prefix);
      return store;
    },
    twin: (store: S): S => make(server.url, prefixes.get(store) ?? 'none'),
    close: (): Promise<void> => server.stop(),
  };
}
