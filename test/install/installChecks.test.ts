/**
 * `ttma doctor --install-dir`'s unit check reads the units as systemd does:
 * a later line wins, an empty list assignment clears, drop-ins (beside the
 * unit and under the system unit directory) count, and `systemctl show`'s
 * effective values count when systemd has the unit loaded. Real unit files
 * rendered by the installer, weakened one directive at a time; each
 * weakening fails the check with a message naming the directive.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkInstallUnits, type UnitCheckOptions } from '../../src/control/installChecks.js';
import type { Systemctl } from '../../src/control/systemctlShow.js';
import { renderGatewayUnit, renderTunnelUnit, type UnitInputs } from '../../src/installer/renderUnits.js';

const root = mkdtempSync(join(tmpdir(), 'ttma-unitcheck-'));
after(() => rmSync(root, { recursive: true, force: true }));
const SECRET = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

let seq = 0;
/** A fresh install dir with the rendered units, and an empty stand-in for /etc/systemd/system. */
async function install() {
  const base = join(root, `i${++seq}`);
  const dir = join(base, 'ttma');
  const etc = join(base, 'etc-systemd-system');
  mkdirSync(join(dir, 'systemd'), { recursive: true });
  mkdirSync(etc, { recursive: true });
  const inputs: UnitInputs = {
    payload: {
      deploymentId: 'acme-1', platformUrl: 'https://platform.example.com', publicHost: 'gw.acme.example.com', numbers: ['+15551230000'],
      webhookPublicKey: Buffer.alloc(32).toString('base64'), agentSecret: SECRET, tunnelCredentialsRef: 'acme-tunnel',
      gatewayBundle: { url: 'https://p.example.com/g', sha256: '0'.repeat(64) }, skillBundle: { url: 'https://p.example.com/s', sha256: '0'.repeat(64) },
      gatewayVersion: '1.0.0', expiresAt: 0,
    },
    dir, workspace: join(base, 'ws'), user: 'alice', nodePath: '/usr/bin/node', cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
  };
  const gateway = join(dir, 'systemd', 'ttma-gateway.service');
  const tunnel = join(dir, 'systemd', 'ttma-tunnel.service');
  writeFileSync(gateway, await renderGatewayUnit(inputs));
  writeFileSync(tunnel, await renderTunnelUnit(inputs));
  const options: UnitCheckOptions = { systemDirs: [etc], systemctl: () => null };
  return { dir, etc, gateway, tunnel, options, check: (o: UnitCheckOptions = {}) => checkInstallUnits(dir, { ...options, ...o }) };
}

/** Adds lines at the end of the [Service] section, where systemd applies them after the shipped ones. */
function addToService(path: string, lines: string[]): void {
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, text.replace('\n[Install]', `\n${lines.join('\n')}\n\n[Install]`));
}
function replaceLine(path: string, prefix: string, line: string): void {
  writeFileSync(path, readFileSync(path, 'utf8').split('\n').map((l) => (l.startsWith(prefix) ? line : l)).join('\n'));
}

test('the units the installer renders pass, and a drop-in that only tightens them still passes', async () => {
  const i = await install();
  const result = i.check();
  assert.equal(result.ok, true, result.message);
  mkdirSync(`${i.gateway}.d`);
  writeFileSync(join(`${i.gateway}.d`, 'tighter.conf'), '[Service]\nSystemCallFilter=~@resources\nMemoryDenyWriteExecute=no\n');
  assert.equal(i.check().ok, true, i.check().message);
});

