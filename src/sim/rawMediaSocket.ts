/**
 * A minimal RFC 6455 WebSocket client for the media stream: the upgrade
 * through node:http (its parser, not ours), then frames read and written on
 * the TCP socket directly. It sends text frames, each in one write with a
 * fresh random mask (RFC 6455 5.3), answers pings, reassembles fragmented
 * messages, and closes with the closing handshake. What it refuses, it
 * closes with the RFC's code: a masked or malformed server frame 1002, a
 * message over `maxPayload` 1009.
 *
 * Why not `ws` everywhere: the bench's load generator sends and times
 * hundreds of calls' frames from one core and must outrun the gateway it
 * measures; per frame, `ws` costs a stream write of two buffers and a
 * Writable's machinery on the way in (bench/RESULTS.md has the figures).
 * The simulator keeps `ws` by default (src/sim/mediaSocket.ts).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { MediaSocket, MediaSocketHandlers, MediaSocketOptions } from './mediaSocket.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** Close codes (RFC 6455 7.4.1). */
const PROTOCOL_ERROR = 1002;
const TOO_BIG = 1009;
const NO_STATUS = 1005;
const ABNORMAL = 1006;
/** How long to wait for the peer's close frame after ours before dropping the socket. */
const CLOSE_WAIT_MS = 2_000;

/** Random mask keys, drawn 4 bytes at a time from a refilled pool (one getrandom call per 1,024 frames). */
const maskPool = Buffer.alloc(4096);
let maskOffset = maskPool.length;
function nextMask(): number {
  if (maskOffset === maskPool.length) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  const key = maskPool.readUInt32BE(maskOffset);
  maskOffset += 4;
  return key;
}

/** One masked client frame, header and payload in one buffer. */
export function encodeClientFrame(opcode: number, payload: Buffer | string): Buffer {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const extra = length > 0xffff ? 8 : length > 125 ? 2 : 0;
  const head = 2 + extra + 4;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = 0x80 | opcode;
  if (extra === 0) frame[1] = 0x80 | length;
  else if (extra === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const key = nextMask();
  frame.writeUInt32BE(key, 2 + extra);
  if (typeof payload === 'string') frame.write(payload, head, 'utf8');
  else payload.copy(frame, head);
  const m0 = key >>> 24;
  const m1 = (key >>> 16) & 0xff;
  const m2 = (key >>> 8) & 0xff;
  const m3 = key & 0xff;
  let i = head;
  const end = head + length;
  for (; i + 3 < end; i += 4) {
    frame[i] = frame[i]! ^ m0;
    frame[i + 1] = frame[i + 1]! ^ m1;
    frame[i + 2] = frame[i + 2]! ^ m2;
    frame[i + 3] = frame[i + 3]! ^ m3;
  }
  // The last 1 to 3 bytes: the key's bytes in order, high byte first.
  for (let shift = 24; i < end; i++, shift -= 8) frame[i] = frame[i]! ^ ((key >>> shift) & 0xff);
  return frame;
}

function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 120), 'utf8');
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

