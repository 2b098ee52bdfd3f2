/**
 * The minimal WebSocket client (src/sim/rawMediaSocket.ts) against a
 * hand-driven server on loopback: a real TCP socket that answers the upgrade
 * and then writes exactly the frames each case needs, well-formed or not.
 * Masking and the closing handshake are checked against `ws`'s server in
 * test/sim/MediaStreamClient.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { MediaSocketHandlers } from '../../src/sim/mediaSocket.js';
import { encodeClientFrame, openRawMediaSocket, parseUpgradeResponse, upgradeRequest } from '../../src/sim/rawMediaSocket.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

type Upgrade = (socket: Socket, key: string, head: string) => void;

/** A server that reads the upgrade request and hands the socket to `onUpgrade`. */
async function serve(onUpgrade: Upgrade): Promise<{ server: Server; url: URL }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const key = /sec-websocket-key: (\S+)/i.exec(head)?.[1] ?? '';
      onUpgrade(socket, key, head);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Closing the server drops what is still connected, so no test keeps the process alive.
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(cb);
  }) as typeof server.close;
  return { server, url: new URL(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/media/t`) };
}

function accept(socket: Socket, key: string, acceptValue = createHash('sha1').update(key + GUID).digest('base64')): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue}\r\n\r\n`);
}

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true, extraFirstByte = 0): Buffer {
  const length = payload.length;
  const head = length > 0xffff ? 10 : length > 125 ? 4 : 2;
  const frame = Buffer.alloc(head + length);
  frame[0] = (fin ? 0x80 : 0) | extraFirstByte | opcode;
  if (head === 2) frame[1] = length;
  else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, head);
  return frame;
}

/** Unmasks every client frame in a chunk (several can arrive in one read). */
function readClientFrames(data: Buffer): Array<{ opcode: number; payload: Buffer; masked: boolean }> {
  const frames = [];
  let at = 0;
  while (at < data.length) {
    const frame = readClientFrame(data.subarray(at));
    frames.push(frame);
    at += (frame.payload.length > 125 ? 4 : 2) + 4 + frame.payload.length;
  }
  return frames;
}

