/**
 * `ttma doctor`: each check as a function of its inputs (good and bad), the
 * probes against hostile fake listeners, and the command as a child process
 * against a real running platform and gateway.
 *
 * Tests and CI run as root, so the `user` check is tested with injected uids,
 * and the command is expected to fail exactly that check when run as root.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import nacl from 'tweetnacl';
import { GATEWAY_FLAGS, TUNNEL_FLAGS } from '../../src/cli/gatewayFlags.js';
import { DOCTOR_FLAGS, probeGateway, probeHttp } from '../../src/cli/doctorCommand.js';
import { freePorts, startTtma, stopChild, type Child } from '../../src/cli/processes.js';
import { defaultGatewayConfig, type GatewayConfig } from '../../src/config.js';
import {
  CHECK_NAMES,
  checkConfig,
  checkControl,
  checkListeners,
  checkPlatform,
  checkSecretFiles,
  checkTunnel,
  checkUser,
  checkWebhookKey,
  doctorReport,
  formatDoctorReport,
  platformHealthUrl,
  type CheckResult,
  type DoctorReport,
  type GatewayProbe,
  type HttpProbe,
} from '../../src/control/doctorChecks.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
const IS_ROOT = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'ttma-doctor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Write a file and set its mode exactly (writeFileSync's mode is masked by the umask). */
function file(name: string, content: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

// A real key: 32 arbitrary bytes are seldom a curve point, and small-order points are refused too.
const PUBLIC_KEY = Buffer.from(nacl.sign.keyPair().publicKey).toString('base64');
const goodKey = file('public.key', `${PUBLIC_KEY}\n`, 0o644);
const goodSecret = file('agent.secret', 's'.repeat(32), 0o600);

// ---------------------------------------------------------------- webhook-key

test('webhook-key: a readable 32-byte base64 key is ok', () => {
  const result = checkWebhookKey(goodKey);
  assert.deepEqual({ ok: result.ok, status: result.status, check: result.check }, { ok: true, status: 'ok', check: 'webhook-key' });
});

test('webhook-key: no file, a missing file and bad keys fail, saying webhooks fail closed', () => {
  const cases: Array<[string | undefined, RegExp]> = [
    [undefined, /no --webhook-public-key-file given: webhooks will be refused with 503 \(fail closed\)/],
    [join(dir, 'nope.key'), /cannot read it \(ENOENT\).*503 \(fail closed\)/],
    [file('short.key', Buffer.alloc(31, 1).toString('base64')), /exactly 32 bytes/],
    [file('junk.key', 'not a key at all!'), /exactly 32 bytes/],
    [file('empty.key', ''), /exactly 32 bytes/],
    [file('pem.key', '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n'), /exactly 32 bytes/],
    // The identity point: OpenSSL takes it, and one fixed signature verifies every body under it.
    [file('identity.key', 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), /small-order/],
  ];
  for (const [path, message] of cases) {
    const result = checkWebhookKey(path);
    assert.equal(result.ok, false, String(path));
    assert.equal(result.status, 'fail');
    assert.match(result.message, message);
    assert.match(result.message, /fail closed/);
  }
  const content = 'c2VjcmV0LWxvb2tpbmctY29udGVudA==';
  assert.ok(!checkWebhookKey(file('content.key', content)).message.includes(content), 'file content is never echoed');
});

// --------------------------------------------------------------- secret-files

test('secret-files: an owner-only regular agent secret (0600) and a 0644 public key are ok', () => {
  const result = checkSecretFiles({ agentSecretFile: goodSecret, webhookPublicKeyFile: goodKey });
  assert.equal(result.ok, true, result.message);
  assert.equal(result.status, 'ok');
  assert.equal(checkSecretFiles({ agentSecretFile: file('ro.secret', 's'.repeat(32), 0o400), webhookPublicKeyFile: undefined }).ok, true);
});

test('secret-files: group/world access, symlinks, missing, non-regular and empty secrets fail with what to do', () => {
  mkdirSync(join(dir, 'secret-dir'), { mode: 0o700 });
  const link = join(dir, 'link.secret');
  symlinkSync(goodSecret, link);
  const cases: Array<[string | undefined, RegExp]> = [
    [file('world.secret', 's'.repeat(32), 0o644), /mode 0644.*chmod 600/],
    [file('group.secret', 's'.repeat(32), 0o640), /mode 0640.*chmod 600/],
    [file('groupw.secret', 's'.repeat(32), 0o620), /mode 0620/],
    [file('otherw.secret', 's'.repeat(32), 0o602), /mode 0602/],
    [link, /is a symlink/],
    [join(dir, 'missing.secret'), /cannot find it \(ENOENT\)/],
    [join(dir, 'secret-dir'), /not a regular file/],
    [file('empty.secret', '  \n', 0o600), /is empty/],
    [undefined, /no --agent-secret-file given/],
  ];
  for (const [path, message] of cases) {
    const result = checkSecretFiles({ agentSecretFile: path, webhookPublicKeyFile: goodKey });
    assert.equal(result.ok, false, String(path));
    assert.match(result.message, message, String(path));
    assert.ok(!result.message.includes('s'.repeat(16)), 'the secret itself is never in a message');
  }
});

test('secret-files: the agent key and the OpenClaw token are held to the same rule as the agent secret', () => {
  const good = { agentSecretFile: goodSecret, webhookPublicKeyFile: goodKey };
  const fine = checkSecretFiles({ ...good, agentKeyFile: file('agent.key', 'k'.repeat(32), 0o600), openclawTokenFile: file('oc.token', 't'.repeat(32), 0o400) });
  assert.equal(fine.ok, true, fine.message);
  assert.match(fine.message, /--agent-key-file \S+agent\.key is owner-only; --openclaw-token-file \S+oc\.token is owner-only/);
  const cases: Array<[Partial<Parameters<typeof checkSecretFiles>[0]>, RegExp]> = [
    [{ agentKeyFile: file('world.key', 'k'.repeat(32), 0o644) }, /--agent-key-file \S+world\.key is readable or writable by group or others \(mode 0644\): other users on this machine can take the agent API key, and the gateway refuses to start with it; run: chmod 600/],
    [{ agentKeyFile: file('group.key', 'k'.repeat(32), 0o640) }, /--agent-key-file \S+group\.key .*mode 0640/],
    [{ openclawTokenFile: file('world.token', 't'.repeat(32), 0o604) }, /--openclaw-token-file \S+world\.token .*mode 0604.*the OpenClaw token/],
    [{ openclawTokenFile: join(dir, 'missing.token') }, /--openclaw-token-file \S+missing\.token: cannot find it/],
    [{ agentKeyFile: file('empty.key', '\n', 0o600) }, /--agent-key-file \S+empty\.key is empty: put the agent API key in it/],
  ];
  for (const [patch, message] of cases) {
    const result = checkSecretFiles({ ...good, ...patch });
    assert.equal(result.ok, false, message.source);
    assert.match(result.message, message);
    assert.ok(!/k{16}|t{16}/.test(result.message), 'no secret in a message');
  }
  // systemd's credentials directory: files there are as systemd makes them (0440 with an ACL on a user manager).
  mkdirSync(join(dir, 'creds'), { mode: 0o700 });
  const credential = file('creds/agent-key', 'k'.repeat(32), 0o440);
  assert.equal(checkSecretFiles({ ...good, agentKeyFile: credential, credentialsDirectory: join(dir, 'creds') }).ok, true);
  assert.equal(checkSecretFiles({ ...good, agentKeyFile: credential }).ok, false);
});

test('secret-files: the public key may be world-readable but not writable by group or others', () => {
  for (const mode of [0o644, 0o444, 0o600]) {
    assert.equal(checkSecretFiles({ agentSecretFile: goodSecret, webhookPublicKeyFile: file(`pub-${mode}.key`, PUBLIC_KEY, mode) }).ok, true);
  }
  for (const mode of [0o666, 0o664, 0o646]) {
    const result = checkSecretFiles({ agentSecretFile: goodSecret, webhookPublicKeyFile: file(`pubw-${mode}.key`, PUBLIC_KEY, mode) });
    assert.equal(result.ok, false);
    assert.match(result.message, /writable by group or others.*chmod 644/);
  }
  // A missing key file is the webhook-key check's finding, not this one's.
  assert.equal(checkSecretFiles({ agentSecretFile: goodSecret, webhookPublicKeyFile: join(dir, 'absent.key') }).ok, true);
});

// --------------------------------------------------------------------- config

const goodConfig: GatewayConfig = {
  ...defaultGatewayConfig(),
  tunnelPort: 8080,
  localPort: 8081,
  publicHost: 'gw.trycloudflare.com',
  platformUrl: 'https://platform.example.com',
  deploymentId: 'demo',
  agentSecret: 'x'.repeat(32),
  numbers: ['+15550100000'],
};

test('config: the gateway\'s own validation, with its message', () => {
  assert.equal(checkConfig(goodConfig).ok, true);
  const cases: Array<[Partial<GatewayConfig>, RegExp]> = [
    [{ host: '0.0.0.0' }, /config host: "0.0.0.0" is not a loopback address/],
    [{ tunnelPort: 9000, localPort: 9000 }, /config localPort: must differ/],
    [{ platformUrl: 'http://platform.example.com' }, /config platformUrl: must be https/],
    [{ agentSecret: '' }, /config agentSecret/],
    [{ numbers: ['5550100'] }, /config numbers/],
  ];
  for (const [patch, message] of cases) {
    const result = checkConfig({ ...goodConfig, ...patch });
    assert.equal(result.ok, false);
    assert.match(result.message, message);
    assert.match(result.message, /refuses to start/);
  }
});

// ------------------------------------------------------------------ listeners

const answered = (status: number, body = ''): HttpProbe => ({ kind: 'answered', status, body });
const healthyProbe: GatewayProbe = {
  host: '127.0.0.1',
  health: answered(200, '{"ok":true}'),
  localStatus: answered(200, JSON.stringify({ webhookKey: 'configured', uws: 'x', liveCalls: 0 })),
  tunnelStatus: answered(404),
  localWithTunnelHeader: answered(403),
};

test('listeners: fixed, different ports are required', () => {
  assert.match(checkListeners({ tunnelPort: 8080, localPort: 8080 }).message, /both 8080.*FAQ-04/);
  assert.match(checkListeners({ tunnelPort: 0, localPort: 8081 }).message, /use fixed ports/);
  assert.match(checkListeners({ tunnelPort: 8080, localPort: 0 }).message, /use fixed ports/);
  assert.equal(checkListeners({ tunnelPort: 0, localPort: 0 }).ok, false);
});

test('listeners: nothing running is skipped (ok), a healthy gateway is ok', () => {
  const notRunning = checkListeners({ tunnelPort: 8080, localPort: 8081, probe: { host: '127.0.0.1', health: { kind: 'refused' } } });
  assert.deepEqual({ ok: notRunning.ok, status: notRunning.status }, { ok: true, status: 'skip' });
  assert.match(notRunning.message, /no gateway is running on 127\.0\.0\.1:8081/);
  const running = checkListeners({ tunnelPort: 8080, localPort: 8081, probe: healthyProbe });
  assert.deepEqual({ ok: running.ok, status: running.status }, { ok: true, status: 'ok' }, running.message);
});

test('listeners: every unsafe or unexpected answer fails with its own message', () => {
  const cases: Array<[Partial<GatewayProbe>, RegExp]> = [
    [{ health: { kind: 'timeout', ms: 1000 } }, /did not answer within 1000 ms/],
    [{ health: { kind: 'error', message: 'ECONNRESET' } }, /ECONNRESET/],
    [{ health: answered(404) }, /answered GET \/healthz with 404.*not a gateway's local listener/],
    [{ localStatus: answered(200, JSON.stringify({ webhookKey: 'missing' })) }, /running gateway is failing closed.*503/],
    [{ localStatus: answered(200, 'not json') }, /not a ttma gateway status/],
    [{ localStatus: answered(500) }, /answered 500, expected 200/],
    [{ tunnelStatus: answered(200, '{}') }, /tunnel port 127\.0\.0\.1:8080 answered 200, expected 404: diagnostics must not be reachable through the tunnel/],
    [{ tunnelStatus: { kind: 'refused' } }, /nothing listens on the tunnel port.*other ports/],
    [{ tunnelStatus: undefined }, /was not asked/],
    [{ localWithTunnelHeader: answered(200, '{}') }, /cf-ray.*answered 200, expected 403/],
    [{ localWithTunnelHeader: { kind: 'timeout', ms: 1000 } }, /cf-ray.*expected 403/],
  ];
  for (const [patch, message] of cases) {
    const result = checkListeners({ tunnelPort: 8080, localPort: 8081, probe: { ...healthyProbe, ...patch } });
    assert.equal(result.ok, false, message.source);
    assert.equal(result.status, 'fail');
    assert.match(result.message, message);
  }
});

function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

test('probes: a fake gateway that leaks diagnostics through the tunnel and ignores cf-ray is caught', async () => {
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const local = await listen((req, res) => {
    if (req.url === '/healthz') json(res, 200, { ok: true });
    else if (req.url === '/debug/status') json(res, 200, { webhookKey: 'configured' });
    else json(res, 404, {});
  });
  const tunnel = await listen((req, res) => json(res, 200, { webhookKey: 'configured', leaked: req.url }));
  try {
    const probe = await probeGateway('127.0.0.1', tunnel.port, local.port);
    assert.deepEqual(probe.tunnelStatus && { kind: probe.tunnelStatus.kind, status: (probe.tunnelStatus as { status: number }).status }, { kind: 'answered', status: 200 });
    const result = checkListeners({ tunnelPort: tunnel.port, localPort: local.port, probe });
    assert.equal(result.ok, false);
    assert.match(result.message, /must not be reachable through the tunnel/);
    assert.match(result.message, /must refuse anything that came through the tunnel/);
  } finally {
    local.server.close();
    tunnel.server.close();
  }
});

test('probes: refused, a listener that never answers, and no redirects followed', async () => {
  const [closed] = (await freePorts(1)) as [number];
  assert.deepEqual(await probeHttp(new URL(`http://127.0.0.1:${closed}/healthz`), 500), { kind: 'refused' });
  const silent = createTcpServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const redirect = await listen((_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/healthz' }).end());
  try {
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    assert.deepEqual(await probeHttp(new URL(`http://127.0.0.1:${port}/healthz`), 200), { kind: 'timeout', ms: 200 });
    assert.ok(Date.now() - started < 1_000);
    const followed = await probeHttp(new URL(`http://127.0.0.1:${redirect.port}/healthz`), 500);
    assert.equal(followed.kind === 'answered' && followed.status, 302);
    assert.equal(checkPlatform(`http://127.0.0.1:${redirect.port}`, followed).ok, false);
  } finally {
    silent.close();
    redirect.server.close();
  }
});

// ----------------------------------------------------------------------- user

test('user: root fails (FAQ-10), any other uid is ok, no POSIX ids is ok', () => {
  const root = checkUser(0);
  assert.equal(root.ok, false);
  assert.match(root.message, /running as root \(uid 0\): run the gateway as its own service user.*FAQ-10/);
  assert.deepEqual({ ok: checkUser(1000).ok, status: checkUser(1000).status }, { ok: true, status: 'ok' });
  assert.equal(checkUser(65534).ok, true);
  assert.equal(checkUser(undefined).ok, true);
});

test('user: when systemd knows the installed service, its running process (or its User=) is judged, not doctor\'s uid', () => {
  const service = (user: string, mainPid: number, uids: number[] | null) => ({ unit: 'ttma-gateway.service', user, mainPid, uids });
  const rootProcess = checkUser(1000, service('alice', 4242, [0, 0, 0, 0]));
  assert.equal(rootProcess.ok, false);
  assert.match(rootProcess.message, /the running ttma-gateway\.service \(pid 4242, User=alice\) runs as root \(uids 0 0 0 0\).*FAQ-10/);
  const asAlice = checkUser(0, service('alice', 4242, [1000, 1000, 1000, 1000]));
  assert.equal(asAlice.ok, true);
  assert.match(asAlice.message, /runs as uid 1000, not root; doctor itself runs as root/);
  assert.match(checkUser(1000, service('', 0, null)).message, /is not running, and would run as root \(no User= \(root\)\)/);
  assert.equal(checkUser(1000, service('0', 0, null)).ok, false);
  assert.equal(checkUser(1000, service('alice', 0, null)).ok, true);
  // Without systemd's answer: doctor's own uid, as before.
  assert.equal(checkUser(0, null).ok, false);
});

/** A stand-in for systemctl on PATH that reports ttma-gateway.service as loaded, with this User= and MainPID. */
function fakeSystemctl(user: string, pid: number): string {
  const bin = join(dir, `fake-systemctl-${pid}`);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\nprintf 'LoadState=loaded\\nUser=${user}\\nMainPID=${pid}\\n'\n`);
  chmodSync(join(bin, 'systemctl'), 0o755);
  return bin;
}

test('ttma doctor: the user check reads the gateway service\'s running process through systemctl show', { skip: IS_ROOT ? undefined : 'starting a process as another user needs root' }, async () => {
  const sleeper = (uid?: number) => spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore', ...(uid === undefined ? {} : { uid, gid: uid }) });
  const asRoot = sleeper();
  const asNobody = sleeper(65534);
  try {
    const run = (bin: string) => new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [TTMA, 'doctor', '--agent-secret-file', goodSecret, '--json'], { timeout: 10_000, env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` } }, (err, stdout) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout });
      });
    });
    const root = byName(JSON.parse((await run(fakeSystemctl('alice', asRoot.pid!))).stdout) as DoctorReport).user!;
    assert.equal(root.status, 'fail');
    assert.match(root.message, new RegExp(`the running ttma-gateway\\.service \\(pid ${asRoot.pid}, User=alice\\) runs as root`));
    const nobody = byName(JSON.parse((await run(fakeSystemctl('nobody', asNobody.pid!))).stdout) as DoctorReport).user!;
    assert.equal(nobody.status, 'ok', nobody.message);
    assert.match(nobody.message, new RegExp(`\\(pid ${asNobody.pid}, User=nobody\\) runs as uid 65534, not root; doctor itself runs as root`));
  } finally {
    asRoot.kill();
    asNobody.kill();
  }
});

