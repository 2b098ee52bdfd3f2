/**
 * The unit files under systemd-analyze (systemd 252 on Debian 12 here):
 * overall exposure at most 1.5 for each unit, `verify` silent, the
 * hardening the issue lists present, secrets only by LoadCredential=.
 * Also the units `ttma install` renders for a deployment.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderGatewayUnit, renderTunnelUnit, type UnitInputs } from '../../src/installer/renderUnits.js';

const UNIT_DIR = fileURLToPath(new URL('../../../systemd/', import.meta.url));
const MAX_EXPOSURE = 1.5;
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = analyze.status === 0 ? undefined : 'systemd-analyze is not installed (apt-get install systemd)';

function exposure(path: string): number {
  const run = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', path], { encoding: 'utf8' });
  const match = /Overall exposure level for \S+: (\d+\.\d)/.exec(run.stdout);
  assert.ok(match, `no exposure figure in: ${run.stdout.slice(-300)} ${run.stderr}`);
  return Number(match[1]);
}

function verifyStderr(path: string): string {
  return spawnSync('systemd-analyze', ['verify', '--no-pager', path], { encoding: 'utf8' }).stderr;
}

const REQUIRED = [
  'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'PrivateDevices=yes', 'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes', 'ProtectKernelLogs=yes', 'ProtectControlGroups=yes', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
  'RestrictNamespaces=yes', 'LockPersonality=yes', 'RestrictRealtime=yes', 'RestrictSUIDSGID=yes', 'SystemCallFilter=@system-service',
  'SystemCallErrorNumber=EPERM', 'SystemCallArchitectures=native', 'CapabilityBoundingSet=', 'LimitCORE=0', 'UMask=0077',
];

for (const unit of ['ttma-gateway.service', 'ttma-tunnel.service', 'ttma-platform.service']) {
  test(`${unit}: hardened as listed, secrets only through LoadCredential`, async () => {
    const text = await readFile(join(UNIT_DIR, unit), 'utf8');
    const lines = text.split('\n');
    for (const directive of REQUIRED) assert.ok(lines.includes(directive), `${unit} lacks ${directive}`);
    assert.ok(!/^(Environment|EnvironmentFile|PassEnvironment)=/m.test(text), 'no secret through the environment');
    assert.ok(!/^User=root$/m.test(text));
    assert.ok(/^LoadCredential=/m.test(text));
    // None of the three writes outside its private /tmp (the platform: its StateDirectory=).
    assert.ok(!/^(ReadWritePaths|ReadWriteDirectories|BindPaths)=/m.test(text), `${unit} makes paths writable`);
  });

  test(`${unit}: systemd-analyze exposure <= ${MAX_EXPOSURE}`, { skip }, () => {
    const figure = exposure(join(UNIT_DIR, unit));
    assert.ok(figure <= MAX_EXPOSURE, `${unit} exposure ${figure}`);
  });
}

test('gateway unit: nothing writable (it writes no file); homes an empty tmpfs with only its code bound read-only; MemoryDenyWriteExecute off with its reason', async () => {
  const text = await readFile(join(UNIT_DIR, 'ttma-gateway.service'), 'utf8');
  assert.match(text, /^User=openclaw$/m);
  assert.match(text, /^ProtectHome=tmpfs$/m);
  assert.match(text, /^BindReadOnlyPaths=\/opt\/ttma\/gateway$/m);
  assert.match(text, /^WorkingDirectory=\/opt\/ttma\/gateway$/m);
  assert.ok(!/^MemoryDenyWriteExecute=/m.test(text));
  assert.match(text, /# MemoryDenyWriteExecute= stays off: V8/);
});

test('platform unit: a private state directory, so the embedded store keeps deployments and minutes used across a restart', async () => {
  const text = await readFile(join(UNIT_DIR, 'ttma-platform.service'), 'utf8');
  assert.match(text, /^StateDirectory=ttma-platform$/m);
  assert.match(text, /^StateDirectoryMode=0700$/m);
  // The CLI takes $STATE_DIRECTORY when no --state-dir or --redis-url is given.
  assert.ok(!/--state-dir|--redis-url/.test(text));
});

test('the tunnel unit gets none of the gateway credentials (FAQ-11)', async () => {
  const tunnel = await readFile(join(UNIT_DIR, 'ttma-tunnel.service'), 'utf8');
  assert.match(tunnel, /^DynamicUser=yes$/m);
  const credentials = [...tunnel.matchAll(/^LoadCredential=([^:]+):/gm)].map((m) => m[1]);
  assert.deepEqual(credentials, ['tunnel-config', 'tunnel-credentials']);
  assert.ok(!/agent-secret|webhook-public-key/.test(tunnel));
});

test('systemd-analyze verify prints nothing for the units (and for the units rendered for a deployment)', { skip }, async () => {
  assert.equal(verifyStderr(join(UNIT_DIR, 'ttma-gateway.service')), '');
  assert.equal(verifyStderr(join(UNIT_DIR, 'ttma-platform.service')), '');
  const dir = await mkdtemp(join(tmpdir(), 'ttma-units-'));
  try {
    const inputs: UnitInputs = {
      payload: {
        deploymentId: 'dep-units', platformUrl: 'https://platform.example.com', publicHost: 'gw.trycloudflare.com', numbers: ['+15550100000', '+15550100001'],
        webhookPublicKey: Buffer.alloc(32).toString('base64'), agentSecret: 'x'.repeat(43), tunnelCredentialsRef: 'tunnel-1',
        gatewayBundle: { url: 'https://p.example.com/g', sha256: '0'.repeat(64) }, skillBundle: { url: 'https://p.example.com/s', sha256: '0'.repeat(64) },
        gatewayVersion: '0.1.0', expiresAt: 0,
      },
      dir: join(dir, 'install'), workspace: join(dir, 'ws'), user: 'openclaw', nodePath: process.execPath,
      // cloudflared is not installed here: verify needs an executable at the path.
      cloudflaredPath: process.execPath, tunnelPort: 8080, localPort: 8081,
    };
    await writeFile(join(dir, 'ttma-gateway.service'), await renderGatewayUnit(inputs));
    await writeFile(join(dir, 'ttma-tunnel.service'), await renderTunnelUnit(inputs));
    for (const unit of ['ttma-gateway.service', 'ttma-tunnel.service']) {
      assert.equal(verifyStderr(join(dir, unit)), '', unit);
      assert.ok(exposure(join(dir, unit)) <= MAX_EXPOSURE, unit);
    }
    const gateway = await readFile(join(dir, 'ttma-gateway.service'), 'utf8');
    assert.match(gateway, /--number \+15550100000 --number \+15550100001 /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A token's payload for rendering (its key and secret are never checked here). */
