/**
 * `ttma doctor --install-dir D --root DIR`: an offline image or chroot, every
 * systemd directory looked up under DIR (as `systemctl --root`), and
 * `$SYSTEMD_UNIT_PATH` as systemd reads it. The real CLI as a child process,
 * against units the installer renders, in a directory tree of the test's own.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DoctorReport } from '../../src/control/doctorChecks.js';
import { renderGatewayUnit, renderTunnelUnit } from '../../src/installer/renderUnits.js';
import { runTtma } from '../helpers/runTtma.js';

const base = mkdtempSync(join(tmpdir(), 'ttma-doctor-root-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** The install's path inside the image: what its units name. */
const IN_IMAGE = '/opt/ttma';
let seq = 0;

/** An image: the installer's units in `<root>/opt/ttma/systemd/`, nothing else of systemd's yet. */
async function image() {
  const root = join(base, `root${++seq}`);
  const dir = join(root, IN_IMAGE);
  mkdirSync(join(dir, 'systemd'), { recursive: true });
  const inputs = {
    payload: {
      deploymentId: 'img-1', platformUrl: 'https://platform.example.com', publicHost: 'gw.example.com', numbers: ['+15551230000'],
      webhookPublicKey: Buffer.alloc(32).toString('base64'), agentSecret: 'y'.repeat(43), tunnelCredentialsRef: 'img-tunnel',
      gatewayBundle: { url: 'https://p.example.com/g', sha256: '1'.repeat(64) }, skillBundle: { url: 'https://p.example.com/s', sha256: '1'.repeat(64) },
      gatewayVersion: '1.0.0', expiresAt: 0,
    },
    dir: IN_IMAGE, workspace: '/opt/ttma-ws', user: 'alice', nodePath: '/usr/bin/node', cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
  };
  writeFileSync(join(dir, 'systemd', 'ttma-gateway.service'), await renderGatewayUnit(inputs));
  writeFileSync(join(dir, 'systemd', 'ttma-tunnel.service'), await renderTunnelUnit(inputs));
  /** A file at `rel` under the root. */
  const put = (rel: string, text: string) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  return { root, dir, put };
}

/** The install-units check of `ttma doctor --json` with these flags. */
async function installUnits(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = await runTtma(['doctor', '--json', ...args], { env });
  assert.ok(run.stdout.trim(), `no report: exit ${run.code}, ${run.stderr}`);
  const report = JSON.parse(run.stdout) as DoctorReport;
  return report.checks.find((c) => c.check === 'install-units')!;
}

test('--root: a unit and a drop-in under the root are read, the units name in-image paths, and the host\'s systemd is not asked', async () => {
  const i = await image();
  const good = await installUnits(['--install-dir', i.dir, '--root', i.root]);
  assert.equal(good.status, 'ok', good.message);

  // The installed tunnel unit in the image's package directory, weakened; a gateway drop-in in its /etc.
  const tunnel = readFileSync(join(i.dir, 'systemd', 'ttma-tunnel.service'), 'utf8');
  i.put('usr/lib/systemd/system/ttma-tunnel.service', tunnel.replace('DynamicUser=yes', 'DynamicUser=no').replace('\n[Install]', `\nLoadCredential=extra:${IN_IMAGE}/credentials/extra.pem\n\n[Install]`));
  i.put('etc/systemd/system/ttma-gateway.service.d/50-override.conf', '[Service]\nUser=root\n');
  const bad = await installUnits(['--install-dir', i.dir, '--root', i.root]);
  assert.equal(bad.status, 'fail');
  const at = (rel: string) => `${i.root}/${rel}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  assert.match(bad.message, new RegExp(`ttma-gateway\\.service: User=root \\(${at('etc/systemd/system/ttma-gateway.service.d/50-override.conf')}:2\\) runs it as root`));
  assert.match(bad.message, new RegExp(`ttma-tunnel\\.service: DynamicUser=no \\(${at('usr/lib/systemd/system/ttma-tunnel.service')}:\\d+\\)`));
  // The image's units name /opt/ttma/credentials, not the path doctor reads it at.
  assert.match(bad.message, /LoadCredential=extra:\/opt\/ttma\/credentials\/extra\.pem \(\S+\) hands the tunnel a gateway secret/);
});

test('$SYSTEMD_UNIT_PATH replaces the search path; with a trailing colon the usual path follows it; each under --root', async () => {
  const i = await image();
  i.put('srv/units/ttma-gateway.service.d/x.conf', '[Service]\nNoNewPrivileges=no\n');
  i.put('etc/systemd/system/ttma-tunnel.service.d/y.conf', '[Service]\nDynamicUser=no\n');
  const args = ['--install-dir', i.dir, '--root', i.root];
  const gatewayDropIn = /ttma-gateway\.service: NoNewPrivileges=no \(\S+\/srv\/units\/ttma-gateway\.service\.d\/x\.conf:2\)/;
  const tunnelDropIn = /ttma-tunnel\.service: DynamicUser=no \(\S+\/etc\/systemd\/system\/ttma-tunnel\.service\.d\/y\.conf:2\)/;

  const only = await installUnits(args, { SYSTEMD_UNIT_PATH: '/srv/units' });
  assert.match(only.message, gatewayDropIn);
  assert.doesNotMatch(only.message, /DynamicUser=no/, '/etc/systemd/system is not searched');

  const plus = await installUnits(args, { SYSTEMD_UNIT_PATH: '/srv/units:' });
  assert.match(plus.message, gatewayDropIn);
  assert.match(plus.message, tunnelDropIn);

  const usual = await installUnits(args);
  assert.doesNotMatch(usual.message, /NoNewPrivileges=no/, '/srv/units is not searched by default');
  assert.match(usual.message, tunnelDropIn);
});

test('--root must name a directory, and goes with --install-dir: each refusal names the flag, exit 2', async () => {
  const i = await image();
  const file = join(base, 'a-file');
  writeFileSync(file, 'x');
  const cases: Array<[string[], RegExp]> = [
    [['--install-dir', i.dir, '--root', join(base, 'missing')], /--root "\S+missing": cannot read it \(ENOENT\)/],
    [['--install-dir', i.dir, '--root', file], /--root "\S+a-file": not a directory/],
    [['--install-dir', i.dir, '--root', ''], /--root "": an empty path/],
    [['--root', i.root], /--root goes with --install-dir/],
  ];
  for (const [args, message] of cases) {
    const run = await runTtma(['doctor', ...args]);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /TTMA_ERR_CLI_USAGE/);
    assert.match(run.stderr, message);
    assert.equal(run.stdout, '', 'no check runs');
  }
});
