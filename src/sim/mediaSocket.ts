/**
 * The media WebSocket under the simulator's MediaStreamClient, as an
 * interface with two implementations: `ws` (the well-kept library, the
 * simulator's default) and `raw` (src/sim/rawMediaSocket.ts, a minimal
 * RFC 6455 client for text frames that the bench's load generator uses: it
 * costs a fraction of `ws` per frame, and the generator must outrun the
 * gateway it measures).
 */
import WebSocket from 'ws';

export interface MediaSocketHandlers {
  /** The upgrade succeeded. */
  open(): void;
  /** The upgrade was answered with this HTTP status instead of 101. */
  refused(status: number): void;
  /** A socket or handshake error (close follows). */
  error(message: string): void;
  /** Always last. With no close frame, code 1006 and what the socket reported as the reason. */
  close(code: number, reason: string): void;
  message(data: Buffer, isBinary: boolean): void;
}

export interface MediaSocket {
  send(text: string): void;
  /** A close frame, then the TCP close once the peer answers. */
  close(code: number, reason: string): void;
  /** Drops the TCP connection at once. */
  terminate(): void;
  /**
   * The path goes silent both ways and stays open (a half-open connection):
   * nothing more is read, so pings go unanswered and a close is never seen.
   * The caller sends nothing more either; terminate() still drops it.
   */
  stall(): void;
}

export interface MediaSocketOptions {
  target: URL;
  headers: Record<string, string>;
  handshakeTimeoutMs: number;
  /** Largest message accepted from the peer, bytes. */
  maxPayload: number;
}

export type MediaSocketKind = 'ws' | 'raw';

/** The `ws` implementation. */
export function openWsMediaSocket(options: MediaSocketOptions, handlers: MediaSocketHandlers): MediaSocket {
  const ws = new WebSocket(options.target, {
    headers: options.headers,
    handshakeTimeout: options.handshakeTimeoutMs,
    perMessageDeflate: false,
    followRedirects: false,
    maxPayload: options.maxPayload,
  });
  ws.on('unexpected-response', (_req, res) => {
    res.resume();
    handlers.refused(res.statusCode ?? 0);
  });
  let lastError = '';
  let socket: import('node:net').Socket | undefined;
  ws.on('open', () => {
    // ws swallows the TCP socket's own errors (ECONNRESET...) and reports 1006 without a
    // reason; listening on the socket itself says whether the peer reset or ended it.
    socket = (ws as unknown as { _socket?: import('node:net').Socket })._socket;
    socket?.on('error', (err: NodeJS.ErrnoException) => (lastError ||= `socket error: ${err.code ?? err.message}`));
    socket?.on('end', () => (lastError ||= 'the peer ended the TCP connection'));
    handlers.open();
  });
  ws.on('error', (err) => {
    lastError = `socket error: ${err.message}`;
    handlers.error(err.message);
  });
  ws.on('close', (code, reason) => handlers.close(code, reason.toString('utf8') || (code === 1006 ? lastError : '')));
  ws.on('message', (data, isBinary) => handlers.message(data as Buffer, isBinary));
  return {
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    // ws answers pings as it reads them: a socket that reads nothing answers none.
    stall: () => socket?.pause(),
  };
}
