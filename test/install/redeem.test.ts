/**
 * The redemption answer against a real HTTP server on 127.0.0.1 playing a
 * broken or hostile platform: an endless answer is cut off at 64 KiB, an
 * answer that breaks off is a TtmaError, and nothing is written either way.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, isTtmaError, type ErrorCode } from '../../src/errors.js';
import { runInstall } from '../../src/installer/Installer.js';
import { formatInstallToken, newInstallToken } from '../../src/wire/installToken.js';

let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(410).end();
let server: Server;
let base: string;
let scratch: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ttma-redeem-'));
  server = createServer((req, res) => answer(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(scratch, { recursive: true, force: true });
});

let seq = 0;
async function install() {
  const root = join(scratch, `t${++seq}`);
  await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
  const run = runInstall({
    token: formatInstallToken(newInstallToken()), platformUrl: base, dir: join(root, 'install'), workspace: join(root, 'ws'),
    user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
  });
  return { root, run };
}

async function refused(code: ErrorCode, why: RegExp) {
  const { root, run } = await install();
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isTtmaError(err, code), `expected ${code}, got ${String((err as Error)?.stack ?? err)}`);
    assert.match((err as Error).message, why);
    return true;
  });
  assert.deepEqual(await readdir(root), ['ws']);
  assert.deepEqual(await readdir(join(root, 'ws')), []);
}

test('an endless redemption answer is cut off at 64 KiB and the connection closed, not read to the timeout', { timeout: 10_000 }, async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => { closed = r; });
  answer = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"envelope":"');
    const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 1);
    res.on('close', () => { clearInterval(timer); closed(); });
  };
  await refused(ErrorCodes.INSTALL_DOWNLOAD, /^the platform's answer to the token: more than the 65536 bytes allowed/);
  await serverSawClose;
});

test('a redemption answer that breaks off is a TtmaError naming the platform URL', async () => {
  answer = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write('{"envelope":{');
    setTimeout(() => res.socket?.destroy(), 50);
  };
  await refused(ErrorCodes.INSTALL_DOWNLOAD, /^the platform's answer to the token: the answer from http:\/\/127\.0\.0\.1:\d+\/v1\/install\/redeem broke off after 13 bytes \(terminated: other side closed\)/);
});

test('a refusal still says what the platform said', async () => {
  answer = (_req, res) => void res.writeHead(410, { 'content-type': 'application/json' }).end('{"error":{"message":"install token unknown, already used, or expired"}}');
  await refused(ErrorCodes.INSTALL_TOKEN, /^the platform refused the token: install token unknown, already used, or expired; nothing was written/);
  answer = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('null');
  await refused(ErrorCodes.INSTALL_TOKEN, /^the platform refused the token: status 200/);
});

test('a 5xx answer or a connection cut before any answer: the token may be used up, and the message says so', async () => {
  answer = (_req, res) => void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"the store cannot answer"}}');
  await refused(ErrorCodes.INSTALL_TOKEN, /^the platform could not redeem the token \(HTTP 503\): the store cannot answer; nothing was written; the install token may be used up: .*ask the platform operator for a new one$/);
  answer = (req) => void req.socket.destroy();
  await refused(ErrorCodes.INSTALL_DOWNLOAD, /^cannot reach the platform at .*; the install token may be used up: /);
});

test('a platform that refuses the connection never saw the token: the message says it is unused', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const root = join(scratch, `t${++seq}`);
  await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
  await assert.rejects(
    runInstall({
      token: formatInstallToken(newInstallToken()), platformUrl: `http://127.0.0.1:${port}`, dir: join(root, 'install'), workspace: join(root, 'ws'),
      user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
    }),
    (err: unknown) => isTtmaError(err, ErrorCodes.INSTALL_DOWNLOAD) && /ECONNREFUSED.*; the install token was not used: fix this and run the same command again$/.test((err as Error).message),
  );
});

test('a platform URL on a port fetch never connects to (6000, the Fetch standard\'s blocked ports): the token was not sent, and the message says to use another port', async () => {
  const root = join(scratch, `t${++seq}`);
  await mkdir(join(root, 'ws'), { recursive: true, mode: 0o755 });
  await assert.rejects(
    runInstall({
      token: formatInstallToken(newInstallToken()), platformUrl: 'http://127.0.0.1:6000', dir: join(root, 'install'), workspace: join(root, 'ws'),
      user: 'openclaw', nodePath: process.execPath, cloudflaredPath: '/usr/bin/cloudflared', tunnelPort: 8080, localPort: 8081,
    }),
    // Before: "fetch failed: bad port ... the install token may be used up", for a token that never left this machine.
    (err: unknown) => isTtmaError(err, ErrorCodes.INSTALL_DOWNLOAD)
      && /refuses to connect to .*run the platform on another port; nothing was written; the install token was not used: fix this and run the same command again$/.test((err as Error).message),
  );
  assert.deepEqual(await readdir(join(root, 'ws')), []);
});