test('the reviewer\'s weakened gateway unit fails, each directive named, and the secret is never echoed', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['NoNewPrivileges=no'], /NoNewPrivileges=no .*weakens it/],
    [['ProtectSystem=no'], /ProtectSystem=no .*weakens it/],
    [['ProtectHome=no'], /ProtectHome=no /],
    [['ProtectHome=read-only'], /ProtectHome=read-only .*ships as ProtectHome=tmpfs or yes/],
    [['ExecStartPre=+/bin/sh -c "cat /secret-canary"'], /ExecStartPre=\+\/bin\/sh \(/],
    [['PrivateTmp=false'], /PrivateTmp=false /],
    [['AmbientCapabilities=CAP_SYS_ADMIN'], /AmbientCapabilities=CAP_SYS_ADMIN .*grants capabilities/],
    [['CapabilityBoundingSet=CAP_SYS_ADMIN'], /CapabilityBoundingSet=CAP_SYS_ADMIN .*leaves capabilities/],
    [['CapabilityBoundingSet=~'], /CapabilityBoundingSet=~ .*leaves capabilities/],
    [['LimitCORE=infinity'], /LimitCORE=infinity .*weakens it/],
    [['UMask=0022'], /UMask=0022 /],
    // An empty assignment clears the list: no filter at all.
    [['SystemCallFilter='], /SystemCallFilter= is empty or missing/],
    [['SystemCallFilter=@mount'], /SystemCallFilter= is @system-service \| ~@privileged \| @mount/],
    [['RestrictAddressFamilies=AF_PACKET'], /RestrictAddressFamilies=.*AF_PACKET/],
    [[`SetCredential=agent-secret:${SECRET}`], /SetCredential= .*puts a secret in the unit text/],
    // Cleared again, the secret still sits in a file every local user can read.
    [[`SetCredential=agent-secret:${SECRET}`, 'SetCredential='], /SetCredential= .*puts a secret in the unit text/],
    [['ReadWritePaths=/'], /ReadWritePaths=\/ .*makes paths writable/],
    [['BindPaths=/home'], /BindPaths=\/home .*makes paths writable/],
    [['ExecStartPre=+/bin/true'], /ExecStartPre=\+\/bin\/true .*full privileges/],
    [['ExecStartPost=-!/bin/true'], /ExecStartPost=-!\/bin\/true .*full privileges/],
    [['PermissionsStartOnly=yes'], /PermissionsStartOnly=yes/],
    [['Environment=TTMA_AGENT_SECRET_FILE=/x'], /Environment= .*passes an environment/],
    [['Group=root'], /Group=root .*root's group/],
    [['SupplementaryGroups=wheel 0'], /SupplementaryGroups=wheel 0 .*root's group/],
  ];
  for (const [lines, message] of cases) {
    const i = await install();
    addToService(i.gateway, lines);
    const result = i.check();
    assert.equal(result.ok, false, lines.join(' '));
    assert.match(result.message, message, lines.join(' '));
    assert.match(result.message, /ttma-gateway\.service:\d+/, 'names the file and line that decides');
    assert.ok(!result.message.includes(SECRET), 'the secret is never in the message');
  }
});

test('User= of the gateway: 0, root, an empty assignment and none at all are root, and fail', async () => {
  for (const line of ['User=0', 'User=root', 'User=', 'User=000']) {
    const i = await install();
    replaceLine(i.gateway, 'User=', line);
    const result = i.check();
    assert.equal(result.ok, false, line);
    assert.match(result.message, new RegExp(`${line.replace(/[=]/g, '=')}.* runs it as root .*FAQ-10`), line);
  }
  const i = await install();
  writeFileSync(i.gateway, readFileSync(i.gateway, 'utf8').replace(/^User=.*\n/m, ''));
  assert.match(i.check().message, /User= .*an empty or missing User= is root/);
  // A later line wins: the shipped User= first, root after it.
  const later = await install();
  addToService(later.gateway, ['User=root']);
  assert.match(later.check().message, /User=root \(.*ttma-gateway\.service:\d+\) runs it as root/);
});

test('the reviewer\'s weakened tunnel unit fails: not its own user, a static user, the gateway\'s credentials', async () => {
  const cases: Array<[(i: Awaited<ReturnType<typeof install>>) => string[], RegExp]> = [
    [() => ['DynamicUser=no'], /ttma-tunnel\.service: DynamicUser=no .*own throwaway user/],
    [() => ['User=root'], /ttma-tunnel\.service: User=root .*existing user of that name is used/],
    [() => ['Group=alice'], /ttma-tunnel\.service: Group=alice /],
    [() => ['SupplementaryGroups=alice'], /SupplementaryGroups=alice .*lets the tunnel read/],
    [(i) => [`LoadCredential=gw:${i.dir}/credentials`], /LoadCredential=gw:\S+\/credentials .*hands the tunnel a gateway secret/],
    [(i) => [`LoadCredential=gw:${i.dir}/credentials/`], /hands the tunnel a gateway secret/],
    [(i) => [`LoadCredential=all:${i.dir}`], /LoadCredential=all:.* hands the tunnel a gateway secret/],
    [(i) => [`LoadCredential=x:${i.dir}/credentials/../credentials/agent-secret`], /hands the tunnel a gateway secret/],
    [() => ['LoadCredential=x:agent-secret'], /LoadCredential=x:agent-secret .*hands the tunnel a gateway secret/],
    [() => ['LoadCredentialEncrypted=agent-key:/etc/credstore.encrypted/agent-key'], /LoadCredentialEncrypted=agent-key:.*gateway secret/],
    [() => ['ImportCredential=agent-*'], /ImportCredential=agent-\* .*gateway secret/],
    [(i) => [`BindReadOnlyPaths=${i.dir}/credentials:/x`], /BindReadOnlyPaths=.*gateway secret/],
    [() => ['NoNewPrivileges=no'], /ttma-tunnel\.service: NoNewPrivileges=no /],
    [() => ['AmbientCapabilities=CAP_DAC_READ_SEARCH'], /ttma-tunnel\.service: AmbientCapabilities=CAP_DAC_READ_SEARCH /],
    [() => ['ProtectHome=read-only'], /ttma-tunnel\.service: ProtectHome=read-only /],
  ];
  for (const [lines, message] of cases) {
    const i = await install();
    addToService(i.tunnel, lines(i));
    const result = i.check();
    assert.equal(result.ok, false, lines(i).join(' '));
    assert.match(result.message, message, lines(i).join(' '));
  }
  // A credential the gateway unit itself loads from elsewhere is the gateway's too.
  const moved = await install();
  addToService(moved.gateway, ['LoadCredential=openclaw:/srv/secrets/oc-token']);
  addToService(moved.tunnel, ['LoadCredential=oc:/srv/secrets/oc-token']);
  assert.match(moved.check().message, /LoadCredential=oc:\/srv\/secrets\/oc-token .*gateway secret/);
});

