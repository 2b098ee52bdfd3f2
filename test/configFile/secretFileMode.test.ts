/**
 * A secret other users can read stops the gateway at start (TTMA_ERR_CONFIG,
 * naming the file and `chmod 600`): the agent secret, the agent key and the
 * OpenClaw token, given by flag or config file; the public webhook key is
 * not a secret. Files in systemd's credentials directory are taken as
 * systemd makes them. The real CLI, real files with exact modes.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePorts } from '../../src/cli/processes.js';
import { secretFileModeProblem, sharedModeProblem } from '../../src/configFile/secretFileMode.js';
import { runTtma, type TtmaRun } from '../helpers/runTtma.js';

const SECRET = 'owner-only-secret-canary-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'ttma-secretmode-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file with exactly this mode (writeFileSync's mode is masked by the umask). */
function file(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

function ttma(args: string[], env: NodeJS.ProcessEnv = {}): Promise<TtmaRun> {
  return runTtma(args, { env });
}

const BASE = ['gateway', '--public-host', 'gw.trycloudflare.com', '--platform-url', 'http://127.0.0.1:2', '--deployment-id', 'dep-modes', '--number', '+15550100000', '--workers', '1'];
const goodSecret = file('agent.secret', SECRET, 0o600);

test('the shared rule: owner-only passes, any group or other bit fails and says the mode', () => {
  for (const mode of [0o600, 0o400, 0o700]) assert.equal(sharedModeProblem(mode), null, mode.toString(8));
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660]) assert.match(sharedModeProblem(mode) ?? '', new RegExp(`mode 0${mode.toString(8)}`));
  const credentials = mkdtempSync(join(dir, 'creds-'));
  const loose = join(credentials, 'agent-secret');
  writeFileSync(loose, SECRET);
  chmodSync(loose, 0o440);
  assert.match(secretFileModeProblem(loose, {}) ?? '', /mode 0440/);
  assert.equal(secretFileModeProblem(loose, { CREDENTIALS_DIRECTORY: credentials }), null, 'systemd\'s credentials are taken as systemd makes them');
  assert.match(secretFileModeProblem(loose, { CREDENTIALS_DIRECTORY: `${credentials}-other` }) ?? '', /mode 0440/, 'a sibling directory is not the credentials directory');
});

test('ttma gateway refuses to start on a secret file readable by group or others, naming it and chmod 600', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const ports = ['--tunnel-port', String(tunnelPort), '--local-port', String(localPort)];
  const cases: Array<[string, string[]]> = [
    ['agentSecretFile', ['--agent-secret-file', file('world.secret', SECRET, 0o644)]],
    ['agentSecretFile', ['--agent-secret-file', file('group.secret', SECRET, 0o640)]],
    ['agent.keyFile', ['--agent-secret-file', goodSecret, '--agent', 'realtime', '--agent-key-file', file('agent.key', 'sk-key-canary-0123456789', 0o604)]],
    ['agent.openclawTokenFile', ['--agent-secret-file', goodSecret, '--agent', 'openclaw', '--openclaw-token-file', file('oc.token', 'oc-token-canary-0123456789', 0o660), '--stt-url', 'http://127.0.0.1:1', '--tts-url', 'http://127.0.0.1:1']],
  ];
  for (const [key, args] of cases) {
    for (const extra of [[], ['--print-config']]) {
      const run = await ttma([...BASE, ...ports, ...args, ...extra]);
      const path = args[args.length - 1 - (key === 'agent.openclawTokenFile' ? 4 : 0)]!;
      assert.equal(run.code, 2, `${key} ${extra.join(' ')}: ${run.stderr}`);
      assert.equal(run.stdout, '', 'never ready');
      assert.match(run.stderr, new RegExp(`TTMA_ERR_CONFIG: ${key.replace('.', '\\.')} ${path} \\(flag [^)]*\\) is readable or writable by group or others \\(mode 0\\d{3}\\).*run chmod 600 ${path}`));
      assert.ok(!run.stderr.includes(SECRET), 'the secret is never printed');
    }
  }
  // From the config file too, and the public webhook key may stay world-readable.
  const config = file('gw.json', JSON.stringify({ agentSecretFile: join(dir, 'world.secret'), webhookPublicKeyFile: file('webhook.pub', Buffer.alloc(32, 9).toString('base64'), 0o644) }), 0o600);
  const fromFile = await ttma([...BASE, ...ports, '--config', config, '--print-config']);
  assert.match(fromFile.stderr, /agentSecretFile \S+world\.secret \(file \S+\) is readable or writable by group or others \(mode 0644\)/);
  const ok = await ttma([...BASE, ...ports, '--agent-secret-file', goodSecret, '--webhook-public-key-file', join(dir, 'webhook.pub'), '--print-config']);
  assert.equal(ok.code, 0, ok.stderr);
  // A directory is named for what it is, not given chmod advice for its 0755.
  const directory = await ttma([...BASE, ...ports, '--agent-secret-file', dir, '--print-config']);
  assert.equal(directory.code, 2);
  assert.match(directory.stderr, /agentSecretFile \S+ \(flag --agent-secret-file\) is not a regular file: point it at the file holding the secret/);
});

test('ttma gateway takes systemd credentials as systemd makes them (0440 through an ACL on a user manager)', async () => {
  const credentials = join(dir, 'run-credentials');
  mkdirSync(credentials, { mode: 0o500 });
  const path = join(credentials, 'agent-secret');
  writeFileSync(path, SECRET);
  chmodSync(path, 0o440);
  const env = { CREDENTIALS_DIRECTORY: credentials };
  const run = await ttma([...BASE, '--tunnel-port', '8080', '--local-port', '8081', '--agent-secret-file', path, '--print-config'], env);
  assert.equal(run.code, 0, run.stderr);
  const byName = await ttma([...BASE, '--tunnel-port', '8080', '--local-port', '8081', '--agent-secret-file', 'credential:agent-secret', '--print-config'], env);
  assert.equal(byName.code, 0, byName.stderr);
  // The same file outside the credentials directory is refused.
  const outside = await ttma([...BASE, '--tunnel-port', '8080', '--local-port', '8081', '--agent-secret-file', path, '--print-config']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /mode 0440/);
});