// ------------------------------------------------------------------- platform

test('platform: 200 is ok; anything else, or no usable URL, fails', () => {
  assert.equal(checkPlatform('https://platform.example.com', answered(200)).ok, true);
  const cases: Array<[string, HttpProbe | undefined, RegExp]> = [
    ['https://platform.example.com', answered(503), /answered 503, expected 200/],
    ['https://platform.example.com', { kind: 'refused' }, /refused the connection: calls cannot be answered/],
    ['https://platform.example.com', { kind: 'timeout', ms: 2000 }, /did not answer within 2000 ms/],
    ['https://platform.example.com', { kind: 'error', message: 'ENOTFOUND' }, /ENOTFOUND/],
    ['', undefined, /no --platform-url given/],
    ['not a url', undefined, /not an http\(s\) URL/],
    ['ftp://platform.example.com', undefined, /not an http\(s\) URL/],
  ];
  for (const [url, probe, message] of cases) {
    const result = checkPlatform(url, probe);
    assert.equal(result.ok, false, url);
    assert.match(result.message, message);
  }
});

test('platform: the health URL is joined under the base path, as the gateway joins its paths', () => {
  assert.equal(platformHealthUrl('https://p.example.com')?.href, 'https://p.example.com/healthz');
  assert.equal(platformHealthUrl('https://p.example.com/api/')?.href, 'https://p.example.com/api/healthz');
  assert.equal(platformHealthUrl('http://127.0.0.1:9000')?.href, 'http://127.0.0.1:9000/healthz');
  assert.equal(platformHealthUrl('file:///etc/passwd'), null);
});

