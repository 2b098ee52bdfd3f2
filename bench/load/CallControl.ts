/**
 * Call set-up for the load generator: the provider's signed webhooks (the
 * simulator's WebhookSigner and WebhookSender) and, standing in for the
 * platform and the provider's answer action, the platform's signalling API
 * (`/v1/signal/calls/{id}/answer|hangup`, src/wire/platformApi.ts). An answer
 * opens the call's media stream to the stream URL with its one-time token,
 * through the simulator's tunnel map.
 *
 * It also accepts the gateway's control connection (src/wire/controlChannel.ts):
 * hello, heartbeat pings and an acknowledgement per usage report, so the gateway
 * runs connected, as in production, rather than retrying on a 404.
 *
 * Why a stand-in: the bench measures media, and set-up happens before every
 * measurement window; the real platform's cost per request is measured apart
 * (bench/platformProxy.ts). The gateway under test is the real one, verifying
 * real signatures and minting real tokens.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../src/log.js';
import { newCallControlId, newUuid } from '../../src/sim/ids.js';
import { Tunnels } from '../../src/sim/Tunnels.js';
import { WebhookSender } from '../../src/sim/WebhookSender.js';
import { WebhookSigner } from '../../src/sim/WebhookSigner.js';
import { webhookFacts } from '../../src/sim/webhookFacts.js';
import { CONTROL_MAX_PAYLOAD, CONTROL_PATH, type PlatformControlMessage } from '../../src/wire/controlChannel.js';
import { HEADER_DEPLOYMENT, type AnswerCallBody } from '../../src/wire/platformApi.js';
import type { CallPayload, WebhookEventType } from '../../src/wire/telnyx.js';
import type { LoadCall, LoadGenerator } from './LoadGenerator.js';

const ANSWER_ROUTE = /^\/v1\/signal\/calls\/([^/]+)\/(answer|hangup)$/;
const BODY_LIMIT = 64 * 1024;
const CONTROL_HEARTBEAT_MS = 10_000;

export interface CallControlOptions {
  /** tweetnacl 64-byte secret key; webhooks are signed with node's crypto (cheap at load). */
  signingSecretKey: Uint8Array;
  /** The gateway's webhook URL. */
  webhookUrl: string;
  /** Public tunnel host -> local ws origin (the gateway's tunnel listener). */
  tunnels: Record<string, string>;
  /** The bearer the gateway presents (its agent secret). */
  agentSecret: string;
  number: string;
  logger: Logger;
}

interface Pending {
  call: LoadCall;
  payload: CallPayload;
  resolve: (ok: boolean) => void;
}

export class CallControl {
  readonly #options: CallControlOptions;
  readonly #signer: WebhookSigner;
  readonly #webhooks: WebhookSender;
  readonly #tunnels: Tunnels;
  readonly #secretHash: Buffer;
  readonly #pending = new Map<string, Pending>();
  readonly #payloads = new Map<LoadCall, CallPayload>();
  #server: http.Server | null = null;
  readonly #control = new WebSocketServer({ noServer: true, maxPayload: CONTROL_MAX_PAYLOAD, perMessageDeflate: false });
  #controlPing: NodeJS.Timeout | null = null;
  hangupsFromGateway = 0;
  usageReports = 0;
  /** Calls that did not come up, by why (the bench prints them: a count alone says nothing). */
  readonly failures: Record<string, number> = {};

  constructor(options: CallControlOptions) {
    this.#options = options;
    this.#tunnels = new Tunnels(options.tunnels);
    this.#signer = new WebhookSigner(options.signingSecretKey, { mode: 'node' });
    this.#webhooks = new WebhookSender({
      destinations: [{ url: options.webhookUrl, resolved: this.#tunnels.resolveWebhookUrl(options.webhookUrl) }],
      signer: this.#signer,
      logger: options.logger,
      tunnelHeaders: true,
    });
    this.#secretHash = sha256(options.agentSecret);
  }

