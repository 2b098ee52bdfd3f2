/**
 * FAQ-10 at the gateway's start: as root under systemd ($INVOCATION_ID set)
 * it refuses with TTMA_ERR_CONFIG before anything runs (not even the
 * tunnel); as root elsewhere (tests and CI run as root) it starts with a
 * loud warning; as another user under systemd it starts. Real processes:
 * the tests run as root and start the other user's process with its uid.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../src/cli/processes.js';
import { rootVerdict } from '../../src/cli/rootGuard.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
const skip = IS_ROOT ? undefined : 'needs root: the refusal is about uid 0, and only root can start a process as another user';
const dir = mkdtempSync(join(tmpdir(), 'ttma-root-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

const secret = join(dir, 'agent.secret');
writeFileSync(secret, 's'.repeat(32));
chmodSync(secret, 0o600);

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs ttma until it exits, or until its ready line (then stops it). */
function ttma(args: string[], env: NodeJS.ProcessEnv, uid?: number): Promise<Run & { ready: boolean }> {
  return new Promise((resolve, reject) => {
    // As systemd starts a unit: $SYSTEMD_EXEC_PID is the started process's own pid (sh's, kept by exec).
    const asUnit = env['INVOCATION_ID'] !== undefined;
    const child = spawn(asUnit ? '/bin/sh' : process.execPath, asUnit ? ['-c', 'SYSTEMD_EXEC_PID=$$ exec "$0" "$@"', process.execPath, TTMA, ...args] : [TTMA, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '', TTMA_LOG_LEVEL: 'info', ...env },
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    let stdout = '';
    let stderr = '';
    let ready = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!ready && stdout.includes('"ready"')) {
        ready = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ttma did not exit within 20 s; stderr: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ready });
    });
  });
}

async function gatewayArgs(): Promise<string[]> {
  const [tunnelPort, localPort] = (await freePorts(2)) as [number, number];
  return [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '1', '--public-host', 'gw.trycloudflare.com',
    '--platform-url', 'http://127.0.0.1:2', '--deployment-id', 'dep-root', '--number', '+15550100000', '--agent-secret-file', secret,
  ];
}

test('the verdict: uid 0 started by a unit refuses, uid 0 elsewhere warns (an inherited unit environment too), any other uid is fine', () => {
  const unit = { INVOCATION_ID: '0f3c', SYSTEMD_EXEC_PID: '4242' };
  assert.equal(rootVerdict(0, unit, 4242, 1), 'refuse');
  assert.equal(rootVerdict(0, unit, 5151, 4242), 'warn', 'a child of the unit (a CI runner service running the tests) inherits its environment');
  assert.equal(rootVerdict(0, { INVOCATION_ID: '0f3c' }, 4242, 1), 'refuse', 'older systemd: the parent is systemd');
  assert.equal(rootVerdict(0, { INVOCATION_ID: '0f3c' }, 4242, 300), 'warn');
  assert.equal(rootVerdict(0, {}, 4242, 1), 'warn');
  assert.equal(rootVerdict(1000, unit, 4242, 1), 'ok');
  assert.equal(rootVerdict(undefined, unit, 4242, 1), 'ok');
});

test('as root under systemd the gateway refuses to start, before the tunnel or any secret', { skip }, async () => {
  // A stand-in tunnel that leaves a mark if it is ever started.
  const mark = join(dir, 'tunnel-ran');
  const fake = join(dir, 'cloudflared');
  writeFileSync(fake, `#!${process.execPath}\nrequire('node:fs').writeFileSync(${JSON.stringify(mark)}, 'ran');\nsetInterval(() => {}, 1000);\n`);
  chmodSync(fake, 0o755);
  writeFileSync(join(dir, 'config.yml'), 'tunnel: t\n');
  writeFileSync(join(dir, 'credentials.json'), '{}');
  const tunnel = ['--spawn-tunnel', fake, '--tunnel-config', join(dir, 'config.yml'), '--tunnel-credentials-file', join(dir, 'credentials.json'), '--tunnel-name', 'tunnel-1'];
  const run = await ttma([...(await gatewayArgs()), ...tunnel], { INVOCATION_ID: '6d1e0f2b3a4c5d6e7f8091a2b3c4d5e6' });
  assert.equal(run.ready, false, 'never ready');
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /TTMA_ERR_CONFIG: running as root \(uid 0\) under systemd: the unit must name the OpenClaw service user in User= \(FAQ-10\)/);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!existsSync(mark), 'the tunnel was never started');
  const printed = await ttma([...(await gatewayArgs()), '--print-config'], { INVOCATION_ID: '6d1e' });
  assert.equal(printed.code, 2);
});

test('as root outside systemd the gateway starts, with a loud warning', { skip }, async () => {
  const run = await ttma(await gatewayArgs(), {});
  assert.equal(run.ready, true, run.stderr);
  const warning = run.stderr.split('\n').find((l) => l.includes('RUNNING AS ROOT'));
  assert.ok(warning, run.stderr);
  assert.equal(JSON.parse(warning).level, 40, 'logged at warn');
  assert.match(warning, /never root \(FAQ-10\)/);
});

test('as another user under systemd the gateway starts, without the warning', { skip }, async () => {
  chownSync(secret, NOBODY, NOBODY);
  try {
    const run = await ttma(await gatewayArgs(), { INVOCATION_ID: '6d1e0f2b3a4c5d6e7f8091a2b3c4d5e6' }, NOBODY);
    assert.equal(run.ready, true, run.stderr);
    assert.ok(!run.stderr.includes('RUNNING AS ROOT'));
  } finally {
    chownSync(secret, 0, 0);
  }
});
