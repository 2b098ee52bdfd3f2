/**
 * A platform on a port fetch never connects to (the Fetch standard's blocked ports) is refused
 * up front, with one check shared by the platform, the gateway, doctor and the installer:
 * `ttma platform` does not listen there, a gateway's or doctor's platform URL naming one fails
 * its config check (before, undici's bare "bad port" at the first request).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultGatewayConfig, validateGatewayConfig } from '../../src/config.js';
import { isTtmaError } from '../../src/errors.js';
import { FETCH_BLOCKED_PORTS } from '../../src/wire/fetchBlockedPorts.js';
import { runTtma } from '../helpers/runTtma.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ttma-badport-'));
  await writeFile(join(dir, 'agent-secret'), `${'s'.repeat(43)}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'provider.key'), 'k'.repeat(24), { mode: 0o600 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("the list is the one Node's fetch applies: each listed port fails with undici's \"bad port\", before any connection", async () => {
  for (const port of FETCH_BLOCKED_PORTS) {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), (err: { cause?: { message?: unknown } }) => err.cause?.message === 'bad port', String(port));
  }
});

test('ttma platform --port 6000 (or 10080 from the environment) refuses to start, naming the key and why', async () => {
  for (const [args, env, source] of [
    [['--port', '6000'], {}, 'flag --port'],
    [[], { TTMA_PORT: '10080' }, 'env TTMA_PORT'],
  ] as const) {
    const run = await runTtma(['platform', ...args, '--provider-url', 'http://127.0.0.1:9', '--provider-api-key-file', join(dir, 'provider.key')], { env: { HOME: dir, ...env } });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /port: port \d+ is one that fetch refuses to connect to .*could not reach the platform; choose another, got \d+; from /);
    assert.ok(run.stderr.includes(`from ${source}`), run.stderr);
    assert.equal(run.stdout, '', 'no ready line: it never listened');
  }
  const url = await runTtma(['platform', '--public-url', 'http://127.0.0.1:6000', '--provider-url', 'http://127.0.0.1:9', '--provider-api-key-file', join(dir, 'provider.key')], { env: { HOME: dir } });
  assert.equal(url.code, 2, url.stderr);
  assert.match(url.stderr, /publicUrl: port 6000 is one that fetch refuses to connect to/);
});

test("the gateway's validation refuses a platform URL on a blocked port; other ports pass", () => {
  const good = { ...defaultGatewayConfig(), publicHost: 'gw.trycloudflare.com', deploymentId: 'demo', agentSecret: 'x'.repeat(32), numbers: ['+15550100000'] };
  for (const platformUrl of ['http://127.0.0.1:6000', 'https://platform.example.com:10080/base', 'http://localhost:1']) {
    assert.throws(
      () => validateGatewayConfig({ ...good, platformUrl }),
      (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /config platformUrl: port \d+ is one that fetch refuses to connect to/.test(err.message),
      platformUrl,
    );
  }
  for (const platformUrl of ['http://127.0.0.1:8090', 'https://platform.example.com', 'https://platform.example.com:8443']) {
    assert.doesNotThrow(() => validateGatewayConfig({ ...good, platformUrl }), platformUrl);
  }
});

test('ttma doctor: a platform URL on a blocked port fails the config check, saying so', async () => {
  const run = await runTtma([
    'doctor', '--json', '--tunnel-port', '18411', '--local-port', '18412', '--platform-url', 'http://127.0.0.1:6000',
    '--public-host', 'gw.trycloudflare.com', '--deployment-id', 'demo-1', '--number', '+15550100000', '--agent-secret-file', join(dir, 'agent-secret'),
  ], { env: { HOME: dir } });
  assert.equal(run.code, 1, run.stderr);
  const config = (JSON.parse(run.stdout) as { checks: { check: string; ok: boolean; message: string }[] }).checks.find((c) => c.check === 'config');
  assert.equal(config?.ok, false);
  assert.match(config!.message, /config platformUrl: port 6000 is one that fetch refuses to connect to/);
});
