/**
 * The provider's side of one media WebSocket (DESIGN.md 3a): the simulator is
 * the client, the gateway the server.
 *
 * Out: `connected`, `start`, `media` (track inbound, string counters), `dtmf`,
 * `mark` echoes, `stop`. In: `media` (decoded with the stream's return codec),
 * `mark`, `clear`. Anything else, or anything malformed, is counted and
 * reported, never trusted.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { newMediaFrameScan, scanMediaFrame } from '../wire/mediaFrameScan.js';
import { HEADER_STREAM_TOKEN } from '../wire/telnyx.js';
import { codecSampleRate, createSimDecoder, type SimCodec, type SimDecoder } from './codecs.js';
import { rateFitsCodec } from './returnLeg.js';
import { DEFAULTS, TUNNEL_EDGE_IP } from './constants.js';
import { newRayId, newUuid } from './ids.js';
import { openWsMediaSocket, type MediaSocket, type MediaSocketHandlers, type MediaSocketKind } from './mediaSocket.js';
import { openRawMediaSocket } from './rawMediaSocket.js';
import { tunnelEdgeHeaders } from './Tunnels.js';

export interface StreamStartInfo {
  callControlId: string;
  callSessionId: string;
  from: string;
  to: string;
  clientState: string | null;
}

export interface MediaStreamHandlers {
  /** The upgrade succeeded. */
  onOpen(): void;
  /** Could not connect, or the upgrade was refused. Called at most once, never after onOpen. */
  onConnectFailed(reason: string): void;
  /** The gateway closed (or the socket broke) while we had not asked to close. */
  onPeerClosed(code: number, reason: string): void;
  onMedia(pcm: Int16Array, arrivalMs: number): void;
  onMark(name: string, arrivalMs: number): void;
  onClear(arrivalMs: number): void;
  onMalformed(why: string): void;
}

export interface MediaStreamClientOptions {
  /** The loopback URL to connect to (the tunnel's origin). */
  target: URL;
  /** Public hostname when going through the simulated tunnel (adds edge headers). */
  tunnelHost: string | null;
  tunnelHeaders: boolean;
  token: string | undefined;
  /** Encoding of what we send (the `start` frame's media_format). */
  codec: SimCodec;
  /** Encoding of what the gateway sends back. */
  returnCodec: SimCodec;
  /**
   * The rate that audio was declared at (stream_bidirectional_sampling_rate, or
   * its default 8000: src/sim/returnLeg.ts). Default: the codec's own rate, for a
   * client that talks to the gateway directly rather than through Call Control.
   */
  returnSampleRate?: number;
  handlers: MediaStreamHandlers;
  logger: Logger;
  /**
   * Decode what the gateway sends back (default true). A load generator that
   * only times the frames turns it off: onMedia then gets an empty array
   * (the payload is still checked to be base64 of a non-empty frame).
   */
  decodeReturned?: boolean;
  handshakeTimeoutMs?: number;
  /** The WebSocket client under it (src/sim/mediaSocket.ts): `ws` (default) or the bench's leaner `raw`. */
  socket?: MediaSocketKind;
}

type StreamState = 'idle' | 'connecting' | 'open' | 'stalled' | 'closing' | 'closed';

/**
 * Decodes base64, or returns null when it is not: node's decoder skips junk
 * silently, so a payload that decodes to fewer bytes than its length promises
 * had junk in it (cheaper than a regex over every frame).
 */
function decodeBase64(text: string): Buffer | null {
  if (text.length === 0 || text.length % 4 !== 0) return null;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === (text.length / 4) * 3 - padding ? bytes : null;
}

export class MediaStreamClient {
  readonly streamId = newUuid();
  readonly codec: SimCodec;
  readonly returnCodec: SimCodec;
  readonly #options: MediaStreamClientOptions;
  readonly #handlers: MediaStreamHandlers;
  #socket: MediaSocket | null = null;
  #state: StreamState = 'idle';
  #sequence = 0;
  #chunk = 0;
  readonly #decoder: SimDecoder;