const PAYLOAD: UnitInputs['payload'] = {
  deploymentId: 'dep-x', platformUrl: 'https://p.example.com', publicHost: 'gw.example.com', numbers: ['+15550100000'],
  webhookPublicKey: Buffer.alloc(32).toString('base64'), agentSecret: 'x'.repeat(43), tunnelCredentialsRef: 'tunnel-1',
  gatewayBundle: { url: 'https://p.example.com/g', sha256: '0'.repeat(64) }, skillBundle: { url: 'https://p.example.com/s', sha256: '0'.repeat(64) },
  gatewayVersion: '0.1.0', expiresAt: 0,
};

test('rendering replaces each template path once: values that contain a template path come out as given', async () => {
  // Each value below starts with, or contains, a path or name of the templates (/opt/ttma,
  // example-tunnel); a second replacement pass would rewrite the values already put in.
  const inputs: UnitInputs = {
    payload: PAYLOAD,
    dir: '/srv/gw', workspace: '/opt/ttma-openclaw/workspace', user: 'openclaw',
    nodePath: '/opt/ttma-node/bin/node', cloudflaredPath: '/opt/example-tunnel/cloudflared', tunnelPort: 8080, localPort: 8081,
  };
  const directives = (text: string) => text.split('\n').filter((l) => /^(ExecStart|ReadWritePaths|BindReadOnlyPaths|WorkingDirectory|LoadCredential)=/.test(l));
  assert.deepEqual(directives(await renderGatewayUnit(inputs)), [
    'WorkingDirectory=/srv/gw/gateway',
    'LoadCredential=agent-secret:/srv/gw/credentials/agent-secret',
    'LoadCredential=webhook-public-key:/srv/gw/credentials/webhook-public-key',
    'ExecStart=/opt/ttma-node/bin/node /srv/gw/gateway/dist/src/cli/ttma.js gateway --tunnel-port 8080 --local-port 8081 --public-host gw.example.com'
      + ' --platform-url https://p.example.com --deployment-id dep-x --number +15550100000 --agent-secret-file %d/agent-secret --webhook-public-key-file %d/webhook-public-key',
    'BindReadOnlyPaths=/srv/gw/gateway',
  ]);
  assert.deepEqual(directives(await renderTunnelUnit(inputs)), [
    'LoadCredential=tunnel-config:/srv/gw/cloudflared/config.yml',
    'LoadCredential=tunnel-credentials:/srv/gw/cloudflared/credentials.json',
    'ExecStart=/opt/example-tunnel/cloudflared tunnel --no-autoupdate --config %d/tunnel-config --credentials-file %d/tunnel-credentials run tunnel-1',
  ]);
  // And values that extend a template path: each replaced as a whole.
  const nested = await renderGatewayUnit({ ...inputs, dir: '/opt/ttma/gw2', workspace: '/home/openclaw/.openclaw/workspace-2' });
  assert.match(nested, /^BindReadOnlyPaths=\/opt\/ttma\/gw2\/gateway$/m);
  assert.match(nested, /^WorkingDirectory=\/opt\/ttma\/gw2\/gateway$/m);
  assert.ok(!nested.includes('workspace-2'), 'the workspace is not mapped into the gateway at all');
});