export function openRawMediaSocket(options: MediaSocketOptions, handlers: MediaSocketHandlers): MediaSocket {
  const key = randomBytes(16).toString('base64');
  const expectedAccept = createHash('sha1').update(key + GUID).digest('base64');
  let socket: Socket | null = null;
  let closed = false;
  let closeSent = false;
  let lastError = '';
  let closeTimer: NodeJS.Timeout | null = null;
  /** Bytes of an incomplete frame, kept until the rest arrives. */
  let pending: Buffer | null = null;
  /** A fragmented message being reassembled. */
  let fragments: Buffer[] | null = null;
  let fragmentsBytes = 0;
  let fragmentsBinary = false;

  const finish = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    if (closeTimer) clearTimeout(closeTimer);
    socket?.destroy();
    handlers.close(code, reason);
  };

  const sendClose = (code: number, reason: string): void => {
    if (closeSent || !socket || socket.destroyed) return;
    closeSent = true;
    socket.write(encodeClientFrame(OP_CLOSE, closePayload(code, reason)));
    closeTimer = setTimeout(() => finish(code, reason), CLOSE_WAIT_MS);
    closeTimer.unref();
  };

  /** We refuse what the peer sent: close frame with the RFC's code, then drop. */
  const fail = (code: number, reason: string): void => {
    lastError = reason;
    sendClose(code, reason);
    socket?.end();
    finish(code, reason);
  };

  const deliver = (opcode: number, fin: boolean, payload: Buffer): void => {
    if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (fragments) return fail(PROTOCOL_ERROR, 'a new message inside a fragmented one');
      if (fin) return handlers.message(payload, opcode === OP_BINARY);
      fragments = [Buffer.from(payload)];
      fragmentsBytes = payload.length;
      fragmentsBinary = opcode === OP_BINARY;
      return;
    }
    if (opcode === OP_CONTINUATION) {
      if (!fragments) return fail(PROTOCOL_ERROR, 'a continuation frame with no message to continue');
      fragmentsBytes += payload.length;
      if (fragmentsBytes > options.maxPayload) return fail(TOO_BIG, `message over ${options.maxPayload} bytes`);
      fragments.push(Buffer.from(payload));
      if (!fin) return;
      const whole = Buffer.concat(fragments, fragmentsBytes);
      fragments = null;
      return handlers.message(whole, fragmentsBinary);
    }
    if (!fin || payload.length > 125) return fail(PROTOCOL_ERROR, 'a fragmented or oversized control frame');
    if (opcode === OP_PING) {
      if (!closeSent) socket?.write(encodeClientFrame(OP_PONG, payload));
      return;
    }
    if (opcode === OP_PONG) return;
    if (opcode === OP_CLOSE) {
      if (payload.length === 1) return fail(PROTOCOL_ERROR, 'a close frame of one byte');
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : NO_STATUS;
      const reason = payload.subarray(2).toString('utf8');
      // Echo the close (RFC 6455 5.5.1), then the server closes the TCP connection.
      sendClose(payload.length >= 2 ? code : 1000, '');
      socket?.end();
      finish(code, reason);
      return;
    }
    fail(PROTOCOL_ERROR, `unknown opcode ${opcode}`);
  };

  const onData = (chunk: Buffer): void => {
    const data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let at = 0;
    while (!closed) {
      if (data.length - at < 2) break;
      const b0 = data[at]!;
      const b1 = data[at + 1]!;
      if ((b0 & 0x70) !== 0) return fail(PROTOCOL_ERROR, 'reserved bits set (no extension was agreed)');
      if ((b1 & 0x80) !== 0) return fail(PROTOCOL_ERROR, 'a masked frame from the server');
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (data.length - at < 4) break;
        length = data.readUInt16BE(at + 2);
        head = 4;
      } else if (length === 127) {
        if (data.length - at < 10) break;
        const big = data.readBigUInt64BE(at + 2);
        if (big > BigInt(options.maxPayload)) return fail(TOO_BIG, `message over ${options.maxPayload} bytes`);
        length = Number(big);
        head = 10;
      }
      if (length > options.maxPayload) return fail(TOO_BIG, `message over ${options.maxPayload} bytes`);
      if (data.length - at < head + length) break;
      // A view, not a copy: handlers read a message synchronously (fragments are copied).
      deliver(b0 & 0x0f, (b0 & 0x80) !== 0, data.subarray(at + head, at + head + length));
      at += head + length;
    }
    if (!closed && at < data.length) pending = Buffer.from(data.subarray(at));
  };

  const url = options.target;
  const req = request({
    host: url.hostname,
    port: url.port || 80,
    path: `${url.pathname}${url.search}`,
    agent: false,
    headers: {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
    },
  });
  const handshakeTimer = setTimeout(() => {
    req.destroy(new Error(`no upgrade within ${options.handshakeTimeoutMs} ms`));
  }, options.handshakeTimeoutMs);
  req.on('response', (res) => {
    clearTimeout(handshakeTimer);
    res.resume();
    handlers.refused(res.statusCode ?? 0);
    finish(ABNORMAL, `upgrade refused: HTTP ${res.statusCode ?? 0}`);
  });
  req.on('error', (err) => {
    clearTimeout(handshakeTimer);
    if (socket || closed) return;
    handlers.error(err.message);
    finish(ABNORMAL, err.message);
  });
  req.on('upgrade', (res, upgraded, head) => {
    clearTimeout(handshakeTimer);
    if (res.headers['sec-websocket-accept'] !== expectedAccept) {
      upgraded.destroy();
      handlers.error('the upgrade answered with the wrong Sec-WebSocket-Accept');
      finish(ABNORMAL, 'bad Sec-WebSocket-Accept');
      return;
    }
    if (res.headers['sec-websocket-extensions'] || res.headers['sec-websocket-protocol']) {
      upgraded.destroy();
      handlers.error('the upgrade agreed to an extension or subprotocol that was not asked for');
      finish(ABNORMAL, 'unrequested extension or subprotocol');
      return;
    }
    socket = upgraded;
    upgraded.setNoDelay(true);
    upgraded.on('data', onData);
    upgraded.on('error', (err: NodeJS.ErrnoException) => {
      lastError ||= `socket error: ${err.code ?? err.message}`;
      handlers.error(err.message);
    });
    upgraded.on('end', () => (lastError ||= 'the peer ended the TCP connection'));
    upgraded.on('close', () => finish(ABNORMAL, lastError));
    handlers.open();
    if (head.length > 0) onData(head);
  });
  req.end();

  return {
    send(text) {
      if (closed || closeSent || !socket) return;
      socket.write(encodeClientFrame(OP_TEXT, text));
    },
    close(code, reason) {
      if (closed) return;
      if (!socket) {
        req.destroy();
        finish(ABNORMAL, 'closed before the upgrade');
        return;
      }
      sendClose(code, reason);
    },
    terminate() {
      if (closed) return;
      req.destroy();
      finish(ABNORMAL, lastError || 'terminated');
    },
  };
}
