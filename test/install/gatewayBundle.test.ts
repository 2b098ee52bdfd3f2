/**
 * The gateway release bundle end to end, all real parts on loopback: the
 * bundle script packs this checkout's build, a `ttma platform` process serves
 * it (`--gateway-bundle`), `ttma install` redeems a token for it into a
 * temporary directory, and the INSTALLED copy, run from outside the checkout
 * with nothing but PATH in its environment, passes `ttma doctor`, starts as a
 * gateway (its native code loaded from the install, not the checkout) and
 * carries a call from the simulator through the platform.
 *
 * What the bundle fixes: a plain tar of package.json and dist/src (the
 * earlier walkthrough's) installs, but its copy cannot run: no dependencies.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { create, extract } from 'tar';
import nacl from 'tweetnacl';
import { freePorts, startNode, startTtma, stopChild, type Child } from '../../src/cli/processes.js';
import { packSkill } from '../../scripts/packSkill.js';
import { runTtma } from '../helpers/runTtma.js';
import { simProcessArgs } from '../helpers/simProcess.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACK = fileURLToPath(new URL('../../scripts/packGateway.js', import.meta.url));
const HOST = 'bundle-test.trycloudflare.com';
const NUMBER = '+15550107777';
const DEPLOYMENT = 'bundle-test';

let dir: string;
let bundle: { file: string; sha256: string; stderr: string };
const children: Child[] = [];
let ports: { sim: number; platform: number; tunnel: number; local: number };
let files: { apiKey: string; adminToken: string };

function execNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: options.timeoutMs ?? 60_000, cwd: options.cwd, env: options.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

/** Nothing from this process or the checkout: a fresh shell's PATH, no NODE_PATH, a home of its own. */
const cleanEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: join(dir, 'home') });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ttma-bundle-'));
  // One build for the whole file: the script exactly as a release would run it.
  const out = join(dir, 'gateway.tar.gz');
  const packed = await execNode([PACK, '--out', out], { timeoutMs: 120_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const sha256 = createHash('sha256').update(await readFile(out)).digest('hex');
  bundle = { file: out, sha256, stderr: packed.stderr };
  assert.equal(packed.stdout, `${sha256}  ${out}\n`, 'stdout is the digest line only');
  await writeFile(join(dir, 'skill.tar.gz'), (await packSkill()).bytes);

  const keys = nacl.sign.keyPair();
  const secretFile = async (name: string, value: string) => {
    const path = join(dir, name);
    await writeFile(path, value, { mode: 0o600 });
    return path;
  };
  files = { apiKey: await secretFile('api-key', randomBytes(16).toString('hex')), adminToken: await secretFile('admin-token', randomBytes(32).toString('base64url')) };
  const signingKey = await secretFile('signing-key', Buffer.from(keys.secretKey).toString('base64'));
  const publicKey = await secretFile('webhook-public-key', Buffer.from(keys.publicKey).toString('base64'));
  const [sim, platform, tunnel, local] = (await freePorts(4)) as [number, number, number, number];
  ports = { sim, platform, tunnel, local };
  children.push(await startTtma('sim', simProcessArgs(ports, { apiKey: files.apiKey, signingKey }, HOST), join(dir, 'sim.log')));
  children.push(await startTtma('platform', [
    'platform', '--port', String(platform), '--provider-url', `http://127.0.0.1:${sim}`, '--provider-api-key-file', files.apiKey,
    '--webhook-public-key-file', publicKey, '--admin-token-file', files.adminToken, '--state-dir', join(dir, 'state'),
    '--gateway-bundle', bundle.file, '--skill-bundle', join(dir, 'skill.tar.gz'),
  ], join(dir, 'platform.log')));
});

after(async () => {
  for (const child of children.reverse()) await stopChild(child);
  await rm(dir, { recursive: true, force: true });
});

test('the bundle script reports its progress on stderr and packs this machine\'s target', () => {
  assert.match(bundle.stderr, /^packGateway: packing .* for linux-x64, Node \d+ \(ABI \d+\)/m);
  assert.match(bundle.stderr, /^packGateway: \d+ production packages from package-lock\.json$/m);
  assert.match(bundle.stderr, /left out \d+ uWebSockets\.js binaries for other platforms or Node versions/);
});

