/**
 * `ttma platform --provider-api-key-secret`: the key comes from Secret Manager
 * (the simulator, reached through --secret-manager-url and GCE_METADATA_HOST)
 * at start, the platform dials with it, and it appears in no log line; a
 * refusing or corrupt vault stops the start with its code, before the ready
 * line; a file and a secret together, or neither, is a usage error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { runPlatformCommand } from '../../src/platform/cli.js';
import { SecretManagerSimulator } from '../../src/sim/SecretManagerSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { startCli } from './cliProcess.js';
import { FakeProvider, PROVIDER_KEY, STREAM_TOKEN, agentHeaders, call } from './helpers.js';

const SECRET = 'provider-api-key';
const AGENT_SECRET = 'vault-agent-secret-0123456789-abcdefghij';

describe('ttma platform (cli) with the provider key in Secret Manager', () => {
  const sim = new SecretManagerSimulator();
  const provider = new FakeProvider();
  let vaultFlags: string[] = [];
  let env: Record<string, string> = {};
  let providerUrl = '';
  let dir = '';

  before(async () => {
    providerUrl = await provider.start();
    const { url, metadataHost } = await sim.start();
    vaultFlags = ['--provider-url', providerUrl, '--provider-api-key-secret', `projects/${sim.projectId}/secrets/${SECRET}`, '--secret-manager-url', url];
    env = { GCE_METADATA_HOST: metadataHost };
    dir = await mkdtemp(join(tmpdir(), 'ttma-platform-vault-'));
    await writeFile(join(dir, 'provider.key'), `${PROVIDER_KEY}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'deployment.json'), JSON.stringify({ id: 'vault-1', numbers: ['+15551230009'], tunnelHost: 'vault.trycloudflare.com', agentSecret: AGENT_SECRET }), { mode: 0o600 });
  });
  after(async () => {
    await provider.stop();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches the key at start, dials with it, logs its version and never the key', async () => {
    sim.addVersion(SECRET, `${PROVIDER_KEY}\n`);
    const run = await startCli([...vaultFlags, '--deployment-file', join(dir, 'deployment.json'), '--state-dir', join(dir, 'state')], env);
    const base = `http://127.0.0.1:${run.port}`;
    const dial = await call(base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('vault-1', AGENT_SECRET),
      body: { to: '+15551234567', stream_url: 'wss://vault.trycloudflare.com/v1/media/vault-cli-abcdefgh', stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dial.status, 200, JSON.stringify(dial.body));
    assert.equal(provider.requests.at(-1)!.authorization, `Bearer ${PROVIDER_KEY}`);
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0, run.stderr());
    assert.match(run.stderr(), /"version":"projects\/123456789012\/secrets\/provider-api-key\/versions\/1".*"msg":"provider API key fetched from Secret Manager/);
    for (const secret of [PROVIDER_KEY, PROVIDER_KEY.slice(3, 25), AGENT_SECRET]) assert.ok(!run.stderr().includes(secret));
    assert.ok(!JSON.stringify(sim.requests).includes(PROVIDER_KEY), 'the key is never sent to the vault');
  });

  it('does not start when the vault refuses or answers a corrupt payload: its code, before the ready line, without the key', async () => {
    const refusedStart = async (pattern: RegExp) => {
      await assert.rejects(startCli(vaultFlags, env), (err: Error) => {
        assert.match(err.message, /exited 1 before ready/);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes(PROVIDER_KEY), err.message);
        return true;
      });
    };
    sim.allowed = false;
    await refusedStart(/Secret Manager refused: HTTP 403 PERMISSION_DENIED[\s\S]*TTMA_ERR_VAULT_REFUSED/);
    sim.allowed = true;
    sim.tamper = (a) => ({ ...a, payload: { ...a.payload, dataCrc32c: '7' } });
    await refusedStart(/CRC32C mismatch[\s\S]*TTMA_ERR_VAULT_PAYLOAD/);
    sim.tamper = null;
  });

  it('a file and a secret, neither, or a plain-http vault elsewhere is refused before any request', async () => {
    const usage = async (argv: string[], code: string, pattern: RegExp) => {
      const before = sim.requests.length;
      await assert.rejects(runPlatformCommand(argv), (err: unknown) => isTtmaError(err) && err.code === code && pattern.test(err.message));
      assert.equal(sim.requests.length, before);
    };
    await usage([...vaultFlags, '--provider-api-key-file', join(dir, 'provider.key')], ErrorCodes.CLI_USAGE, /two sources: a file \(flag --provider-api-key-file\) and Secret Manager \(providerApiKeySecret, flag --provider-api-key-secret\); give exactly one/);
    await usage(['--provider-url', providerUrl], ErrorCodes.CLI_USAGE, /--provider-api-key-file is required .* or instead --provider-api-key-secret/);
    await usage([...vaultFlags, '--secret-manager-url', 'http://secretmanager.example'], ErrorCodes.CONFIG, /secretManagerUrl: must be https/);
    await usage([...vaultFlags, '--provider-api-key-refresh-sec', '5'], ErrorCodes.CONFIG, /providerApiKeyRefreshSec: too small/);
  });
});