// --------------------------------------------------------------------- report

test('report: ok only when no check failed (a skip is ok); one line per check, then a summary', () => {
  const checks: CheckResult[] = [
    { check: 'webhook-key', ok: true, status: 'ok', message: 'fine' },
    { check: 'listeners', ok: true, status: 'skip', message: 'not running' },
  ];
  assert.equal(doctorReport(checks).ok, true);
  assert.match(formatDoctorReport(doctorReport(checks)), /all 2 checks passed \(1 skipped\)\n$/);
  const failing = doctorReport([...checks, { check: 'user', ok: false, status: 'fail', message: 'root' }]);
  assert.equal(failing.ok, false);
  const lines = formatDoctorReport(failing).trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 3), ['ok   webhook-key   fine', 'skip listeners     not running', 'FAIL user          root']);
  assert.match(lines[3]!, /1 of 3 checks failed \(user\)/);
  // With --install-dir's longer names every message still starts in one column.
  const wideChecks: CheckResult[] = [...checks, { check: 'install-digests', ok: true, status: 'ok', message: 'all match' }];
  const wide = formatDoctorReport(doctorReport(wideChecks)).split('\n');
  assert.deepEqual(wideChecks.map((c, i) => wide[i]!.indexOf(c.message)), [22, 22, 22]);
});

