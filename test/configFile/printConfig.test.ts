/**
 * `ttma gateway --print-config` and `ttma platform --print-config`, run as
 * the real CLI in a child process: the effective configuration as JSON,
 * every secret "[redacted]" and its value nowhere in stdout or stderr, a bad
 * configuration refused with one line per key. The command lines of the
 * systemd units (shipped and rendered by the installer) still load.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePorts, startTtma, stopChild } from '../../src/cli/processes.js';
import { renderGatewayUnit } from '../../src/installer/renderUnits.js';
import { runTtma, type TtmaRun } from '../helpers/runTtma.js';

const UNIT_DIR = fileURLToPath(new URL('../../../systemd/', import.meta.url));
const AGENT_SECRET = 'gw-agent-secret-canary-0123456789abcdefABCDEF';
const CRED_AGENT_SECRET = 'credential-agent-secret-canary-9876543210zyx';
const WEBHOOK_KEY = Buffer.alloc(32, 9).toString('base64');
const AGENT_KEY = 'sk-agent-key-canary-00112233445566778899';
const ENV_SECRET = 'env-inline-secret-canary-13579246801357';
const PROVIDER_KEY = 'KEY-provider-canary-0123456789abcdefghij';
const ADMIN_TOKEN = 'admin-token-canary-0123456789abcdef';
const REDIS_PASSWORD = 'redis-password-canary-24680';
const ALL_SECRETS = [AGENT_SECRET, CRED_AGENT_SECRET, AGENT_KEY, ENV_SECRET, PROVIDER_KEY, ADMIN_TOKEN, REDIS_PASSWORD];


/** One bounded run of the CLI; no shell. */
function ttma(args: string[], env: NodeJS.ProcessEnv = {}): Promise<TtmaRun> {
  return runTtma(args, { env });
}

function assertNoSecret(run: TtmaRun): void {
  for (const secret of ALL_SECRETS) {
    assert.ok(!run.stdout.includes(secret), `stdout carries a secret (${secret.slice(0, 8)}…)`);
    assert.ok(!run.stderr.includes(secret), `stderr carries a secret (${secret.slice(0, 8)}…)`);
  }
}

