/**
 * `ttma call`, `calls`, `dashboard` and `recording` read the deployment's agent secret from
 * --agent-secret-file, $TTMA_AGENT_SECRET_FILE or <install dir>/credentials/agent-secret. When
 * none is there, the refusal says where it looked and which flag points at the install; the
 * gateway is looked for on the local port the install recorded (the real CLI as a child process,
 * as a new operator runs it).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runTtma } from '../helpers/runTtma.js';

let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'ttma-secret-source-'));
});
after(async () => {
  await rm(home, { recursive: true, force: true });
});

test('no flag, no install in the default place: the message names the default install dir and says to pass --install-dir or --agent-secret-file', async () => {
  for (const args of [['call', '+15550100000'], ['calls'], ['dashboard'], ['recording']]) {
    const run = await runTtma([...args, '--local-port', '1'], { env: { HOME: home } });
    assert.equal(run.code, 2, `${args[0]}: ${run.stderr}`);
    const defaultDir = join(home, '.local', 'share', 'ttma');
    assert.ok(run.stderr.includes(`no agent secret at ${defaultDir}/credentials/agent-secret (the installer's default install dir ${defaultDir})`), run.stderr);
    assert.match(run.stderr, /pass --install-dir D, the --dir that ttma install used, or --agent-secret-file F/);
    // Before, it named a flag the user had not given: "--agent-secret-file <default path>: cannot read secret: ENOENT".
    assert.ok(!run.stderr.includes('--agent-secret-file /'), run.stderr);
  }
});

test('an --install-dir without credentials is named as given; an --agent-secret-file that cannot be read is named by its flag', async () => {
  const dir = join(home, 'not-an-install');
  const viaDir = await runTtma(['calls', '--install-dir', dir], { env: { HOME: home } });
  assert.equal(viaDir.code, 2);
  assert.ok(viaDir.stderr.includes(`no agent secret at ${dir}/credentials/agent-secret (--install-dir ${dir})`), viaDir.stderr);
  const viaFlag = await runTtma(['calls', '--agent-secret-file', join(home, 'missing')], { env: { HOME: home } });
  assert.equal(viaFlag.code, 2);
  assert.ok(viaFlag.stderr.includes(`--agent-secret-file ${join(home, 'missing')}: cannot read secret`), viaFlag.stderr);
});

test('the gateway is looked for on the local port its install recorded, unless a port or a secret file of its own is given', async () => {
  // An install made with --local-port P: install.json records P (ttma install writes it).
  const dir = join(home, 'install-with-port');
  await mkdir(join(dir, 'credentials'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'credentials', 'agent-secret'), `${'s'.repeat(43)}\n`, { mode: 0o600 });
  const port = await closedPort();
  await writeFile(join(dir, 'install.json'), JSON.stringify({ version: 1, tunnelPort: port + 1, localPort: port }), { mode: 0o600 });
  // Before, --install-dir gave only the secret and the port stayed 8081, so the skill's ttma missed such a gateway.
  const viaDir = await runTtma(['calls', '--install-dir', dir], { env: { HOME: home } });
  assert.equal(viaDir.code, 1, viaDir.stderr);
  assert.ok(viaDir.stderr.includes(`no gateway answering on 127.0.0.1:${port} `), viaDir.stderr);
  const viaEnv = await runTtma(['call', '+15550100000'], { env: { HOME: home, TTMA_INSTALL_DIR: dir } });
  assert.ok(viaEnv.stderr.includes(`127.0.0.1:${port} `), viaEnv.stderr);
  // A port given wins; a secret file of its own with no install named is not the install's gateway.
  const flagged = await runTtma(['calls', '--install-dir', dir, '--local-port', String(port + 2)], { env: { HOME: home } });
  assert.ok(flagged.stderr.includes(`127.0.0.1:${port + 2} `), flagged.stderr);
  const ownHome = join(home, 'own');
  const defaultDir = join(ownHome, '.local', 'share', 'ttma');
  await mkdir(defaultDir, { recursive: true });
  await writeFile(join(defaultDir, 'install.json'), JSON.stringify({ version: 1, localPort: port }));
  const ownSecret = await runTtma(['calls', '--agent-secret-file', join(dir, 'credentials', 'agent-secret')], { env: { HOME: ownHome } });
  assert.ok(ownSecret.stderr.includes('127.0.0.1:8081'), ownSecret.stderr);
});

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