test('doctor takes exactly the flags of ttma gateway (its tunnel flags included), plus --json, --install-dir and --root', () => {
  assert.deepEqual(Object.keys(DOCTOR_FLAGS).sort(), [...Object.keys(GATEWAY_FLAGS), ...Object.keys(TUNNEL_FLAGS), 'json', 'install-dir', 'root'].sort());
});

test('report: a warning is ok, shown as WARN and counted in the summary', () => {
  const report = doctorReport([
    { check: 'config', ok: true, status: 'ok', message: 'fine' },
    checkTunnel('single-unit mode (--spawn-tunnel): cloudflared runs as …'),
  ]);
  assert.equal(report.ok, true);
  const lines = formatDoctorReport(report).trimEnd().split('\n');
  assert.match(lines[1]!, /^WARN tunnel {8}single-unit mode/);
  assert.equal(lines[2], 'doctor: all 2 checks passed (1 warning: read the WARN line)');
});

// ---------------------------------------------------------------- control

test('control: open and authenticated is ok; each way of being down fails with a plain reason; no gateway is a skip', () => {
  const url = 'https://platform.example';
  const running = (control: unknown, status = 200): GatewayProbe => ({
    host: '127.0.0.1',
    health: { kind: 'answered', status: 200, body: '{"ok":true}' },
    localStatus: { kind: 'answered', status, body: JSON.stringify({ webhookKey: 'configured', control }) },
  });
  const verdict = (probe: GatewayProbe | undefined) => {
    const r = checkControl(url, probe);
    return `${r.status}: ${r.message}`;
  };
  assert.match(verdict(running({ state: 'open', authenticated: true, since: '2026-01-01T00:00:00.000Z', failures: 0 })), /^ok: control connection to https:\/\/platform\.example is open and authenticated since 2026-01-01T00:00:00\.000Z$/);
  assert.match(verdict(running({ state: 'waiting', lastError: 'refused by the platform: TTMA_ERR_AUTH (HTTP 401)', identityRefused: true, failures: 3 })), /^fail: the platform refuses the control connection: it does not accept the deployment id and agent secret .* after 3 failed attempt\(s\); the secret was rotated/);
  assert.match(verdict(running({ state: 'waiting', lastError: 'closed (4401: agent secret rotated)', identityRefused: true, failures: 1 })), /^fail: the platform refuses the control connection: it does not accept/);
  assert.match(verdict(running({ state: 'waiting', lastError: 'refused by the platform: TTMA_ERR_DEPLOYMENT_DISABLED (HTTP 403)', identityRefused: true })), /^fail: .*the deployment is disabled by the operator/);
  // A gateway that says what the refusal means (src/control/identityRefusal.ts): its words, not a generic secret failure.
  const unknown = { kind: 'unknown', message: 'the platform does not know this deployment: its store lost its data (Redis flushed or restarted empty); ask the platform operator' };
  assert.match(verdict(running({ state: 'waiting', lastError: 'refused by the platform: TTMA_ERR_STORE_DATA_LOST (HTTP 401)', identityRefused: true, refusal: unknown, failures: 2 })), /^fail: the platform refuses the control connection: the platform does not know this deployment: its store lost its data .*\(refused by the platform: TTMA_ERR_STORE_DATA_LOST \(HTTP 401\)\) after 2 failed attempt\(s\)$/);
  assert.match(verdict(running({ state: 'waiting', lastError: 'could not connect (ENOTFOUND)', identityRefused: false, failures: 2 })), /^fail: the control connection is down: the platform at https:\/\/platform\.example is unreachable \(could not connect \(ENOTFOUND\)\)/);
  assert.match(verdict(running({ state: 'waiting', lastError: 'closed (1006)', identityRefused: false })), /^fail: the control connection to https:\/\/platform\.example is down \(closed \(1006\)\); the gateway retries by itself/);
  // A platform answering for another deployment: named, whatever the state of the redial.
  for (const state of ['waiting', 'connecting', 'open']) {
    assert.match(verdict(running({ state, lastError: 'refused: the platform\'s hello names deployment dep-other, not dep-1', identityRefused: false, deploymentMismatch: 'dep-other', failures: 2 })), /^fail: the gateway refuses the control connection: the platform at https:\/\/platform\.example answers for deployment dep-other, not this gateway's .*--platform-url/);
  }
  assert.match(verdict(running({ state: 'open', authenticated: false })), /^fail: the control connection .* is still being set up \(open/);
  assert.match(verdict(running({ state: 'connecting' })), /still being set up \(connecting/);
  assert.match(verdict(running({ state: 'stopped' })), /^fail: .*stopped/);
  assert.match(verdict(running(undefined)), /^fail: .*without a control field/);
  assert.match(verdict(running({ state: 'open', authenticated: true }, 500)), /^fail: .*answered 500 without a control field/);
  assert.match(verdict(undefined), /^skip: no gateway is running/);
  assert.match(verdict({ host: '127.0.0.1', health: { kind: 'refused' } }), /^skip: /);
  // The gateway's text is shown bounded and without control characters (it cannot forge report lines).
  const forged = verdict(running({ state: 'waiting', lastError: `x\nok   control  all fine${'y'.repeat(400)}`, identityRefused: false }));
  assert.ok(!forged.includes('\n') && forged.length < 500, forged);
});

// ---------------------------------------------------------- the command itself

function doctor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TTMA, 'doctor', ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const byName = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.check, c]));

