/**
 * A gateway started (or checked by doctor) without its required settings says, for each, which
 * flag, config key or environment variable gives it (the real CLI as a child process).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runTtma } from '../helpers/runTtma.js';

let dir: string;
let secretFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ttma-required-'));
  secretFile = join(dir, 'agent-secret');
  await writeFile(secretFile, `${'s'.repeat(43)}\n`, { mode: 0o600 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXPECTED = [
  'config publicHost: not set: pass --public-host <host> (or publicHost in the config file, or TTMA_PUBLIC_HOST)',
  'config platformUrl: not set: pass --platform-url <url> (or platformUrl in the config file, or TTMA_PLATFORM_URL)',
  'config deploymentId: not set: pass --deployment-id <id> (or deploymentId in the config file, or TTMA_DEPLOYMENT_ID)',
  'config numbers: at least one E.164 number is required: pass --number +E164 (once per number) (or numbers in the config file, or TTMA_NUMBERS, comma-separated)',
];

test('ttma gateway with only its agent secret: every missing required setting is listed with where to give it, exit 1', async () => {
  const run = await runTtma(['gateway', '--agent-secret-file', secretFile, '--tunnel-port', '0', '--local-port', '0'], { env: { HOME: dir } });
  assert.equal(run.code, 1, run.stderr);
  for (const line of EXPECTED) assert.ok(run.stderr.includes(line), `${line}\nin: ${run.stderr}`);
  // Before, an unset value read as a bad one: 'must be the registered tunnel hostname, got ""'.
  assert.ok(!run.stderr.includes('got ""'), run.stderr);
});

test('ttma gateway with no settings at all: the missing agent secret and every other missing setting in one error, exit 2', async () => {
  const run = await runTtma(['gateway', '--tunnel-port', '0', '--local-port', '0'], { env: { HOME: dir } });
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /agentSecretFile: not configured.*--agent-secret-file, TTMA_AGENT_SECRET_FILE, or pass the systemd credential "agent-secret"/);
  // Before, only the agent secret was named; the other four came on the next run.
  for (const line of EXPECTED) assert.ok(run.stderr.includes(line), `${line}\nin: ${run.stderr}`);
  assert.ok(!run.stderr.includes('config agentSecret:'), run.stderr);
});

test('ttma doctor names the same flags in its config check', async () => {
  const run = await runTtma(['doctor', '--agent-secret-file', secretFile, '--json'], { env: { HOME: dir } });
  assert.equal(run.code, 1, run.stderr);
  const config = (JSON.parse(run.stdout) as { checks: { check: string; message: string }[] }).checks.find((c) => c.check === 'config');
  for (const flag of ['--public-host', '--platform-url', '--deployment-id', '--number']) assert.ok(config?.message.includes(`pass ${flag} `), `${flag}: ${config?.message}`);
});
