import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { runPlatformCommand } from '../../src/platform/cli.js';
import { isTtmaError } from '../../src/errors.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { startCli, type Running } from './cliProcess.js';
import { ADMIN_TOKEN, FakeProvider, PROVIDER_KEY, STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, signedHeaders } from './helpers.js';

const AGENT_SECRET = 'demo-agent-secret-0123456789-abcdefghij';

/** The platform's key files in `dir`: provider.key and admin.token (0600), webhook.pub. */
async function writeKeyFiles(dir: string, keyPair: nacl.SignKeyPair, adminTokenText = `${ADMIN_TOKEN}\n`): Promise<void> {
  await writeFile(join(dir, 'provider.key'), `${PROVIDER_KEY}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'admin.token'), adminTokenText, { mode: 0o600 });
  await writeFile(join(dir, 'webhook.pub'), `${Buffer.from(keyPair.publicKey).toString('base64')}\n`);
}

interface CliFixture {
  readonly providerUrl: string;
  readonly dir: string;
  readonly keyPair: nacl.SignKeyPair;
  /** Writes deployment.json: demo-1 on +15551230001 with `fields` added (agentSecret, caps...). */
  writeDeployment(fields: Record<string, unknown>): Promise<void>;
  /** The flags every run here passes: provider, its key, the webhook key, the admin token, the deployment file. */
  args(): string[];
}

/** For one describe block: a fake provider, and a directory holding the platform's key files (both gone after it). */
function useCliFixture(prefix: string, adminTokenText?: string): CliFixture {
  const provider = new FakeProvider();
  const fixture = { providerUrl: '', dir: '', keyPair: nacl.sign.keyPair() };
  before(async () => {
    fixture.providerUrl = await provider.start();
    fixture.dir = await mkdtemp(join(tmpdir(), prefix));
    await writeKeyFiles(fixture.dir, fixture.keyPair, adminTokenText);
  });
  after(async () => {
    await provider.stop();
    await rm(fixture.dir, { recursive: true, force: true });
  });
  return {
    get providerUrl() {
      return fixture.providerUrl;
    },
    get dir() {
      return fixture.dir;
    },
    keyPair: fixture.keyPair,
    writeDeployment: (fields) =>
      writeFile(
        join(fixture.dir, 'deployment.json'),
        JSON.stringify({ id: 'demo-1', numbers: ['+15551230001'], tunnelHost: 'demo.trycloudflare.com', ...fields }),
        { mode: 0o600 },
      ),
    args: () => [
      '--provider-url', fixture.providerUrl,
      '--provider-api-key-file', join(fixture.dir, 'provider.key'),
      '--webhook-public-key-file', join(fixture.dir, 'webhook.pub'),
      '--admin-token-file', join(fixture.dir, 'admin.token'),
      '--deployment-file', join(fixture.dir, 'deployment.json'),
    ],
  };
}

describe('ttma platform (cli)', () => {
  const fx = useCliFixture('ttma-platform-', `  ${ADMIN_TOKEN}\n`);

  before(async () => {
    await fx.writeDeployment({ agentSecret: AGENT_SECRET });
    await writeFile(join(fx.dir, 'loose.key'), PROVIDER_KEY);
    await chmod(join(fx.dir, 'loose.key'), 0o644);
  });

  it('starts, prints one ready line, serves, and stops cleanly on SIGTERM', async () => {
    const run = await startCli([...fx.args(), '--connection-id', 'conn-cli']);
    const base = `http://127.0.0.1:${run.port}`;
    assert.deepEqual((await call(base, 'GET', '/healthz')).body, { ok: true });
    // The deployment from the file authenticates (403: authenticated, but the call is not its own).
    const signal = await call(base, 'POST', PLATFORM_PATHS.hangup('v3:none'), { headers: agentHeaders('demo-1', AGENT_SECRET) });
    assert.equal(signal.status, 403);
    const body = envelope('call.initiated', { call_control_id: 'v3:cli-1', from: '+15550000001', to: '+15551230001', direction: 'incoming' });
    const hook = await call(base, 'POST', '/v1/provider/webhooks', { raw: body, headers: signedHeaders(fx.keyPair.secretKey, body) });
    assert.equal(hook.status, 200);
    const calls = await call(base, 'GET', '/v1/admin/calls', { headers: adminHeaders() });
    assert.equal(calls.body.calls[0].deployment_id, 'demo-1');
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0);
    assert.deepEqual(run.stdoutLines.map((l) => JSON.parse(l)), [{ event: 'ready', component: 'platform', port: run.port }]);
    for (const secret of [PROVIDER_KEY, ADMIN_TOKEN, AGENT_SECRET]) assert.ok(!run.stderr().includes(secret));
  });

  it('without a webhook key: starts, warns, refuses webhooks with 503; SIGINT exits 0', async () => {
    const run = await startCli(['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'loose.key'), '--port', '0']);
    const base = `http://127.0.0.1:${run.port}`;
    const body = envelope('call.initiated', { call_control_id: 'v3:cli-2', from: '+15550000001', to: '+15551230001', direction: 'incoming' });
    const hook = await call(base, 'POST', '/v1/provider/webhooks', { raw: body, headers: signedHeaders(fx.keyPair.secretKey, body) });
    assert.equal(hook.status, 503);
    assert.equal(hook.body.error.code, 'TTMA_ERR_WEBHOOK_NO_KEY');
    assert.match(run.stderr(), /no webhook public key configured/);
    assert.match(run.stderr(), /secret file is readable or writable by group or others \(mode 0644\): chmod 600 it/);
    run.child.kill('SIGINT');
    assert.equal(await run.exit, 0);
    assert.ok(!run.stderr().includes(PROVIDER_KEY));
  });

  it('refuses bad command lines and unreadable files with a clear error', async () => {
    const usage = async (argv: string[], pattern: RegExp, code = 'TTMA_ERR_CLI_USAGE'): Promise<void> => {
      await assert.rejects(runPlatformCommand(argv), (err: unknown) => {
        assert.ok(isTtmaError(err), String(err));
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
        return true;
      });
    };
    await usage(['--bogus'], /bogus/);
    await usage(['--provider-url', fx.providerUrl], /--provider-api-key-file is required/);
    await usage(['--provider-api-key-file', join(fx.dir, 'provider.key')], /--provider-url is required/);
    await usage(['--port', '70000', '--provider-url', fx.providerUrl, '--provider-api-key-file', 'x'], /--port/);
    await usage(['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'missing.key')], /cannot read/, 'TTMA_ERR_CONFIG');
    await usage(['--provider-api-key', PROVIDER_KEY], /provider-api-key/);
    const base = ['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'provider.key')];
    await usage([...base, '--call-retention-days', 'soon'], /callRetentionDays: wrong type: expected number, got "soon"; from flag --call-retention-days/, 'TTMA_ERR_CONFIG');
    await usage([...base, '--call-retention-max', '0'], /callRetentionMax: too small/, 'TTMA_ERR_CONFIG');
    await usage([...base, '--recording-origins', 'https://s3.amazonaws.com,http://storage.example'], /http:\/\/ only on the loopback/, 'TTMA_ERR_CONFIG');
    await usage([...base, '--recording-origins', 'https://s3.amazonaws.com/telnyx-recordings'], /no path/, 'TTMA_ERR_CONFIG');
    await usage(['--provider-url', fx.providerUrl, PROVIDER_KEY], /positional arguments are not accepted/);
    await assert.rejects(runPlatformCommand([PROVIDER_KEY]), (err: Error) => !err.message.includes(PROVIDER_KEY));
    await writeFile(join(fx.dir, 'bad-deployment.json'), JSON.stringify({ id: 'demo-2', numbers: ['+15551230002'], tunnelHost: 'evil.com', agentSecret: AGENT_SECRET }), { mode: 0o600 });
    await usage(
      ['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'provider.key'), '--deployment-file', join(fx.dir, 'bad-deployment.json')],
      /tunnelHost/,
      'TTMA_ERR_CONFIG',
    );
  });
});

describe('ttma platform (cli) with its own approved tunnel domains', () => {
  const fx = useCliFixture('ttma-platform-domains-');
  /** The fixture's flags without its deployment file (a trycloudflare.com host). */
  const baseArgs = () => fx.args().slice(0, -2);

  it('--approved-tunnel-domains: a named tunnel on the operator\'s zone registers; look-alikes and the replaced defaults are refused', async () => {
    const run = await startCli([...baseArgs(), '--approved-tunnel-domains', 'example.com, tunnels.example.net']);
    try {
      const base = `http://127.0.0.1:${run.port}`;
      let next = 1000;
      const register = (id: string, tunnelHost: string) =>
        call(base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: { id, numbers: [`+1555010${next++}`], tunnelHost } });
      const created = await register('walk-one', 'gw-walk.example.com');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await register('walk-two', 'gw.b.tunnels.example.net')).status, 201);
      for (const tunnelHost of ['gw.evil-example.com', 'gw.notexample.com', 'example.com', 'gw.example.com.evil.org', 'a.trycloudflare.com', 'gw.eviltunnels.example.net']) {
        const refused = await register('walk-evil', tunnelHost);
        assert.equal(refused.status, 400, tunnelHost);
        assert.match(refused.body.error.message, /under one of: example\.com, tunnels\.example\.net$/);
      }
      // The stream_url allowlist: only the registered host, never a look-alike of the zone.
      const headers = agentHeaders('walk-one', created.body.agentSecret as string);
      for (const host of ['gw-walk.evil-example.com', 'gw-walk.example.com.evil.org', 'other.example.com']) {
        const answer = await call(base, 'POST', PLATFORM_PATHS.answer('v3:walk-1'), { headers, body: { stream_url: `wss://${host}/v1/media/v3:walk-1`, stream_auth_token: STREAM_TOKEN } });
        assert.equal(answer.status, 400, host);
        assert.equal(answer.body.error.code, 'TTMA_ERR_STREAM_HOST', host);
      }
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });

  it('TTMA_APPROVED_TUNNEL_DOMAINS sets it too; a single label, a public suffix, a wildcard or a scheme is refused at start, named', async () => {
    const run = await startCli(baseArgs(), { TTMA_APPROVED_TUNNEL_DOMAINS: 'tunnels.example.net' });
    try {
      const base = `http://127.0.0.1:${run.port}`;
      const body = { id: 'env-one', numbers: ['+15550109999'], tunnelHost: 'gw.tunnels.example.net' };
      assert.equal((await call(base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body })).status, 201);
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
    for (const [value, why] of [
      ['com', /approvedTunnelDomains\[0\]: a single label/],
      ['example.com,co.uk', /approvedTunnelDomains\[1\]: a public suffix/],
      ['*.example.com', /approvedTunnelDomains\[0\]: not a lowercase DNS name/],
      ['https://example.com', /approvedTunnelDomains\[0\]: not a lowercase DNS name/],
      ['Example.com', /approvedTunnelDomains\[0\]: not a lowercase DNS name/],
    ] as const) {
      await assert.rejects(runPlatformCommand([...baseArgs(), '--approved-tunnel-domains', value]), (err: unknown) => {
        assert.ok(isTtmaError(err), String(err));
        assert.equal(err.code, 'TTMA_ERR_CONFIG');
        assert.match(err.message, why);
        assert.match(err.message, /from flag --approved-tunnel-domains/);
        return true;
      }, value);
    }
  });
});

describe('ttma platform (cli) restarted on the same Redis', { skip: redisUnavailable() }, () => {
  const fx = useCliFixture('ttma-platform-redis-');
  let redis: RedisServer | undefined;

  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    await redis?.stop();
  });

  const writeDeployment = (agentSecret: string, dayMinutes: number) => fx.writeDeployment({ agentSecret, caps: { dayMinutes, monthMinutes: 1000 } });
  const run = () => startCli([...fx.args(), '--redis-url', redis!.url]);
  const stop = async (running: Running) => {
    running.child.kill('SIGTERM');
    assert.equal(await running.exit, 0, running.stderr());
  };

  it('keeps deployments and call owners; the deployment file is applied again, its new secret replacing the old', async () => {
    await writeDeployment(AGENT_SECRET, 10);
    const first = await run();
    let base = `http://127.0.0.1:${first.port}`;
    const created = await call(base, 'POST', '/v1/admin/deployments', {
      headers: adminHeaders(),
      body: { id: 'late-1', numbers: ['+15551230077'], tunnelHost: 'late.trycloudflare.com' },
    });
    assert.equal(created.status, 201);
    const lateSecret = created.body.agentSecret as string;
    const body = envelope('call.initiated', { call_control_id: 'v3:cli-redis-1', from: '+15550000001', to: '+15551230001', direction: 'incoming' });
    assert.equal((await call(base, 'POST', '/v1/provider/webhooks', { raw: body, headers: signedHeaders(fx.keyPair.secretKey, body) })).status, 200);
    await stop(first);

    const rotated = `${AGENT_SECRET}-rotated`;
    await writeDeployment(rotated, 20);
    const second = await run();
    base = `http://127.0.0.1:${second.port}`;
    assert.match(second.stderr(), /"outcome":"updated"/);
    // The file's new secret and caps apply; the old secret no longer authenticates.
    const usage = await call(base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders('demo-1', rotated) });
    assert.equal(usage.status, 200);
    assert.equal(usage.body.caps.day_minutes, 20);
    assert.equal((await call(base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders('demo-1', AGENT_SECRET) })).status, 401);
    // The deployment made through the API in the first run is still there, and the call is still demo-1's.
    assert.equal((await call(base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders('late-1', lateSecret) })).status, 200);
    const stolen = await call(base, 'POST', PLATFORM_PATHS.hangup('v3:cli-redis-1'), { headers: agentHeaders('late-1', lateSecret), body: {} });
    assert.equal(stolen.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');
    const history = await call(base, 'GET', '/v1/admin/history.json', { headers: adminHeaders() });
    assert.deepEqual(history.body.calls.map((c: { call_control_id: string; deployment_id: string }) => [c.call_control_id, c.deployment_id]), [['v3:cli-redis-1', 'demo-1']]);
    await stop(second);
    for (const secret of [PROVIDER_KEY, ADMIN_TOKEN, AGENT_SECRET, rotated, lateSecret]) assert.ok(!second.stderr().includes(secret) && !first.stderr().includes(secret));
  });
});

