/**
 * A stand-in for the platform and the gateway, on real loopback sockets, for
 * the simulator's tests: two webhook receivers (platform first, gateway second)
 * that verify signatures with the shared verifier, and a media WebSocket server
 * that checks the upgrade token and echoes audio back. Not a test file itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { HEADER_SIGNATURE, HEADER_STREAM_TOKEN, HEADER_TIMESTAMP, type WebhookEnvelope } from '../../src/wire/telnyx.js';
import { parseEd25519PublicKey, verifyWebhookSignature } from '../../src/wire/webhookSignature.js';

export const TUNNEL_HOST = 'gw.sim-test.example';

export interface ReceivedWebhook {
  receiver: string;
  envelope: WebhookEnvelope;
  verified: boolean;
  refusal: string | null;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export interface MediaSession {
  callId: string;
  upgradeHeaders: http.IncomingHttpHeaders;
  frames: Array<Record<string, unknown>>;
  mediaArrivals: number[];
  /** When the socket was accepted (performance.now()): the caller's clock cannot have started before. */
  openedAt: number;
  marksBack: Array<{ name: string; at: number }>;
  closeCode: number | null;
  closed: Promise<void>;
  socket: WebSocket;
}

export type StatusPlan = (envelope: WebhookEnvelope, attempt: number) => number;

export class WebhookReceiver {
  readonly name: string;
  readonly received: ReceivedWebhook[] = [];
  readonly #server: http.Server;
  #publicKey: ReturnType<typeof parseEd25519PublicKey> | null = null;
  statusPlan: StatusPlan = () => 200;
  onEvent: ((hook: ReceivedWebhook) => void) | null = null;

  constructor(name: string) {
    this.name = name;
    this.#server = http.createServer((req, res) => this.handle(req, res));
  }

  /** Handles one webhook POST (also used when the media server doubles as the tunnel origin). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks);
        const verdict = verifyWebhookSignature({
          publicKey: this.#publicKey,
          signatureHeader: header(req.headers[HEADER_SIGNATURE]),
          timestampHeader: header(req.headers[HEADER_TIMESTAMP]),
          rawBody,
          nowSec: Math.floor(Date.now() / 1000),
        });
        const envelope = JSON.parse(rawBody.toString('utf8')) as WebhookEnvelope;
        const hook: ReceivedWebhook = {
          receiver: this.name,
          envelope,
          verified: verdict.ok,
          refusal: verdict.ok ? null : verdict.reason,
          headers: req.headers,
          at: performance.now(),
        };
        this.received.push(hook);
        const status = this.statusPlan(envelope, envelope.meta.attempt);
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        if (status < 300) this.onEvent?.(hook);
      });
    }
  }

  setPublicKey(base64: string): void {
    this.#publicKey = parseEd25519PublicKey(base64);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/${this.name}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Delivered (2xx) events of one call, first attempt that succeeded, in arrival order. */
  eventsFor(callId: string): string[] {
    return this.accepted(callId).map((h) => h.envelope.data.event_type);
  }

  accepted(callId: string): ReceivedWebhook[] {
    return this.received.filter(
      (h) => h.envelope.data.payload.call_control_id === callId && this.statusPlan(h.envelope, h.envelope.meta.attempt) < 300,
    );
  }

  async waitFor(callId: string, eventType: string, timeoutMs = 5000): Promise<ReceivedWebhook> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const hit = this.received.find(
        (h) => h.envelope.data.payload.call_control_id === callId && h.envelope.data.event_type === eventType,
      );
      if (hit) return hit;
      await sleep(10);
    }
    throw new Error(`${this.name}: no ${eventType} for ${callId} within ${timeoutMs} ms`);
  }
}

/** The media side of the gateway: token-checked upgrades, echo of every media frame. */
export class MediaServer {
  readonly sessions = new Map<string, MediaSession>();
  readonly tokens = new Map<string, string>();
  readonly #server: http.Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  refusedUpgrades = 0;
  /** Called for every frame the gateway gets (after echoing media). */
  onFrame: ((session: MediaSession, frame: Record<string, unknown>) => void) | null = null;

  /** `webhooks`: serve POSTs with this receiver too (one origin behind one tunnel host). */
  constructor(webhooks?: WebhookReceiver) {
    this.#server = http.createServer((req, res) => {
      if (webhooks && req.method === 'POST') webhooks.handle(req, res);
      else res.writeHead(404).end();
    });
    this.#server.on('upgrade', (req, socket, head) => {
      const match = /^\/v1\/media\/([^/?]+)/.exec(req.url ?? '');
      const callId = match?.[1] ? decodeURIComponent(match[1]) : '';
      const expected = this.tokens.get(callId);
      if (!expected || req.headers[HEADER_STREAM_TOKEN] !== expected) {
        this.refusedUpgrades++;
        socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      this.tokens.delete(callId); // one-time token
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws, callId, req.headers));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onSocket(ws: WebSocket, callId: string, upgradeHeaders: http.IncomingHttpHeaders): void {
    let closedResolve!: () => void;
    const session: MediaSession = {
      callId,
      upgradeHeaders,
      frames: [],
      mediaArrivals: [],
      openedAt: performance.now(),
      marksBack: [],
      closeCode: null,
      closed: new Promise<void>((resolve) => (closedResolve = resolve)),
      socket: ws,
    };
    this.sessions.set(callId, session);
    ws.on('message', (data) => {
      const now = performance.now();
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      session.frames.push(frame);
      if (frame.event === 'media') {
        session.mediaArrivals.push(now);
        const media = frame.media as { payload: string };
        ws.send(JSON.stringify({ event: 'media', media: { payload: media.payload } }));
      } else if (frame.event === 'mark') {
        session.marksBack.push({ name: (frame.mark as { name: string }).name, at: now });
      }
      this.onFrame?.(session, frame);
    });
    ws.on('close', (code) => {
      session.closeCode = code;
      closedResolve();
    });
  }
}

export function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