let platform: Child;
let platformPort: number;
const DEPLOYMENT = ['--deployment-id', 'doctor', '--public-host', 'doctor-test.trycloudflare.com', '--number', '+15550100000'];

before(async () => {
  [platformPort] = (await freePorts(1)) as [number];
  // The gateways' deployment, with the good agent secret: their control connections authenticate.
  const deployment = file('deployment.json', JSON.stringify({ id: 'doctor', numbers: ['+15550100000'], tunnelHost: 'doctor-test.trycloudflare.com', agentSecret: 's'.repeat(32) }));
  platform = await startTtma('platform', [
    'platform', '--port', String(platformPort), '--provider-url', 'http://127.0.0.1:1',
    '--provider-api-key-file', file('provider.key', 'p'.repeat(32)), '--deployment-file', deployment,
  ], join(dir, 'platform.log'));
});
after(async () => {
  if (platform) await stopChild(platform);
});

async function gateway(name: string, tunnelPort: number, localPort: number, extra: string[]): Promise<Child> {
  return startTtma(name, [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '1',
    '--platform-url', `http://127.0.0.1:${platformPort}`, ...DEPLOYMENT, ...extra,
  ], join(dir, `${name}.log`));
}

test('ttma doctor --json against a good config and a running gateway: every check ok but `user` as root', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const flags = [
    '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--platform-url', `http://127.0.0.1:${platformPort}`,
    '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret, ...DEPLOYMENT,
  ];
  const child = await gateway('gateway-good', tunnelPort, localPort, ['--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret]);
  try {
    const { code, stdout, stderr } = await doctor([...flags, '--json']);
    const report = JSON.parse(stdout) as DoctorReport;
    assert.deepEqual(report.checks.map((c) => c.check), [...CHECK_NAMES]);
    const statuses = Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
    assert.deepEqual(statuses, {
      'webhook-key': 'ok', 'secret-files': 'ok', config: 'ok', listeners: 'ok', user: IS_ROOT ? 'fail' : 'ok', platform: 'ok', control: 'ok',
    }, stdout);
    assert.match(byName(report).control!.message, new RegExp(`control connection to http://127\\.0\\.0\\.1:${platformPort} is open and authenticated since 20`));
    assert.match(byName(report).listeners!.message, /hides diagnostics \(404\).*serves them \(200\).*refuses tunnel traffic \(403\); webhook key configured/);
    assert.equal(report.ok, !IS_ROOT);
    assert.equal(code, IS_ROOT ? 1 : 0, stderr);
    if (IS_ROOT) assert.match(byName(report).user!.message, /running as root \(uid 0\)/);

    const text = await doctor(flags);
    assert.equal(text.code, IS_ROOT ? 1 : 0);
    const lines = text.stdout.trimEnd().split('\n');
    assert.equal(lines.length, CHECK_NAMES.length + 1);
    assert.match(lines[3]!, /^ok {3}listeners {5}running gateway/);
    assert.match(lines[4]!, IS_ROOT ? /^FAIL user {10}running as root/ : /^ok {3}user/);
    assert.match(lines.at(-1)!, IS_ROOT ? /^doctor: 1 of 7 checks failed \(user\)/ : /^doctor: all 7 checks passed/);
  } finally {
    assert.equal(await stopChild(child), 0);
  }
});

test('ttma doctor: no webhook key and a world-readable agent secret fail, and the running keyless gateway is failing closed', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const leaky = file('leaky.secret', 'l'.repeat(32), 0o644);
  // The gateway itself refuses a world-readable secret, so it runs from an owner-only copy; doctor is given the leaky one.
  const child = await gateway('gateway-keyless', tunnelPort, localPort, ['--agent-secret-file', file('leaky-copy.secret', 'l'.repeat(32), 0o600)]);
  try {
    const { code, stdout } = await doctor([
      '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--platform-url', `http://127.0.0.1:${platformPort}`,
      '--agent-secret-file', leaky, ...DEPLOYMENT, '--json',
    ]);
    assert.equal(code, 1);
    const checks = byName(JSON.parse(stdout) as DoctorReport);
    assert.equal(checks['webhook-key']!.ok, false);
    assert.match(checks['webhook-key']!.message, /no --webhook-public-key-file given: webhooks will be refused with 503 \(fail closed\)/);
    assert.equal(checks['secret-files']!.ok, false);
    assert.match(checks['secret-files']!.message, /leaky\.secret is readable or writable by group or others \(mode 0644\).*chmod 600/);
    assert.equal(checks.listeners!.ok, false);
    assert.match(checks.listeners!.message, /running gateway is failing closed/);
    assert.equal(checks.config!.ok, true, checks.config!.message);
    assert.match(checks.config!.message, /a stop or restart hangs live calls up \(onStop hangup; handover keeps them\)/);
    assert.equal(checks.platform!.ok, true, checks.platform!.message);
    // The platform is up but does not take this secret: the control check says so, plainly.
    assert.equal(checks.control!.status, 'fail');
    assert.match(checks.control!.message, /the platform refuses the control connection: it does not accept the deployment id and agent secret \(refused by the platform: TTMA_ERR_AUTH \(HTTP 401\)\).*put the current secret in --agent-secret-file/);
    assert.ok(!stdout.includes('l'.repeat(16)), 'the secret never reaches the output');
  } finally {
    assert.equal(await stopChild(child), 0);
  }
});