  /** Listens on 127.0.0.1; returns the URL to give the gateway as --platform-url. */
  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#upgradeControl(req, socket, head));
    this.#controlPing = setInterval(() => {
      for (const ws of this.#control.clients) ws.ping();
    }, CONTROL_HEARTBEAT_MS);
    this.#controlPing.unref();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /**
   * One inbound call: `call.initiated`, then wait for the gateway's answer,
   * which opens the media stream. Resolves true once media flows.
   */
  place(gen: LoadGenerator, index: number, timeoutMs = 15_000): Promise<boolean> {
    const callControlId = newCallControlId();
    const from = `+1555${String(index).padStart(7, '0')}`;
    const to = this.#options.number;
    const payload: CallPayload = {
      call_control_id: callControlId,
      call_leg_id: newUuid(),
      call_session_id: newUuid(),
      connection_id: 'bench-connection',
      client_state: null,
      from,
      to,
      direction: 'incoming',
      state: 'parked',
      start_time: new Date().toISOString(),
    };
    const call = gen.createCall({ callControlId, callSessionId: payload.call_session_id, from, to, clientState: null });
    this.#payloads.set(call, payload);
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(callControlId);
        this.#failed(`no answer within ${timeoutMs / 1000} s`);
        resolve(false);
      }, timeoutMs);
      this.#pending.set(callControlId, {
        call,
        payload,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      });
    });
    void this.#emit(payload, 'call.initiated');
    return answered;
  }

  /** The caller hangs up: `stop` and close on the media socket, then `call.hangup`. */
  async hangUp(call: LoadCall): Promise<void> {
    call.close();
    const payload = this.#payloads.get(call);
    if (!payload) return;
    this.#payloads.delete(call);
    await this.#emit({ ...payload, state: 'hangup' }, 'call.hangup', { hangup_cause: 'normal_clearing', hangup_source: 'caller' });
  }

  async close(): Promise<void> {
    if (this.#controlPing) clearInterval(this.#controlPing);
    for (const ws of this.#control.clients) ws.terminate();
    this.#control.close();
    await this.#webhooks.idle(5_000);
    this.#webhooks.close();
    await this.#signer.close();
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The gateway's control connection: same bearer as signalling; hello, then usage acknowledgements. */
  #upgradeControl(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const refuse = (status: string): void => void socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    if (req.url !== CONTROL_PATH) return refuse('404 Not Found');
    if (!timingSafeEqual(sha256(bearer), this.#secretHash)) return refuse('401 Unauthorized');
    this.#control.handleUpgrade(req, socket, head, (ws) => this.#controlOpened(ws, String(req.headers[HEADER_DEPLOYMENT] ?? '')));
  }

  #controlOpened(ws: WebSocket, deployment: string): void {
    const send = (message: PlatformControlMessage) => ws.send(JSON.stringify(message));
    send({ type: 'hello', deployment, cap_state: { capped: false }, heartbeat_ms: CONTROL_HEARTBEAT_MS });
    ws.on('message', (data) => {
      let message: { type?: unknown; call_control_id?: unknown };
      try {
        message = JSON.parse(data.toString()) as typeof message;
      } catch {
        return send({ type: 'error', code: 'BAD_MESSAGE', message: 'not JSON' });
      }
      if (message.type !== 'usage' || typeof message.call_control_id !== 'string') return send({ type: 'error', code: 'BAD_MESSAGE', message: 'unknown message' });
      this.usageReports++;
      send({ type: 'usage.ack', call_control_id: message.call_control_id, ok: true, flags: [] });
    });
  }

  #failed(reason: string): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
  }

  /** Each event names the call's facts as the provider's does (webhookFacts: the direction on call.initiated only). */
  #emit(payload: CallPayload, event: WebhookEventType, extra: Record<string, string> = {}): Promise<unknown> {
    const { direction = 'incoming', from = '', to = '', state = '', start_time: startTime = '', ...ids } = payload;
    return this.#webhooks.send(payload.call_control_id, event, { ...ids, ...webhookFacts(event, { direction, from, to, state, startTime }), ...extra });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/healthz') return reply(200, { ok: true });
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(sha256(bearer), this.#secretHash)) return reply(401, { error: { code: 'UNAUTHORIZED' } });
    const match = ANSWER_ROUTE.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return reply(404, { error: { code: 'NOT_FOUND' } });
    let body: Partial<AnswerCallBody>;
    try {
      body = JSON.parse(await readBody(req)) as Partial<AnswerCallBody>;
    } catch {
      return reply(400, { error: { code: 'BAD_REQUEST' } });
    }
    const callId = decodeURIComponent(match[1] ?? '');
    const pending = this.#pending.get(callId);
    if (match[2] === 'hangup') {
      this.hangupsFromGateway++;
      this.#pending.delete(callId);
      if (pending) {
        this.#failed('hung up by the gateway before its stream opened');
        pending.resolve(false);
      }
      return reply(200, { ok: true });
    }
    if (!pending || typeof body.stream_url !== 'string' || typeof body.stream_auth_token !== 'string') {
      return reply(404, { error: { code: 'CALL_NOT_FOUND' } });
    }
    this.#pending.delete(callId);
    reply(200, { ok: true });
    const resolved = this.#tunnels.resolveStreamUrl(body.stream_url);
    if ('error' in resolved) {
      this.#options.logger.warn({ error: resolved.error }, 'bench: stream URL not in the tunnel map');
      this.#failed('stream URL not in the tunnel map');
      pending.resolve(false);
      return;
    }
    void this.#emit({ ...pending.payload, state: 'answered' }, 'call.answered');
    const ok = await pending.call.open({ url: resolved.target, tunnelHost: resolved.tunnelHost, token: body.stream_auth_token });
    if (ok) void this.#emit({ ...pending.payload, state: 'answered' }, 'streaming.started');
    else this.#failed('media socket refused or failed');
    pending.resolve(ok);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_LIMIT) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