describe('--print-config (the real CLI)', () => {
  let dir = '';
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const gatewayFile = () => ({
    publicHost: 'gw.trycloudflare.com',
    platformUrl: 'https://platform.example.com',
    deploymentId: 'print-1',
    numbers: ['+15550100000'],
    agentSecretFile: join(dir, 'agent.secret'),
    tunnelPort: 9300,
    agent: { kind: 'realtime', keyFile: join(dir, 'agent.key') },
  });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-print-'));
    file('agent.secret', `${AGENT_SECRET}\n`);
    file('agent.key', AGENT_KEY);
    file('provider.key', PROVIDER_KEY);
    file('admin.token', ADMIN_TOKEN);
    file('webhook.pub', WEBHOOK_KEY);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gateway: prints the effective config as JSON, secrets redacted, and exits 0; its "config" is itself a valid config file', async () => {
    const path = file('gw.json', JSON.stringify(gatewayFile()));
    const run = await ttma(['gateway', '--config', path, '--print-config', '--local-port', '9301'], { TTMA_MAX_CALLS: '77' });
    assert.equal(run.code, 0, run.stderr);
    assertNoSecret(run);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.command, 'gateway');
    assert.equal(printed.config.tunnelPort, 9300);
    assert.equal(printed.sources.tunnelPort, `file ${path}`);
    assert.equal(printed.config.localPort, 9301);
    assert.equal(printed.sources.localPort, 'flag --local-port');
    assert.equal(printed.config.maxCalls, 77);
    assert.equal(printed.sources.maxCalls, 'env TTMA_MAX_CALLS');
    assert.equal(printed.sources.codec, 'default');
    assert.deepEqual(printed.secrets.agentSecret, { file: join(dir, 'agent.secret'), origin: `file ${path}`, value: '[redacted]' });
    assert.equal(printed.secrets.agentKey.value, '[redacted]');
    assert.equal(printed.secrets.webhookPublicKey.value, null);
    // Round trip: the printed config, as a file, gives the same effective config.
    const again = await ttma(['gateway', '--config', file('printed.json', JSON.stringify(printed.config)), '--print-config']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).config, printed.config);
  });

  it('gateway: a secret from the systemd credentials directory is read and redacted; a secret in the environment is ignored with a warning naming only the variable', async () => {
    const { agentSecretFile: _unset, ...rest } = gatewayFile();
    const credentials = mkdtempSync(join(dir, 'creds-'));
    writeFileSync(join(credentials, 'agent-secret'), CRED_AGENT_SECRET, { mode: 0o400 });
    writeFileSync(join(credentials, 'webhook-public-key'), WEBHOOK_KEY, { mode: 0o400 });
    const run = await ttma(['gateway', '--config', file('creds.json', JSON.stringify(rest)), '--print-config'], {
      CREDENTIALS_DIRECTORY: credentials,
      TTMA_AGENT_SECRET: ENV_SECRET,
    });
    assert.equal(run.code, 0, run.stderr);
    assertNoSecret(run);
    const printed = JSON.parse(run.stdout);
    assert.deepEqual(printed.secrets.agentSecret, { file: join(credentials, 'agent-secret'), origin: 'systemd credential agent-secret', value: '[redacted]' });
    assert.equal(printed.secrets.webhookPublicKey.value, '[redacted]');
    assert.equal(printed.config.agentSecretFile, join(credentials, 'agent-secret'));
    assert.match(run.stderr, /TTMA_AGENT_SECRET/);
    assert.match(run.stderr, /secret values in the environment are ignored/);
  });

  it('gateway: a bad configuration exits 2 with one line per bad key on stderr and nothing on stdout', async () => {
    const bad = { ...gatewayFile(), tunnelPort: 'x', workers: 0, unknownKey: true };
    const run = await ttma(['gateway', '--config', file('bad.json', JSON.stringify(bad)), '--print-config']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /TTMA_ERR_CONFIG: 3 configuration problems/);
    assert.match(run.stderr, /- tunnelPort: wrong type: expected number, got "x"/);
    assert.match(run.stderr, /- workers: too small: expected >= 1, got 0/);
    assert.match(run.stderr, /- unknownKey: unknown key/);
    const semantic = await ttma(['gateway', '--config', file('loopback.json', JSON.stringify({ ...gatewayFile(), host: '0.0.0.0', deploymentId: 'X' })), '--print-config']);
    assert.equal(semantic.code, 1);
    assert.match(semantic.stderr, /config host: "0\.0\.0\.0" is not a loopback address/);
    assert.match(semantic.stderr, /config deploymentId: invalid deployment id "X"/);
    assertNoSecret(semantic);
  });

  it('gateway: an inline secret in the file is refused, its value never printed', async () => {
    const run = await ttma(['gateway', '--config', file('inline.json', JSON.stringify({ ...gatewayFile(), agentSecret: AGENT_SECRET })), '--print-config']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /agentSecret: a secret may not be written in the config file.*agentSecretFile/);
    assertNoSecret(run);
  });

  it('platform: prints its effective config with the provider key, admin token and Redis password redacted', async () => {
    const path = file('platform.json', JSON.stringify({ providerUrl: 'https://api.telnyx.com/v2', providerApiKeyFile: join(dir, 'provider.key'), adminTokenFile: join(dir, 'admin.token'), port: 8090 }));
    const run = await ttma(['platform', '--config', path, '--print-config', '--webhook-public-key-file', join(dir, 'webhook.pub')], {
      REDIS_URL: `redis://default:${REDIS_PASSWORD}@127.0.0.1:6379/0`,
      TTMA_PORT: '8091',
    });
    assert.equal(run.code, 0, run.stderr);
    assertNoSecret(run);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.command, 'platform');
    assert.equal(printed.config.port, 8091);
    assert.equal(printed.sources.port, 'env TTMA_PORT');
    assert.equal(printed.config.redisUrl, 'redis://default:redacted@127.0.0.1:6379/0');
    assert.equal(printed.sources.redisUrl, 'env REDIS_URL');
    assert.equal(printed.secrets.providerApiKey.value, '[redacted]');
    assert.equal(printed.secrets.adminToken.value, '[redacted]');
    assert.equal(printed.secrets.webhookPublicKey.origin, 'flag --webhook-public-key-file');
    const inline = await ttma(['platform', '--config', file('platform-inline.json', JSON.stringify({ providerUrl: 'https://api.telnyx.com/v2', providerApiKey: PROVIDER_KEY })), '--print-config']);
    assert.equal(inline.code, 2);
    assert.match(inline.stderr, /providerApiKey: a secret may not be written in the config file.*providerApiKeyFile/);
    assertNoSecret(inline);
  });

  it('ttma doctor --config checks the same file: secret-files and config come from it', async () => {
    const path = file('doctor.json', JSON.stringify({ ...gatewayFile(), webhookPublicKeyFile: join(dir, 'webhook.pub'), tunnelPort: 0, localPort: 0, platformUrl: 'http://127.0.0.1:2' }));
    const run = await ttma(['doctor', '--config', path, '--json']);
    assertNoSecret(run);
    const report = JSON.parse(run.stdout) as { checks: Array<{ check: string; ok: boolean; message: string }> };
    const byName = new Map(report.checks.map((c) => [c.check, c]));
    assert.equal(byName.get('config')?.ok, true, byName.get('config')?.message);
    assert.match(byName.get('config')!.message, /deployment print-1/);
    assert.equal(byName.get('webhook-key')?.ok, true, byName.get('webhook-key')?.message);
    assert.ok(byName.get('secret-files')!.message.includes(join(dir, 'agent.secret')), byName.get('secret-files')!.message);
    const bad = await ttma(['doctor', '--config', file('doctor-bad.json', JSON.stringify({ ...gatewayFile(), host: '0.0.0.0' })), '--json']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /config host: \\"0\.0\.0\.0\\" is not a loopback address/);
  });

  it('gateway: without an agent secret anywhere, --print-config exits 2 naming every place it may come from', async () => {
    const { agentSecretFile: _unset, ...rest } = gatewayFile();
    const run = await ttma(['gateway', '--config', file('nosecret.json', JSON.stringify(rest)), '--print-config']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /agentSecretFile: not configured.*--agent-secret-file, TTMA_AGENT_SECRET_FILE, or pass the systemd credential "agent-secret"/);
  });

  it('a real platform and gateway run from config files alone: ports, admin token and agent secret come from them', async () => {
    const [platformPort, tunnelPort, localPort] = (await freePorts(3)) as [number, number, number];
    const platformConfig = file('run-platform.json', JSON.stringify({ port: platformPort, providerUrl: 'http://127.0.0.1:9', providerApiKeyFile: join(dir, 'provider.key'), adminTokenFile: join(dir, 'admin.token'), logLevel: 'warn' }));
    const platform = await startTtma('platform', ['platform', '--config', platformConfig], join(dir, 'platform.log'));
    try {
      assert.equal(platform.ready['port'], platformPort);
      const history = await fetch(`http://127.0.0.1:${platformPort}/v1/admin/history.json`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(history.status, 200, 'the admin token from adminTokenFile works');
      assert.equal((await fetch(`http://127.0.0.1:${platformPort}/v1/admin/history.json`)).status, 401);
      const gatewayConfig = file('run-gateway.json', JSON.stringify({ ...gatewayFile(), agent: { kind: 'echo' }, tunnelPort, localPort, workers: 1, platformUrl: `http://127.0.0.1:${platformPort}`, logLevel: 'warn' }));
      const gateway = await startTtma('gateway', ['gateway', '--config', gatewayConfig], join(dir, 'gateway.log'));
      try {
        assert.equal(gateway.ready['tunnelPort'], tunnelPort);
        assert.equal(gateway.ready['localPort'], localPort);
        assert.equal(gateway.ready['workers'], 1);
        assert.equal((await fetch(`http://127.0.0.1:${localPort}/healthz`)).status, 200);
      } finally {
        assert.equal(await stopChild(gateway), 0);
      }
    } finally {
      assert.equal(await stopChild(platform), 0);
    }
    for (const log of ['platform.log', 'gateway.log']) {
      const text = readFileSync(join(dir, log), 'utf8');
      for (const secret of ALL_SECRETS) assert.ok(!text.includes(secret), `${log} carries a secret`);
    }
  });

  it('the command lines of the shipped and the installer-rendered systemd units still load (flags and %d credentials)', async () => {
    const credentials = mkdtempSync(join(dir, 'unit-creds-'));
    for (const [name, value] of [['agent-secret', CRED_AGENT_SECRET], ['webhook-public-key', WEBHOOK_KEY], ['provider-api-key', PROVIDER_KEY], ['admin-token', ADMIN_TOKEN]] as const) {
      writeFileSync(join(credentials, name), value, { mode: 0o400 });
    }
    const argsOf = (unitText: string, command: string): string[] => {
      const exec = /^ExecStart=(.*)$/m.exec(unitText)![1]!.split(' ').map((a) => a.replaceAll('%d', credentials));
      return exec.slice(exec.indexOf(command));
    };
    const rendered = await renderGatewayUnit({
      payload: {
        deploymentId: 'dep-units', platformUrl: 'https://platform.example.com', publicHost: 'gw.trycloudflare.com', numbers: ['+15550100000', '+15550100001'],
        webhookPublicKey: WEBHOOK_KEY, agentSecret: 'x'.repeat(43), tunnelCredentialsRef: 'tunnel-1',
        gatewayBundle: { url: 'https://p.example.com/g', sha256: '0'.repeat(64) }, skillBundle: { url: 'https://p.example.com/s', sha256: '0'.repeat(64) },
        gatewayVersion: '0.1.0', expiresAt: 0,
      },
      dir: join(dir, 'install'), workspace: join(dir, 'ws'), user: 'openclaw', nodePath: process.execPath, cloudflaredPath: process.execPath, tunnelPort: 8080, localPort: 8081,
    });
    for (const [unit, command] of [
      [readFileSync(join(UNIT_DIR, 'ttma-gateway.service'), 'utf8'), 'gateway'],
      [rendered, 'gateway'],
      [readFileSync(join(UNIT_DIR, 'ttma-platform.service'), 'utf8'), 'platform'],
    ] as const) {
      const run = await ttma([...argsOf(unit, command), '--print-config']);
      assert.equal(run.code, 0, `${command}: ${run.stderr}`);
      assertNoSecret(run);
      const printed = JSON.parse(run.stdout);
      for (const secret of Object.values(printed.secrets) as Array<{ file: string | null; value: string | null }>) {
        if (secret.file) assert.equal(secret.value, '[redacted]');
      }
      if (command === 'gateway') {
        assert.equal(printed.config.tunnelPort, 8080);
        assert.equal(printed.sources.tunnelPort, 'flag --tunnel-port');
        assert.equal(printed.secrets.agentSecret.file, join(credentials, 'agent-secret'));
      } else {
        assert.equal(printed.config.port, 8090);
        assert.equal(printed.secrets.adminToken.file, join(credentials, 'admin-token'));
      }
    }
  });
});
