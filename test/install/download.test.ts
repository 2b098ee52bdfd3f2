/**
 * Bundle downloads against a real HTTP server on 127.0.0.1 that misbehaves
 * mid-body: every failure is a TtmaError that names the bundle and says
 * why, never undici's bare "terminated" or a DOMException.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { downloadVerified } from '../../src/installer/download.js';

const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
let server: Server;
let base: string;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '');
    if (route) return route(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function refusedAs(why: RegExp) {
  return (err: unknown) => {
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_DOWNLOAD), `expected ${ErrorCodes.INSTALL_DOWNLOAD}, got ${String(err)}`);
    assert.match((err as Error).message, why);
    return true;
  };
}

test('a connection reset in the middle of the body is a TtmaError naming the bundle and the reset', async () => {
  routes.set('/reset', (_req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(Buffer.alloc(1000));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  await assert.rejects(
    downloadVerified('gateway bundle', `${base}/reset`, '0'.repeat(64), 1_000_000),
    refusedAs(/^gateway bundle: the answer from http:\/\/127\.0\.0\.1:\d+\/reset broke off after 1000 bytes \(terminated: other side closed\); nothing was written$/),
  );
});

test('a body that stops arriving is cut off at the timeout as a TtmaError', async () => {
  routes.set('/slow', (_req, res) => {
    res.writeHead(200);
    res.write('x');
  });
  const started = Date.now();
  await assert.rejects(
    downloadVerified('skill bundle', `${base}/slow`, '0'.repeat(64), 1_000_000, 300),
    refusedAs(/^skill bundle: the answer from .*\/slow broke off after 1 bytes \(no complete answer within 0\.3 s\)/),
  );
  assert.ok(Date.now() - started < 5_000);
});

test('an endless body without a length is cut off at the size bound and the connection closed', async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => { closed = r; });
  routes.set('/endless', (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 1);
    res.on('close', () => { clearInterval(timer); closed(); });
  });
  await assert.rejects(downloadVerified('skill bundle', `${base}/endless`, '0'.repeat(64), 64 * 1024), refusedAs(/more than the 65536 bytes allowed/));
  await serverSawClose;
});

test('a good bundle still downloads and verifies', async () => {
  const body = Buffer.from('bundle bytes');
  routes.set('/good', (_req, res) => res.writeHead(200, { 'content-length': String(body.length) }).end(body));
  assert.deepEqual(await downloadVerified('skill bundle', `${base}/good`, sha256(body), 1024), body);
});