test('ttma doctor: a gateway whose platform is unreachable fails the control check, saying so', async () => {
  const [tunnelPort, localPort, nowhere] = (await freePorts(3)) as [number, number, number];
  const platformUrl = `http://127.0.0.1:${nowhere}`;
  const child = await startTtma('gateway-orphan', [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '1',
    '--platform-url', platformUrl, ...DEPLOYMENT, '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret,
  ], join(dir, 'gateway-orphan.log'));
  try {
    const { code, stdout } = await doctor([
      '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--platform-url', platformUrl,
      '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret, ...DEPLOYMENT, '--json',
    ]);
    assert.equal(code, 1);
    const checks = byName(JSON.parse(stdout) as DoctorReport);
    assert.equal(checks.listeners!.ok, true, checks.listeners!.message);
    assert.equal(checks.platform!.ok, false);
    assert.equal(checks.control!.status, 'fail');
    assert.match(checks.control!.message, new RegExp(`the control connection is down: the platform at http://127\\.0\\.0\\.1:${nowhere} is unreachable \\(could not connect \\(ECONNREFUSED\\)\\) after \\d+ failed attempt`));
  } finally {
    assert.equal(await stopChild(child), 0);
  }
});

test('ttma doctor --host 0.0.0.0: config fails; with nothing running, listeners is skipped', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const { code, stdout } = await doctor([
    '--host', '0.0.0.0', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort),
    '--platform-url', `http://127.0.0.1:${platformPort}`, '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret, ...DEPLOYMENT, '--json',
  ]);
  assert.equal(code, 1);
  const checks = byName(JSON.parse(stdout) as DoctorReport);
  assert.equal(checks.config!.ok, false);
  assert.match(checks.config!.message, /config host: "0\.0\.0\.0" is not a loopback address/);
  assert.deepEqual({ ok: checks.listeners!.ok, status: checks.listeners!.status }, { ok: true, status: 'skip' });
  assert.match(checks.listeners!.message, /no gateway is running/);
  assert.deepEqual({ ok: checks.control!.ok, status: checks.control!.status }, { ok: true, status: 'skip' });
  assert.equal(checks['webhook-key']!.ok, true);
});