describe('ttma platform (cli) with --state-dir: killed, then started again', () => {
  const fx = useCliFixture('ttma-platform-state-');

  before(() => fx.writeDeployment({ agentSecret: AGENT_SECRET, caps: { dayMinutes: 1, monthMinutes: 1000 } }));

  const run = () => startCli([...fx.args(), '--state-dir', join(fx.dir, 'state')]);
  const dial = (base: string) =>
    call(base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders('demo-1', AGENT_SECRET),
      body: { to: '+15557654321', stream_url: `wss://demo.trycloudflare.com/v1/media/state-${Date.now()}`, stream_auth_token: 'A'.repeat(43) },
    });

  it('a second process on the directory is refused; after a SIGKILL the next one has the deployments, the calls and the minutes used', async () => {
    const first = await run();
    let base = `http://127.0.0.1:${first.port}`;
    assert.match(first.stderr(), /"store":"embedded, journaled"/);
    const created = await call(base, 'POST', '/v1/admin/deployments', {
      headers: adminHeaders(),
      body: { id: 'late-1', numbers: ['+15551230077'], tunnelHost: 'late.trycloudflare.com' },
    });
    assert.equal(created.status, 201);
    const lateSecret = created.body.agentSecret as string;
    const dialled = await dial(base);
    assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
    const callId = dialled.body.call_control_id as string;
    // The day's cap is 1 minute: the call's first unit took it.
    assert.equal((await dial(base)).body.error.code, 'TTMA_ERR_CAP_REACHED');

    // One process per state directory.
    await assert.rejects(run(), /in use by another platform process/);

    // A crash: no stop, no flush at exit.
    first.child.kill('SIGKILL');
    await first.exit;
    const second = await run();
    base = `http://127.0.0.1:${second.port}`;
    assert.equal((await call(base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders('late-1', lateSecret) })).status, 200, 'a deployment made through the API');
    const refused = await dial(base);
    assert.equal(refused.body.error.code, 'TTMA_ERR_CAP_REACHED', 'the minute used before the crash still counts');
    const history = await call(base, 'GET', '/v1/admin/history.json', { headers: adminHeaders() });
    assert.deepEqual(history.body.calls.map((c: { call_control_id: string; deployment_id: string }) => [c.call_control_id, c.deployment_id]), [[callId, 'demo-1']]);
    second.child.kill('SIGTERM');
    assert.equal(await second.exit, 0, second.stderr());
    for (const secret of [PROVIDER_KEY, ADMIN_TOKEN, AGENT_SECRET, lateSecret]) assert.ok(!second.stderr().includes(secret) && !first.stderr().includes(secret));
  });

  it('takes the directory systemd made for the unit ($STATE_DIRECTORY) when no --state-dir is given', async () => {
    const unitDir = join(fx.dir, 'systemd-state');
    const running = await startCli(['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'provider.key')], { STATE_DIRECTORY: unitDir });
    assert.ok(running.stderr().includes(JSON.stringify(join(unitDir, 'state.jsonl'))), running.stderr());
    running.child.kill('SIGTERM');
    assert.equal(await running.exit, 0);
  });

  it('without Redis or a state directory, it says at start that everything is forgotten at a stop', async () => {
    const bare = await startCli(['--provider-url', fx.providerUrl, '--provider-api-key-file', join(fx.dir, 'provider.key')], { STATE_DIRECTORY: '' });
    assert.match(bare.stderr(), /embedded store in memory only/);
    bare.child.kill('SIGTERM');
    assert.equal(await bare.exit, 0);
  });
});
