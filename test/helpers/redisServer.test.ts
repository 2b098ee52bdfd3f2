import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { redisUnavailable, startRedisServer } from './redisServer.js';

const skip = redisUnavailable();

test('the test redis-server starts on loopback, answers, and stops', { skip }, async () => {
  const server = await startRedisServer();
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    assert.equal(await client.set('k', 'v'), 'OK');
    assert.equal(await client.getdel('k'), 'v');
    assert.equal(await client.get('k'), null);
  } finally {
    client.disconnect();
    await server.stop();
  }
});

test('a server a test forgot to stop neither keeps the test process alive nor outlives it', { skip, timeout: 30_000 }, async () => {
  const helper = new URL('./redisServer.js', import.meta.url).href;
  // A process that starts one and ends without stopping it (as a failed test's file does).
  const script = `import { startRedisServer } from ${JSON.stringify(helper)}; const s = await startRedisServer(); console.log(s.port);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the process did not exit within 10 s of its last line'));
    }, 10_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  assert.equal(code, 0);
  const port = Number(out.trim());
  assert.ok(port > 0, `the server's port (${out.trim()})`);
  // Killed at exit: its port refuses connections (bounded wait for the kernel to tear it down).
  const deadline = Date.now() + 3_000;
  while (await accepts(port)) {
    assert.ok(Date.now() < deadline, `redis-server still listening on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
