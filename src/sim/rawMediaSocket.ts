/**
 * A minimal RFC 6455 WebSocket client for the media stream, on a plain TCP
 * socket: the opening handshake written and checked here (RFC 6455 4.1 and
 * 4.2.2), then text frames, each in one write with a fresh random mask (5.3).
 * It answers pings, reassembles fragmented messages, and closes with the
 * closing handshake. What it refuses, it closes with the RFC's code: a masked
 * or malformed server frame 1002, a message over `maxPayload` 1009.
 *
 * Reads land in one buffer shared by every raw socket (`onread`), so a read
 * allocates nothing and skips the Readable stream; going through node:http for
 * the upgrade (as the first version did) rules that out. Self-test at 800
 * calls, three alternated runs: 71-83 % of the generator's core against 76-93 %.
 *
 * Why not `ws` everywhere: the bench's load generator sends and times
 * hundreds of calls' frames from one core and must outrun the gateway it
 * measures; per frame, `ws` costs a stream write of two buffers and a
 * Writable's machinery on the way in (bench/RESULTS.md has the figures).
 * The simulator keeps `ws` by default (src/sim/mediaSocket.ts).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { closeReason } from '../wire/closeReason.js';
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

/**
 * Every raw socket reads into this one buffer (`onread`): reads are handled one
 * at a time on this thread, and whatever outlives its read (an incomplete frame,
 * a fragment) is copied out.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** An upgrade response whose headers do not end within this many bytes is refused. */
const MAX_UPGRADE_RESPONSE_BYTES = 16 * 1024;
/** Header names are RFC 9110 tokens; values may not break the line. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The opening handshake's request (RFC 6455 4.1); a caller's header that could split the request is refused. */
export function upgradeRequest(url: URL, headers: Record<string, string>, key: string): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`];
  const given = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) throw new Error(`header ${JSON.stringify(name)} is not a valid HTTP header`);
    given.add(name.toLowerCase());
    lines.push(`${name}: ${value}`);
  }
  if (!given.has('host')) lines.push(`Host: ${url.host}`);
  lines.push('Connection: Upgrade', 'Upgrade: websocket', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The status and headers (names lower-cased) of an upgrade response, or why it is malformed. */
export function parseUpgradeResponse(head: string): { status: number; headers: Map<string, string> } | string {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!status) return 'a malformed upgrade response status line';
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !HEADER_NAME.test(line.slice(0, colon))) return 'a malformed upgrade response header';
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    // Repeated headers are joined as RFC 9110 5.3 allows for lists.
    headers.set(name, headers.has(name) ? `${headers.get(name)!}, ${value}` : value);
  }
  return { status: Number(status[1]), headers };
}

/** What is wrong with a 101 answer (RFC 6455 4.2.2), or null. */
export function upgradeProblem(headers: Map<string, string>, expectedAccept: string): string | null {
  if ((headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') return 'the upgrade answered without Upgrade: websocket';
  if (!(headers.get('connection') ?? '').toLowerCase().split(/\s*,\s*/).includes('upgrade')) return 'the upgrade answered without Connection: Upgrade';
  if (headers.get('sec-websocket-accept') !== expectedAccept) return 'the upgrade answered with the wrong Sec-WebSocket-Accept';
  if (headers.has('sec-websocket-extensions') || headers.has('sec-websocket-protocol')) {
    return 'the upgrade agreed to an extension or subprotocol that was not asked for';
  }
  return null;
}

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
  const text = Buffer.from(closeReason(reason), 'utf8');
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

  // The upgrade by hand on a plain TCP socket, so that reads land in one shared buffer
  // (`onread`): no buffer allocated and no stream machinery per read.
  const url = options.target;
  if (url.protocol !== 'ws:') throw new Error(`the raw media socket speaks ws:// only, not ${url.protocol}`);
  const request = upgradeRequest(url, options.headers, key);
  let handshake: Buffer | null = Buffer.alloc(0);
  let opened = false;

  const onHandshakeBytes = (chunk: Buffer): void => {
    const head = Buffer.concat([handshake!, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_UPGRADE_RESPONSE_BYTES) failHandshake(`upgrade response headers over ${MAX_UPGRADE_RESPONSE_BYTES} bytes`);
      else handshake = head;
      return;
    }
    handshake = null;
    clearTimeout(handshakeTimer);
    const response = parseUpgradeResponse(head.subarray(0, end).toString('latin1'));
    if (typeof response === 'string') return failHandshake(response);
    if (response.status !== 101) {
      handlers.refused(response.status);
      return finish(ABNORMAL, `upgrade refused: HTTP ${response.status}`);
    }
    const problem = upgradeProblem(response.headers, expectedAccept);
    if (problem) return failHandshake(problem);
    opened = true;
    handlers.open();
    if (!closed && end + 4 < head.length) onData(Buffer.from(head.subarray(end + 4)));
  };

  const failHandshake = (reason: string): void => {
    clearTimeout(handshakeTimer);
    // Reported once: a socket error after the connect already failed is not news.
    if (closed) return;
    handlers.error(reason);
    finish(ABNORMAL, reason);
  };

  const tcp = connect({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    noDelay: true,
    onread: {
      buffer: SHARED_READ_BUFFER,
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        if (closed) return false;
        const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
        if (handshake) onHandshakeBytes(chunk);
        else onData(chunk);
        return true;
      },
    },
  });
  socket = tcp;
  const handshakeTimer = setTimeout(() => failHandshake(`no upgrade within ${options.handshakeTimeoutMs} ms`), options.handshakeTimeoutMs);
  tcp.once('connect', () => tcp.write(request));
  tcp.on('error', (err: NodeJS.ErrnoException) => {
    if (!opened) return failHandshake(err.message);
    lastError ||= `socket error: ${err.code ?? err.message}`;
    handlers.error(err.message);
  });
  tcp.on('end', () => (lastError ||= 'the peer ended the TCP connection'));
  tcp.on('close', () => {
    clearTimeout(handshakeTimer);
    finish(ABNORMAL, opened ? lastError : `the connection closed before the upgrade${lastError ? ` (${lastError})` : ''}`);
  });

  return {
    send(text) {
      if (closed || closeSent || !opened || !socket) return;
      socket.write(encodeClientFrame(OP_TEXT, text));
    },
    close(code, reason) {
      if (closed) return;
      if (!opened) {
        finish(ABNORMAL, 'closed before the upgrade');
        return;
      }
      sendClose(code, reason);
    },
    terminate() {
      if (closed) return;
      finish(ABNORMAL, lastError || 'terminated');
    },
    stall() {
      socket?.pause();
    },
  };
}