/** Unmasks one client frame (the tests read what the client sent). */
function readClientFrame(data: Buffer): { opcode: number; payload: Buffer; masked: boolean } {
  const masked = (data[1]! & 0x80) !== 0;
  let length = data[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    length = data.readUInt16BE(2);
    at = 4;
  }
  const mask = data.subarray(at, at + 4);
  const payload = Buffer.from(data.subarray(at + 4, at + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return { opcode: data[0]! & 0x0f, payload, masked };
}

interface Seen {
  opened: boolean;
  refused: number | null;
  errors: string[];
  messages: Array<{ text: string; binary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
}

function watch(): { handlers: MediaSocketHandlers; seen: Seen } {
  let closed!: (value: { code: number; reason: string }) => void;
  const seen: Seen = { opened: false, refused: null, errors: [], messages: [], closed: new Promise((resolve) => (closed = resolve)) };
  const handlers: MediaSocketHandlers = {
    open: () => (seen.opened = true),
    refused: (status) => (seen.refused = status),
    error: (message) => seen.errors.push(message),
    close: (code, reason) => closed({ code, reason }),
    message: (data, binary) => seen.messages.push({ text: data.toString('utf8'), binary }),
  };
  return { handlers, seen };
}

const options = (url: URL) => ({ target: url, headers: { 'x-test': '1' }, handshakeTimeoutMs: 2_000, maxPayload: 1024 });

test('client frames are masked with a fresh key each, and unmask to the text', () => {
  const a = encodeClientFrame(0x1, 'hello');
  const b = encodeClientFrame(0x1, 'hello');
  assert.equal(readClientFrame(a).payload.toString(), 'hello');
  assert.ok(readClientFrame(a).masked);
  assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6), 'two frames, two mask keys');
  const long = 'x'.repeat(300);
  assert.equal(readClientFrame(encodeClientFrame(0x1, long)).payload.toString(), long, '16-bit length');
});

test('messages, fragments reassembled, a ping answered, and the server\'s close reported with its code', { timeout: 10_000 }, async () => {
  const fromClient: Array<{ opcode: number; payload: string }> = [];
  const { server, url } = await serve((socket, key) => {
    accept(socket, key);
    socket.on('data', (chunk) => {
      for (const frame of readClientFrames(chunk)) {
        fromClient.push({ opcode: frame.opcode, payload: frame.payload.toString() });
        if (frame.opcode === 0x8) socket.end();
      }
    });
    // One write holding several frames, a frame split across writes, a fragmented message.
    socket.write(Buffer.concat([serverFrame(0x1, Buffer.from('one')), serverFrame(0x1, Buffer.from('two'))]));
    const split = serverFrame(0x1, Buffer.from('three'));
    socket.write(split.subarray(0, 3));
    setTimeout(() => {
      socket.write(split.subarray(3));
      socket.write(Buffer.concat([serverFrame(0x1, Buffer.from('fo'), false), serverFrame(0x9, Buffer.from('p')), serverFrame(0x0, Buffer.from('ur'))]));
      const close = Buffer.alloc(2 + 4);
      close.writeUInt16BE(4001, 0);
      close.write('done', 2);
      setTimeout(() => socket.write(serverFrame(0x8, close)), 20);
    }, 20);
  });
  const { handlers, seen } = watch();
  openRawMediaSocket(options(url), handlers);
  const closed = await seen.closed;
  assert.ok(seen.opened);
  assert.deepEqual(seen.messages.map((m) => m.text), ['one', 'two', 'three', 'four']);
  assert.deepEqual(closed, { code: 4001, reason: 'done' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(fromClient.map((f) => f.opcode), [0xa, 0x8], 'a pong, then the close echoed');
  assert.equal(fromClient[0]!.payload, 'p', 'the pong carries the ping\'s payload');
  server.close();
});

for (const [name, frame, code] of [
  ['a masked server frame', (() => { const f = serverFrame(0x1, Buffer.from('x')); f[1] = f[1]! | 0x80; return Buffer.concat([f, Buffer.alloc(4)]); })(), 1002],
  ['reserved bits', serverFrame(0x1, Buffer.from('x'), true, 0x40), 1002],
  ['an unknown opcode', serverFrame(0x3, Buffer.from('x')), 1002],
  ['a continuation with nothing to continue', serverFrame(0x0, Buffer.from('x')), 1002],
  ['a fragmented ping', serverFrame(0x9, Buffer.from('x'), false), 1002],
  ['a message over maxPayload', serverFrame(0x1, Buffer.alloc(2000, 0x61)), 1009],
  ['a 64-bit length over maxPayload', (() => { const f = Buffer.alloc(10); f[0] = 0x81; f[1] = 127; f.writeBigUInt64BE(2n ** 40n, 2); return f; })(), 1009],
] as const) {
  test(`the client closes on ${name} with ${code} and delivers nothing`, { timeout: 10_000 }, async () => {
    const fromClient: number[] = [];
    const { server, url } = await serve((socket, key) => {
      accept(socket, key);
      socket.on('data', (chunk) => {
        const sent = readClientFrame(chunk);
        if (sent.opcode === 0x8) fromClient.push(sent.payload.readUInt16BE(0));
      });
      socket.write(frame);
    });
    const { handlers, seen } = watch();
    openRawMediaSocket(options(url), handlers);
    const closed = await seen.closed;
    assert.equal(closed.code, code);
    assert.deepEqual(seen.messages, []);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(fromClient, [code], 'the close frame told the server why');
    server.close();
  });
}

test('an upgrade answered with another status, a wrong accept key, or nothing at all fails the connect', { timeout: 10_000 }, async () => {
  const refusing = await serve((socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  const a = watch();
  openRawMediaSocket(options(refusing.url), a.handlers);
  await a.seen.closed;
  assert.equal(a.seen.refused, 403);
  assert.equal(a.seen.opened, false);
  refusing.server.close();

  const wrongKey = await serve((socket, key) => accept(socket, key, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='));
  const b = watch();
  openRawMediaSocket(options(wrongKey.url), b.handlers);
  await b.seen.closed;
  assert.equal(b.seen.opened, false);
  assert.match(b.seen.errors.join(), /Sec-WebSocket-Accept/);
  wrongKey.server.close();

  const silent = await serve(() => {});
  const c = watch();
  openRawMediaSocket({ ...options(silent.url), handshakeTimeoutMs: 200 }, c.handlers);
  await c.seen.closed;
  assert.equal(c.seen.opened, false);
  assert.match(c.seen.errors.join(), /no upgrade within 200 ms/);
  silent.server.close();
});

test('the upgrade request carries the caller\'s headers and the Host, and refuses a header that could split it', () => {
  const url = new URL('ws://127.0.0.1:8080/v1/media/t?x=1');
  const request = upgradeRequest(url, { 'x-test': '1' }, 'k');
  assert.match(request, /^GET \/v1\/media\/t\?x=1 HTTP\/1\.1\r\n/);
  assert.match(request, /\r\nHost: 127\.0\.0\.1:8080\r\n/);
  assert.match(request, /\r\nx-test: 1\r\n/);
  assert.ok(request.endsWith('Sec-WebSocket-Version: 13\r\n\r\n'));
  assert.doesNotMatch(upgradeRequest(url, { host: 'edge.example' }, 'k'), /Host: 127/, 'a given host (the tunnel\'s) is not doubled');
  const splitting: Array<Record<string, string>> = [{ 'x-a': 'v\r\nInjected: 1' }, { 'x-a': 'v\n' }, { 'x a': 'v' }, { '': 'v' }, { 'x-a\r\n': 'v' }];
  for (const headers of splitting) {
    assert.throws(() => upgradeRequest(url, headers, 'k'), /not a valid HTTP header/);
  }
});

test('an upgrade response is parsed strictly', () => {
  const ok = parseUpgradeResponse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\nx-a: 2');
  assert.ok(typeof ok !== 'string');
  assert.equal(ok.status, 101);
  assert.equal(ok.headers.get('upgrade'), 'websocket');
  assert.equal(ok.headers.get('x-a'), '1, 2');
  for (const head of ['HTTP/2 101', 'HTTP/1.1 10', 'ICY 200 OK', '', 'HTTP/1.1 101 OK\r\nno colon here', 'HTTP/1.1 101 OK\r\n: empty name', 'HTTP/1.1 101 OK\r\nbad name: v']) {
    assert.equal(typeof parseUpgradeResponse(head), 'string', JSON.stringify(head));
  }
});

test('a response split across reads with a frame right behind it opens, and the frame is delivered', { timeout: 10_000 }, async () => {
  let seenHead = '';
  const { server, url } = await serve((socket, key, head) => {
    seenHead = head;
    const answer = Buffer.concat([
      Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n\r\n`),
      serverFrame(0x1, Buffer.from('first')),
    ]);
    socket.write(answer.subarray(0, 20));
    setTimeout(() => socket.write(answer.subarray(20)), 20);
    setTimeout(() => socket.end(), 60);
  });
  const { handlers, seen } = watch();
  openRawMediaSocket(options(url), handlers);
  await seen.closed;
  assert.ok(seen.opened);
  assert.deepEqual(seen.messages.map((m) => m.text), ['first']);
  assert.match(seenHead, /\r\nx-test: 1\r\n/);
  server.close();
});

test('a 101 without the upgrade headers, with endless headers, or with a broken status line fails the connect', { timeout: 10_000 }, async () => {
  const cases: Array<[string, (socket: Socket, key: string) => void, RegExp]> = [
    ['no Upgrade', (socket, key) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n\r\n`), /Upgrade: websocket/],
    ['no Connection', (socket, key) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\n\r\n`), /Connection: Upgrade/],
    ['an extension', (socket, key) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`), /extension/],
    ['endless headers', (socket) => socket.write(`HTTP/1.1 101 Switching Protocols\r\n${'X-Pad: y\r\n'.repeat(2000)}`), /over 16384 bytes/],
    ['a broken status line', (socket) => socket.write('HTTP/1.1 1O1 Nope\r\n\r\n'), /status line/],
    ['a close before the answer', (socket) => socket.end(), /closed before the upgrade/],
  ];
  for (const [name, answer, why] of cases) {
    const { server, url } = await serve(answer);
    const { handlers, seen } = watch();
    openRawMediaSocket(options(url), handlers);
    const closed = await seen.closed;
    assert.equal(seen.opened, false, name);
    assert.equal(closed.code, 1006, name);
    assert.match(`${seen.errors.join()} ${closed.reason}`, why, name);
    server.close();
  }
});

test('only ws:// is spoken, and a refused connection fails the connect', { timeout: 10_000 }, async () => {
  assert.throws(() => openRawMediaSocket(options(new URL('wss://127.0.0.1:1/x')), watch().handlers), /ws:\/\/ only/);
  const { server, url } = await serve(() => {});
  await new Promise((resolve) => server.close(resolve));
  const { handlers, seen } = watch();
  openRawMediaSocket(options(url), handlers);
  const closed = await seen.closed;
  assert.equal(seen.opened, false);
  assert.match(`${seen.errors.join()} ${closed.reason}`, /ECONNREFUSED/);
});