test('drop-ins count: beside the unit, under the system unit directory, and dash-prefix ones; the installed copy there too', async () => {
  const beside = await install();
  mkdirSync(`${beside.gateway}.d`);
  writeFileSync(join(`${beside.gateway}.d`, 'override.conf'), '[Service]\nNoNewPrivileges=no\n');
  assert.match(beside.check().message, /NoNewPrivileges=no \(\S+ttma-gateway\.service\.d\/override\.conf:2\)/);

  const system = await install();
  mkdirSync(join(system.etc, 'ttma-tunnel.service.d'));
  writeFileSync(join(system.etc, 'ttma-tunnel.service.d', '50-user.conf'), '# an admin\'s edit\n[Service]\nDynamicUser=no\nUser=alice\n');
  const result = system.check();
  assert.match(result.message, /DynamicUser=no \(\S+etc-systemd-system\/ttma-tunnel\.service\.d\/50-user\.conf:3\)/);
  assert.match(result.message, /User=alice/);

  const prefix = await install();
  mkdirSync(join(prefix.etc, 'ttma-.service.d'));
  writeFileSync(join(prefix.etc, 'ttma-.service.d', 'caps.conf'), '[Service]\nAmbientCapabilities=CAP_NET_ADMIN\n');
  assert.match(prefix.check().message, /ttma-gateway\.service: AmbientCapabilities=CAP_NET_ADMIN/);

  // Drop-ins apply in file-name order across directories: a later name undoes an earlier one.
  const order = await install();
  mkdirSync(`${order.gateway}.d`);
  writeFileSync(join(`${order.gateway}.d`, '10-weaken.conf'), '[Service]\nNoNewPrivileges=no\n');
  mkdirSync(join(order.etc, 'ttma-gateway.service.d'));
  writeFileSync(join(order.etc, 'ttma-gateway.service.d', '20-restore.conf'), '[Service]\nNoNewPrivileges=yes\n');
  assert.equal(order.check().ok, true, order.check().message);

  // The copy systemd runs (installed under /etc/systemd/system) is checked, not only the one in the install dir.
  const copied = await install();
  const text = readFileSync(copied.gateway, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=full');
  writeFileSync(join(copied.etc, 'ttma-gateway.service'), text);
  assert.match(copied.check().message, /ProtectSystem=full \(\S+etc-systemd-system\/ttma-gateway\.service:\d+\)/);
});

test('line continuations, comments and other sections are read as systemd reads them', async () => {
  const i = await install();
  // A continued line is one assignment; a line in [Install] is not a service setting.
  addToService(i.gateway, ['NoNewPrivileges=\\', '  no']);
  assert.match(i.check().message, /NoNewPrivileges=no/);
  const j = await install();
  writeFileSync(j.gateway, `${readFileSync(j.gateway, 'utf8')}\n# NoNewPrivileges=no\n;User=root\n`);
  assert.equal(j.check().ok, true, j.check().message);
});

test('systemd\'s own view: the files systemctl names are read, and its effective values are checked', async () => {
  const i = await install();
  const weakened = join(i.etc, 'elsewhere.service');
  writeFileSync(weakened, readFileSync(i.gateway, 'utf8').replace(/^User=.*$/m, 'User=root'));
  const dropIn = join(i.etc, 'drop.conf');
  writeFileSync(dropIn, '[Service]\nLimitCORE=infinity\n');
  const fake: Systemctl = (unit) => (unit === 'ttma-gateway.service' ? new Map([['LoadState', 'loaded'], ['FragmentPath', weakened], ['DropInPaths', dropIn]]) : null);
  const result = i.check({ systemctl: fake });
  assert.match(result.message, /User=root \(\S+elsewhere\.service:\d+\) runs it as root/);
  assert.match(result.message, /LimitCORE=infinity \(\S+drop\.conf:2\)/);

  const shown: Systemctl = (unit) => new Map(unit === 'ttma-gateway.service'
    ? [['LoadState', 'loaded'], ['User', ''], ['NoNewPrivileges', 'no'], ['ReadWritePaths', '/home/alice'], ['CapabilityBoundingSet', 'cap_sys_admin']]
    : [['LoadState', 'loaded'], ['DynamicUser', 'no']]);
  const effective = i.check({ systemctl: shown });
  assert.equal(effective.ok, false);
  for (const text of ['User= (systemctl show), not a non-root user', 'NoNewPrivileges=no (systemctl show)', 'ReadWritePaths=/home/alice (systemctl show)', 'CapabilityBoundingSet=cap_sys_admin', 'ttma-tunnel.service: systemd runs it with DynamicUser=no']) {
    assert.ok(effective.message.includes(text), `${text} in ${effective.message}`);
  }
});

test("drop-ins along systemd's whole search path count (under a root): /usr/lib and /run weaken; the same name in /run or /etc masks them", async () => {
  const put = (root: string, dir: string, unit: string, name: string, text: string) => {
    mkdirSync(join(root, dir, `${unit}.d`), { recursive: true });
    writeFileSync(join(root, dir, `${unit}.d`, name), text);
  };
  const rooted = async () => {
    const i = await install();
    const root = join(i.dir, '..', 'root');
    mkdirSync(root);
    return { ...i, root, checkRooted: () => i.check({ systemDirs: undefined, root }) };
  };
  const i = await rooted();
  assert.equal(i.checkRooted().ok, true, i.checkRooted().message);
  // A package's drop-in (the installed unit's own copy is in the install dir and, here, nowhere else).
  put(i.root, 'usr/lib/systemd/system', 'ttma-gateway.service', '50-vendor.conf', '[Service]\nUser=root\nNoNewPrivileges=no\nProtectSystem=no\n');
  let result = i.checkRooted();
  assert.equal(result.ok, false);
  assert.match(result.message, /User=root \(\S+\/root\/usr\/lib\/systemd\/system\/ttma-gateway\.service\.d\/50-vendor\.conf:2\) runs it as root/);
  assert.match(result.message, /NoNewPrivileges=no \(\S+50-vendor\.conf:3\)/);
  assert.match(result.message, /ProtectSystem=no \(\S+50-vendor\.conf:4\)/);
  // A runtime one of the same name masks it (and is read in its place).
  put(i.root, 'run/systemd/system', 'ttma-gateway.service', '50-vendor.conf', '[Service]\nProtectSystem=full\n');
  result = i.checkRooted();
  assert.match(result.message, /ProtectSystem=full \(\S+\/root\/run\/systemd\/system\/ttma-gateway\.service\.d\/50-vendor\.conf:2\)/);
  assert.doesNotMatch(result.message, /User=root|NoNewPrivileges=no/);
  // /etc masks both: an empty file (or a link to /dev/null) is how an administrator switches one off.
  put(i.root, 'etc/systemd/system', 'ttma-gateway.service', '50-vendor.conf', '');
  assert.equal(i.checkRooted().ok, true, i.checkRooted().message);

  // Every other directory of the search path is read too, for both units.
  for (const dir of ['usr/local/lib/systemd/system', 'lib/systemd/system', 'run/systemd/system.control', 'run/systemd/generator.late', 'run/systemd/transient']) {
    const j = await rooted();
    put(j.root, dir, 'ttma-tunnel.service', 'x.conf', '[Service]\nDynamicUser=no\n');
    assert.match(j.checkRooted().message, new RegExp(`ttma-tunnel\\.service: DynamicUser=no \\(\\S+/root/${dir.replace(/\./g, '\\.')}/ttma-tunnel\\.service\\.d/x\\.conf:2\\)`), dir);
  }

  // The type-wide service.d applies to every service, after all of a unit's own drop-ins: a unit's own
  // drop-in of the same name, in any directory, masks it for that unit only.
  const k = await rooted();
  put(k.root, 'etc/systemd/system', 'service', '60-all.conf', '[Service]\nNoNewPrivileges=no\n');
  put(k.root, 'usr/lib/systemd/system', 'ttma-gateway.service', '60-all.conf', '[Service]\n');
  result = k.checkRooted();
  assert.match(result.message, /ttma-tunnel\.service: NoNewPrivileges=no \(\S+\/etc\/systemd\/system\/service\.d\/60-all\.conf:2\)/);
  assert.doesNotMatch(result.message, /ttma-gateway\.service: NoNewPrivileges/);
});