test('ttma doctor: the agent key and OpenClaw token files the gateway would read are checked too', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const { code, stdout } = await doctor([
    '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--platform-url', `http://127.0.0.1:${platformPort}`,
    '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret, ...DEPLOYMENT,
    '--agent', 'realtime', '--agent-key-file', file('cmd-world.key', 'k'.repeat(32), 0o644),
    '--openclaw-token-file', file('cmd-group.token', 't'.repeat(32), 0o640), '--json',
  ]);
  assert.equal(code, 1);
  const checks = byName(JSON.parse(stdout) as DoctorReport);
  assert.equal(checks['secret-files']!.ok, false);
  assert.match(checks['secret-files']!.message, /^--agent-key-file \S+cmd-world\.key is readable or writable by group or others \(mode 0644\)/);
  assert.match(checks['secret-files']!.message, /--openclaw-token-file \S+cmd-group\.token is readable or writable by group or others \(mode 0640\)/);
});

test('ttma doctor --spawn-tunnel (single-unit mode): the same command line as the gateway; a tunnel warning says what cloudflared can read', async () => {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  const base = [
    '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--platform-url', `http://127.0.0.1:${platformPort}`,
    '--webhook-public-key-file', goodKey, '--agent-secret-file', goodSecret, ...DEPLOYMENT, '--json',
  ];
  const tunnel = ['--spawn-tunnel', '/usr/bin/cloudflared', '--tunnel-config', join(dir, 'config.yml'), '--tunnel-credentials-file', join(dir, 'creds.json'), '--tunnel-name', 'tunnel-1'];
  const { stdout } = await doctor([...base, ...tunnel]);
  const report = JSON.parse(stdout) as DoctorReport;
  const check = byName(report).tunnel!;
  assert.deepEqual({ ok: check.ok, status: check.status }, { ok: true, status: 'warn' });
  assert.match(check.message, new RegExp(`cloudflared runs as the gateway's own user, so it can read the files ${goodSecret}, ${goodKey}, the gateway's /proc/<pid>/environ and cmdline`));
  assert.match(check.message, /FAQ-11 .*holds only in the installed two-unit layout/);
  // Without the tunnel flags there is no such line.
  assert.equal(byName(JSON.parse((await doctor(base)).stdout) as DoctorReport).tunnel, undefined);
});

test('ttma doctor: usage errors exit 2; doctor is listed in help', async () => {
  const unknown = await doctor(['--bind', '0.0.0.0']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /TTMA_ERR_CLI_USAGE: ttma doctor: Unknown option '--bind'/);
  const badPort = await doctor(['--tunnel-port', 'eighty']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--tunnel-port must be an integer/);
  const positional = await doctor(['now']);
  assert.equal(positional.code, 2);
  const help = await new Promise<string>((resolve) => execFile(process.execPath, [TTMA, 'help'], (_err, stdout) => resolve(stdout)));
  assert.match(help, /\n {2}doctor {5}check a gateway configuration/);
  assert.doesNotMatch(help, /planned, not in this version: .*doctor/);
});