  constructor(options: MediaStreamClientOptions) {
    this.#options = options;
    this.#handlers = options.handlers;
    this.codec = options.codec;
    this.returnCodec = options.returnCodec;
    const returnRate = options.returnSampleRate ?? codecSampleRate(options.returnCodec);
    if (!rateFitsCodec(options.returnCodec, returnRate)) {
      // Only when the request named neither codec (the call's own was used): flagged, decoded at the codec's own rate.
      options.logger.warn({ codec: options.returnCodec, sampleRate: returnRate }, 'return leg declared at a rate its codec cannot be played at');
    }
    this.#decoder = createSimDecoder(options.returnCodec, returnRate);
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  get state(): StreamState {
    return this.#state;
  }

  connect(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'connecting';
    const { target, tunnelHost, token } = this.#options;
    const headers: Record<string, string> = {};
    if (tunnelHost && this.#options.tunnelHeaders) Object.assign(headers, tunnelEdgeHeaders(tunnelHost, TUNNEL_EDGE_IP, newRayId()));
    if (token !== undefined) headers[HEADER_STREAM_TOKEN] = token;
    const handlers: MediaSocketHandlers = {
      refused: (status) => {
        this.#failConnect(`media socket upgrade refused: HTTP ${status}`);
        this.#socket?.terminate();
      },
      open: () => {
        if (this.#state !== 'connecting') return;
        this.#state = 'open';
        this.#handlers.onOpen();
      },
      error: (message) => {
        if (this.#state === 'connecting') this.#failConnect(`media socket connect failed: ${message}`);
        else this.#options.logger.debug({ streamId: this.streamId, err: message }, 'media socket error');
      },
      close: (code, reason) => {
        const was = this.#state;
        this.#state = 'closed';
        this.#socket = null;
        if (was === 'connecting') this.#failConnect(`media socket closed during upgrade (code ${code})`);
        // A stalled socket reads nothing, but a reset from the far end still reaches it.
        else if (was === 'open' || was === 'stalled') this.#handlers.onPeerClosed(code, reason);
      },
      message: (data, isBinary) => this.#onMessage(data, isBinary),
    };
    const open = this.#options.socket === 'raw' ? openRawMediaSocket : openWsMediaSocket;
    try {
      this.#socket = open(
        { target, headers, handshakeTimeoutMs: this.#options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs, maxPayload: DEFAULTS.maxMediaMessageBytes },
        handlers,
      );
    } catch (err) {
      this.#failConnect(`cannot open media socket: ${errorMessage(err)}`);
    }
  }

  /** `connected` then `start`, as Telnyx sends them once the socket is open. */
  sendStart(info: StreamStartInfo): void {
    this.#sendText('{"event":"connected","version":"1.0.0"}');
    this.#send({
      event: 'start',
      sequence_number: String(++this.#sequence),
      stream_id: this.streamId,
      start: {
        call_control_id: info.callControlId,
        call_session_id: info.callSessionId,
        from: info.from,
        to: info.to,
        client_state: info.clientState,
        custom_parameters: {},
        media_format: { encoding: this.codec, sample_rate: codecSampleRate(this.codec), channels: 1 },
      },
    });
  }

  /** One caller frame, encoded and base64'd. `timestampMs` is the frame's offset in the stream. */
  sendMedia(payload: string, timestampMs: number): void {
    // Built by hand: this runs 50 times a second per call.
    this.#sendText(
      `{"event":"media","sequence_number":"${++this.#sequence}","stream_id":"${this.streamId}",` +
        `"media":{"track":"inbound","chunk":"${++this.#chunk}","timestamp":"${Math.round(timestampMs)}","payload":"${payload}"}}`,
    );
  }

  sendDtmf(digit: string): void {
    this.#send({ event: 'dtmf', sequence_number: String(++this.#sequence), stream_id: this.streamId, dtmf: { digit } });
  }

  sendMark(name: string): void {
    this.#send({ event: 'mark', sequence_number: String(++this.#sequence), stream_id: this.streamId, mark: { name } });
  }

  /** `stop`, then a normal close (1000). */
  stopAndClose(callControlId: string): void {
    if (this.#state === 'open') {
      this.#send({
        event: 'stop',
        sequence_number: String(++this.#sequence),
        stream_id: this.streamId,
        stop: { call_control_id: callControlId },
      });
      this.#state = 'closing';
      this.#socket?.close(1000, 'call ended');
    } else if (this.#state === 'connecting' || this.#state === 'idle' || this.#state === 'stalled') {
      this.#state = 'closed';
      this.#socket?.terminate();
    }
  }

  /**
   * The path to the gateway goes silent both ways without closing (a
   * half-open connection): nothing is sent or read from here on, pings go
   * unanswered, and the gateway's close is never seen. terminate() ends it.
   */
  stall(): void {
    if (this.#state !== 'open') return;
    this.#state = 'stalled';
    this.#socket?.stall();
  }

  /** Drops the socket at once (simulator shutdown). */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#socket?.terminate();
    this.#socket = null;
  }

  #failConnect(reason: string): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'closed';
    this.#handlers.onConnectFailed(reason);
  }

  #send(frame: unknown): void {
    this.#sendText(JSON.stringify(frame));
  }

  #sendText(text: string): void {
    if (this.#state !== 'open' || !this.#socket) return;
    this.#socket.send(text);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#state !== 'open') return;
    const arrivalMs = performance.now();
    if (isBinary) {
      this.#handlers.onMalformed('binary message (frames are JSON text)');
      return;
    }
    // The frame of every 20 ms, read in place (the gateway's own fast path); anything else is parsed.
    if (scanMediaFrame(data, SCAN, PAYLOAD_SCRATCH)) {
      const pcm = this.#options.decodeReturned === false ? NO_PCM : this.#decoder.decode(Buffer.from(PAYLOAD_SCRATCH.subarray(0, SCAN.payloadBytes)));
      this.#handlers.onMedia(pcm, arrivalMs);
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      this.#handlers.onMalformed('message is not JSON');
      return;
    }
    if (typeof frame !== 'object' || frame === null) {
      this.#handlers.onMalformed('message is not a JSON object');
      return;
    }
    const msg = frame as Record<string, unknown>;
    switch (msg.event) {
      case 'media': {
        const media = msg.media as Record<string, unknown> | undefined;
        const payload = media?.payload;
        const bytes = typeof payload === 'string' ? decodeBase64(payload) : null;
        if (!bytes || bytes.length === 0) {
          this.#handlers.onMalformed('media frame without a base64 payload');
          return;
        }
        const pcm = this.#options.decodeReturned === false ? NO_PCM : this.#decoder.decode(bytes);
        this.#handlers.onMedia(pcm, arrivalMs);
        return;
      }
      case 'mark': {
        const name = (msg.mark as Record<string, unknown> | undefined)?.name;
        if (typeof name !== 'string') {
          this.#handlers.onMalformed('mark frame without a name');
          return;
        }
        this.#handlers.onMark(name, arrivalMs);
        return;
      }
      case 'clear':
        this.#handlers.onClear(arrivalMs);
        return;
      default:
        this.#handlers.onMalformed(`unknown event ${JSON.stringify(String(msg.event)).slice(0, 40)}`);
    }
  }
}

const NO_PCM = new Int16Array(0);
/** Shared by every stream of this thread: a message is read synchronously, start to end. */
const SCAN = newMediaFrameScan();
const PAYLOAD_SCRATCH = new Uint8Array(DEFAULTS.maxMediaMessageBytes);

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