test('a token for the bundle installs it, and the installed copy runs by itself: doctor, a gateway, a call', async () => {
  const mint = await fetch(`http://127.0.0.1:${ports.platform}/v1/admin/install-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${(await readFile(files.adminToken, 'utf8')).trim()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deployment: { id: DEPLOYMENT, numbers: [NUMBER], tunnelHost: HOST }, tunnelCredentialsRef: 'bundle-tunnel' }),
  });
  assert.equal(mint.status, 201);
  const { token } = (await mint.json()) as { token: string };
  const home = join(dir, 'home');
  await mkdir(join(home, 'ws'), { recursive: true, mode: 0o755 });
  const target = { dir: join(home, 'inst'), workspace: join(home, 'ws') };
  const installed = await runTtma([
    'install', '--token', '-', '--platform-url', `http://127.0.0.1:${ports.platform}`, '--dir', target.dir, '--workspace', target.workspace,
    '--user', 'openclaw', '--tunnel-port', String(ports.tunnel), '--local-port', String(ports.local), '--json',
  ], { stdin: `${token}\n`, env: { HOME: home }, timeoutMs: 60_000 });
  assert.equal(installed.code, 0, installed.stderr);
  const result = JSON.parse(installed.stdout) as { doctorArgs: string[] };
  const record = JSON.parse(await readFile(join(target.dir, 'install.json'), 'utf8')) as { gatewayBundle: { sha256: string; version: string; target: { arch: string } } };
  assert.equal(record.gatewayBundle.sha256, bundle.sha256);
  assert.equal(record.gatewayBundle.target.arch, process.arch);

  // The installed copy, from a directory outside the checkout, with a clean environment.
  const entry = join(target.dir, 'gateway', 'dist', 'src', 'cli', 'ttma.js');
  assert.ok(!entry.startsWith(ROOT));
  const help = await execNode([entry, '--help'], { cwd: dir, env: cleanEnv() });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /usage: ttma <command>/);
  // doctor loads every module (zod, pino, uWebSockets.js, ...): the plain tar's copy fails right here.
  const doctor = await execNode([entry, ...result.doctorArgs, '--json'], { cwd: dir, env: cleanEnv() });
  assert.ok(doctor.stdout.trim() !== '', doctor.stderr);
  const checks = Object.fromEntries((JSON.parse(doctor.stdout) as { checks: { check: string; status: string }[] }).checks.map((c) => [c.check, c.status]));
  for (const name of ['webhook-key', 'secret-files', 'config', 'platform', 'install-units', 'install-secrets', 'install-digests']) {
    assert.equal(checks[name], 'ok', `${name}: ${doctor.stdout}`);
  }

  // The installed gateway with the installed settings, against the platform that minted the token.
  const credentials = join(target.dir, 'credentials');
  const gateway = await startNode('installed gateway', entry, [
    'gateway', '--tunnel-port', String(ports.tunnel), '--local-port', String(ports.local), '--workers', '1', '--public-host', HOST,
    '--platform-url', `http://127.0.0.1:${ports.platform}`, '--deployment-id', DEPLOYMENT, '--number', NUMBER,
    '--agent-secret-file', join(credentials, 'agent-secret'), '--webhook-public-key-file', join(credentials, 'webhook-public-key'),
  ], join(dir, 'gateway.log'), { cwd: dir, env: cleanEnv() });
  children.push(gateway);
  // The installer wrote the tunnel's ingress rules: the installed gateway names that file, it does not ask for them again.
  const named = `ingress rules (only the public paths reach the gateway): already in ${join(target.dir, 'cloudflared', 'config.yml')}, written by ttma install`;
  let startLog = '';
  for (const until = Date.now() + 5_000; !startLog.includes('ingress rules') && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    startLog = await readFile(join(dir, 'gateway.log'), 'utf8');
  }
  assert.ok(startLog.includes(named), startLog);
  assert.ok(!startLog.includes('put these ingress rules'), startLog);
  // Its native code came from the install: the media addon and uWebSockets.js's binary are mapped from there.
  const maps = await readFile(`/proc/${gateway.process.pid}/maps`, 'utf8');
  assert.match(maps, new RegExp(`${target.dir}/gateway/node_modules/uWebSockets\\.js/binaries/uws_linux_x64_\\d+\\.node|${target.dir}/gateway/node_modules/@btc-vision/uwebsockets\\.js/uws_linux_x64_\\d+\\.node`));
  assert.ok(!maps.includes(`${ROOT}node_modules`), 'nothing loaded from the checkout');

  const simApi = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${ports.sim}${path}`, {
      method,
      headers: { authorization: `Bearer ${(await readFile(files.apiKey, 'utf8')).trim()}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await res.json()) as Record<string, unknown>;
  };
  const placed = await simApi('POST', '/sim/calls/inbound', { from: '+15550109999', to: NUMBER, seconds: 2 });
  const id = placed['call_control_id'] as string;
  const deadline = Date.now() + 20_000;
  let report: Record<string, unknown>;
  for (;;) {
    report = await simApi('GET', `/sim/calls/${encodeURIComponent(id)}`);
    if (report['endedBy'] && report['echo']) break;
    assert.ok(Date.now() < deadline, `the call did not end: ${JSON.stringify(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(report['endedBy'], 'caller', JSON.stringify(report));
  assert.equal(report['streamsOpened'], 1);
  assert.ok((report['framesReturned'] as number) >= 80, `returned ${String(report['framesReturned'])}`);
  assert.ok((report['echo'] as { correlation: number }).correlation >= 0.9, JSON.stringify(report['echo']));
  const mapsAfter = await readFile(`/proc/${gateway.process.pid}/maps`, 'utf8');
  assert.ok(mapsAfter.includes(`${target.dir}/gateway/native/build/Release/ttma_media.node`), 'the media addon was loaded from the install');
  assert.equal(await stopChild(children.pop()!), 0, 'the installed gateway exits 0 on SIGTERM');
});

test('the repro: a plain tar of package.json and dist/src, unpacked outside the checkout, cannot run (hence the manifest check refuses such a bundle)', async () => {
  const plain = join(dir, 'plain');
  await mkdir(plain);
  const chunks: Buffer[] = [];
  for await (const c of create({ gzip: true, cwd: ROOT, portable: true }, ['package.json', 'dist/src'])) chunks.push(Buffer.from(c as Buffer));
  await writeFile(join(dir, 'plain.tar.gz'), Buffer.concat(chunks));
  await extract({ file: join(dir, 'plain.tar.gz'), cwd: plain });
  const doctor = await execNode([join(plain, 'dist/src/cli/ttma.js'), 'doctor', '--json'], { cwd: dir, env: cleanEnv() });
  assert.notEqual(doctor.code, 0);
  assert.match(doctor.stderr, /ERR_MODULE_NOT_FOUND/);
});
