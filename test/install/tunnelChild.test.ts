/**
 * Single-unit mode: `ttma gateway --spawn-tunnel` starts the tunnel program
 * before reading secrets, with an environment built from nothing. The test
 * starts a real gateway whose own environment carries canary secrets, then
 * reads the tunnel child's /proc/<pid>/environ and cmdline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TUNNEL_ENV } from '../../src/cli/tunnelChild.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));
const AGENT_SECRET = 'agent-secret-canary-0123456789abcdef0123456789';
const ENV_CANARY = 'env-secret-canary-9876543210';
const skip = process.platform === 'linux' ? undefined : '/proc is Linux only';

test('the tunnel child holds no secret: its environment is exactly the fixed one', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-tunnel-'));
  // A stand-in for cloudflared: a real program that stays up and ignores its arguments. It also
  // tries to read the agent secret's file, as a curious tunnel could: same user, so it can.
  const fake = join(dir, 'cloudflared');
  const stolen = join(dir, 'stolen');
  await writeFile(fake, `#!${process.execPath}\nconst fs = require('node:fs');\ntry { fs.writeFileSync(${JSON.stringify(stolen)}, fs.readFileSync(${JSON.stringify(join(dir, 'agent-secret'))})); } catch {}\nsetInterval(() => {}, 1000);\n`);
  await chmod(fake, 0o755);
  await writeFile(join(dir, 'agent-secret'), AGENT_SECRET, { mode: 0o600 });
  await writeFile(join(dir, 'config.yml'), 'tunnel: t\n');
  await writeFile(join(dir, 'credentials.json'), '{}');
  const gateway = spawn(process.execPath, [
    TTMA, 'gateway', '--tunnel-port', '0', '--local-port', '0', '--workers', '1', '--public-host', 'gw.trycloudflare.com',
    '--platform-url', 'http://127.0.0.1:2', '--deployment-id', 'dep-tunnel', '--number', '+15550100000',
    '--agent-secret-file', join(dir, 'agent-secret'),
    '--spawn-tunnel', fake, '--tunnel-config', join(dir, 'config.yml'), '--tunnel-credentials-file', join(dir, 'credentials.json'), '--tunnel-name', 'tunnel-1',
  ], {
    env: { ...process.env, TTMA_AGENT_SECRET: ENV_CANARY, AWS_SECRET_ACCESS_KEY: ENV_CANARY, TTMA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  gateway.stderr.on('data', (c: Buffer) => { stderr += c; });
  try {
    const ready = await new Promise<{ tunnelPid: number }>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`gateway not ready in 20 s: ${stderr}`)), 20_000);
      gateway.stdout.on('data', (c: Buffer) => {
        out += c;
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      });
      gateway.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
    });
    assert.ok(Number.isInteger(ready.tunnelPid));
    const environ = (await readFile(`/proc/${ready.tunnelPid}/environ`, 'utf8')).split('\0').filter(Boolean);
    assert.deepEqual(environ.sort(), Object.entries(TUNNEL_ENV).map(([k, v]) => `${k}=${v}`).sort());
    const cmdline = await readFile(`/proc/${ready.tunnelPid}/cmdline`, 'utf8');
    for (const text of [environ.join('\n'), cmdline]) {
      assert.ok(!text.includes(AGENT_SECRET), 'no agent secret');
      assert.ok(!text.includes(ENV_CANARY), 'nothing of the gateway environment');
    }
    // The gateway's own environment did carry the canary: the scrub is what kept it out.
    assert.ok((await readFile(`/proc/${gateway.pid}/environ`, 'utf8')).includes(ENV_CANARY));

    // What the scrub does not do, said at start (FAQ-11 holds only with two units): the tunnel can read the secret files.
    const warning = stderr.split('\n').find((l) => l.includes('single-unit mode (--spawn-tunnel)'));
    assert.ok(warning, stderr);
    const line = JSON.parse(warning) as { level: number; msg: string; tunnelPid: number; readableByTunnel: string[] };
    assert.equal(line.level, 40, 'a warning');
    assert.equal(line.tunnelPid, ready.tunnelPid);
    assert.deepEqual(line.readableByTunnel, [join(dir, 'agent-secret')]);
    assert.match(line.msg, new RegExp(`cloudflared runs as the gateway's own user \\(uid ${process.getuid?.()}\\), so it can read the files ${join(dir, 'agent-secret')}, /proc/${gateway.pid}/environ and cmdline`));
    assert.match(line.msg, /FAQ-11 .* holds only in the installed two-unit layout \(ttma-tunnel\.service with DynamicUser=yes\)/);
    assert.ok(!warning.includes(AGENT_SECRET), 'the warning names files, not their content');
    // And it is true: the stand-in read the secret's file.
    assert.equal(await readFile(stolen, 'utf8'), AGENT_SECRET);
  } finally {
    gateway.kill('SIGTERM');
    await new Promise((r) => (gateway.exitCode !== null ? r(null) : gateway.once('exit', r)));
    await rm(dir, { recursive: true, force: true });
  }
});