test('rendered gateway unit: nothing writable; a node under a home directory (nvm) is bound in read-only, one elsewhere is not', async () => {
  const inputs: UnitInputs = {
    payload: PAYLOAD,
    dir: '/home/alice/.local/share/ttma', workspace: '/home/alice/.openclaw/workspace', user: 'alice',
    nodePath: '/home/alice/.nvm/versions/node/v20.18.0/bin/node', cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
  };
  const unit = await renderGatewayUnit(inputs);
  assert.ok(!/^(ReadWritePaths|ReadWriteDirectories|BindPaths)=/m.test(unit), 'no writable path');
  assert.match(unit, /^ProtectHome=tmpfs$/m);
  assert.match(unit, /^BindReadOnlyPaths=\/home\/alice\/\.local\/share\/ttma\/gateway \/home\/alice\/\.nvm\/versions\/node\/v20\.18\.0\/bin\/node$/m);
  const systemNode = await renderGatewayUnit({ ...inputs, nodePath: '/usr/bin/node' });
  assert.match(systemNode, /^BindReadOnlyPaths=\/home\/alice\/\.local\/share\/ttma\/gateway$/m);
});

test('rendered gateway unit: User= is the service user and no Group= is set, so systemd takes that user\'s own primary group', async () => {
  // Debian's nobody belongs to nogroup; a unit saying Group=nobody would not start
  // there ("Failed to determine group credentials"), nor for any user whose primary group has another name.
  const inputs: UnitInputs = {
    payload: PAYLOAD,
    dir: '/srv/gw', workspace: '/srv/ws', user: 'nobody',
    nodePath: '/usr/bin/node', cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
  };
  const unit = await renderGatewayUnit(inputs);
  assert.match(unit, /^User=nobody$/m);
  assert.deepEqual(unit.split('\n').filter((l) => l.startsWith('Group=')), [], 'no Group= line');
  // The shipped template has none either, so a copy installed by hand behaves the same.
  const template = await readFile(new URL('../../../systemd/ttma-gateway.service', import.meta.url), 'utf8');
  assert.deepEqual(template.split('\n').filter((l) => l.startsWith('Group=')), []);
});
