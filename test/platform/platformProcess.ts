/**
 * A platform in a process of its own (for tests that SIGKILL one): started with `options` as
 * PlatformServer's JSON options; resolves with its port once it listens. `child.prelude` is
 * module code run first (imports, hooks: it sees `options`), and `child.options` the expression
 * the server is built with (default `options`), for a process that must die at a chosen step.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import nacl from 'tweetnacl';
import { useRedisServer } from '../helpers/redisServer.js';
import { ADMIN_TOKEN, CONNECTION_ID, FakeProvider, PROVIDER_KEY } from './helpers.js';

const SERVER_MODULE = fileURLToPath(new URL('../../src/platform/PlatformServer.js', import.meta.url));

export async function platformProcess(
  options: Record<string, unknown>,
  custom: { prelude?: string; options?: string } = {},
): Promise<{ child: ChildProcess; port: number; exited: Promise<unknown> }> {
  const script = `import { PlatformServer } from ${JSON.stringify(SERVER_MODULE)};
const options = JSON.parse(process.env.TTMA_TEST_OPTIONS);
${custom.prelude ?? ''}
const p = new PlatformServer(${custom.options ?? 'options'});
const { port } = await p.start();
process.stdout.write(JSON.stringify({ port }) + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TTMA_TEST_OPTIONS: JSON.stringify(options), TTMA_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('platform process not listening')), 10_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port, exited };
}

/**
 * What the crash tests share: a redis-server for the block, the fake provider (the test starts
 * it, `startProvider()`, and stops it after its platforms), a webhook key pair, and the options a
 * platform on them takes, `extra` on top.
 */
export function useCrashFixture(): {
  readonly redisFx: ReturnType<typeof useRedisServer>;
  readonly provider: FakeProvider;
  readonly keyPair: nacl.SignKeyPair;
  startProvider(): Promise<void>;
  options(extra?: Record<string, unknown>): Record<string, unknown>;
} {
  const redisFx = useRedisServer();
  const provider = new FakeProvider();
  const keyPair = nacl.sign.keyPair();
  let providerUrl = '';
  return {
    redisFx,
    provider,
    keyPair,
    async startProvider() {
      providerUrl = await provider.start();
    },
    options: (extra = {}) => ({
      providerBaseUrl: providerUrl,
      providerApiKey: PROVIDER_KEY,
      connectionId: CONNECTION_ID,
      webhookPublicKeyBase64: Buffer.from(keyPair.publicKey).toString('base64'),
      adminToken: ADMIN_TOKEN,
      redisUrl: redisFx.server.url,
      provider: { backoffMs: 5, timeoutMs: 2_000, maxAttempts: 1 },
      ...extra,
    }),
  };
}
