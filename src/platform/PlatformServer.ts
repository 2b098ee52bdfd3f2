/**
 * The platform's HTTP API: the signalling proxy gateways talk to, the
 * provider's webhooks, and a small admin surface (DESIGN 3 steps 3 and 6,
 * FAQ-09, FAQ-12, FAQ-13, FAQ-14).
 *
 * Every gateway request is authenticated, rate limited and checked against
 * the deployment's own allowlists before the provider is asked anything; the
 * provider key stays inside ProviderClient. Every refusal is answered
 * `{"error":{"code","message"}}` with its status, and logged without secrets.
 */
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, TtmaError, isTtmaError, type ErrorCode } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { ReplayCache } from '../wire/ReplayCache.js';
import type { AnswerCallBody, DialCallBody, DialCallResult, PlatformErrorBody } from '../wire/platformApi.js';
import { HEADER_DEPLOYMENT } from '../wire/platformApi.js';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, WEBHOOK_TOLERANCE_SEC, type CallDirection } from '../wire/telnyx.js';
import { parseEd25519PublicKey, verifyWebhookSignature } from '../wire/webhookSignature.js';
import { CALL_ID_PATTERN, checkAnswerStreamUrl, checkCodec, checkDialStreamUrl, checkStreamToken } from './allowlists.js';
import { CallRegistry, directionOf, type CallRecord } from './CallRegistry.js';
import { DeploymentRegistry, E164_PATTERN, type Deployment } from './DeploymentRegistry.js';
import { InstallRoutes, type InstallRoutesOptions } from './installTokens/installRoutes.js';
import { ProviderClient } from './ProviderClient.js';
import { RateLimiter } from './RateLimiter.js';

export interface PlatformServerOptions {
  providerBaseUrl: string;
  providerApiKey: string;
  connectionId: string;
  /** Base64 of the provider's raw 32-byte Ed25519 key; null: webhooks refused with 503. */
  webhookPublicKeyBase64: string | null;
  /** null: the admin API is disabled (503). */
  adminToken: string | null;
  approvedTunnelDomains?: string[];
  /** 0 (the default) picks a free port. Always bound to 127.0.0.1. */
  port?: number;
  logger?: Logger;
  /** Per-deployment token bucket (default 20 requests/s, burst 40). */
  rateLimit?: { ratePerSec: number; burst: number };
  /** Time allowed to receive a request body (default 10 s). */
  bodyTimeoutMs?: number;
  /** Provider retry tuning (tests shorten it). */
  provider?: { maxAttempts?: number; backoffMs?: number; timeoutMs?: number };
  /** Wall clock in ms, for the webhook window and replay cache. */
  now?: () => number;
  /** Install tokens and the bundles they point at (src/platform/installTokens). */
  install?: InstallRoutesOptions;
}

const BIND_HOST = '127.0.0.1';
export const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_BODY_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Telnyx client_state is base64; keep it bounded. */
const CLIENT_STATE_PATTERN = /^[A-Za-z0-9+/=_-]{1,4096}$/;
/** Telnyx Call Control ranges for dial's timeout_secs and time_limit_secs. */
const DIAL_TIMEOUT_SECS = { min: 5, max: 600 } as const;
const TIME_LIMIT_SECS = { min: 30, max: 14_400 } as const;
const WEBHOOK_ID_MAX = 256;
const NOT_OWNED = 'call not found or not owned by this deployment';

const ROUTE_SIGNAL_CALL = /^\/v1\/signal\/calls\/([^/]+)\/(answer|hangup)$/;

type Json = Record<string, unknown>;

interface RequestContext {
  deploymentId?: string;
  callId?: string;
  /** The route's method, for the Allow header of a 405. */
  allow?: string;
}

/** The stream part of an answer or dial: the caller's audio to the gateway and the gateway's back, one codec both ways. */
function bidirectionalStream(streamUrl: string, token: string, codec: string, clientState: string | undefined) {
  return {
    stream_url: streamUrl,
    stream_auth_token: token,
    stream_track: 'inbound_track' as const,
    stream_codec: codec,
    stream_bidirectional_mode: 'rtp' as const,
    stream_bidirectional_codec: codec,
    ...(clientState ? { client_state: clientState } : {}),
  };
}

export class PlatformServer {
  readonly deployments: DeploymentRegistry;
  readonly calls: CallRegistry;
  readonly install: InstallRoutes;
  readonly #provider: ProviderClient;
  readonly #connectionId: string;
  readonly #publicKey: KeyObject | null;
  readonly #adminTokenDigest: Buffer | null;
  readonly #port: number;
  readonly #log: Logger;
  readonly #limiter: RateLimiter;
  readonly #bodyTimeoutMs: number;
  readonly #now: () => number;
  readonly #replay = new ReplayCache(2 * WEBHOOK_TOLERANCE_SEC * 1000);
  #server: Server | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: PlatformServerOptions) {
    if (!options.connectionId || !/^[\x21-\x7e]{1,128}$/.test(options.connectionId)) {
      throw new TtmaError(ErrorCodes.CONFIG, 'connectionId must be 1 to 128 printable characters');
    }
    if (options.adminToken !== null && options.adminToken.length < 16) {
      throw new TtmaError(ErrorCodes.CONFIG, 'admin token must be at least 16 characters');
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new TtmaError(ErrorCodes.CONFIG, 'port must be an integer from 0 to 65535');
    }
    this.deployments = new DeploymentRegistry(
      options.approvedTunnelDomains ? { approvedTunnelDomains: options.approvedTunnelDomains } : {},
    );
    this.calls = new CallRegistry();
    this.#provider = new ProviderClient({
      baseUrl: options.providerBaseUrl,
      apiKey: options.providerApiKey,
      ...options.provider,
    });
    this.#connectionId = options.connectionId;
    this.#publicKey = options.webhookPublicKeyBase64 ? parseEd25519PublicKey(options.webhookPublicKeyBase64) : null;
    this.#adminTokenDigest = options.adminToken ? sha256(options.adminToken) : null;
    this.#port = port;
    this.#log = options.logger ?? createLogger('platform');
    this.#limiter = new RateLimiter(options.rateLimit ?? {});
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    this.install = new InstallRoutes(this.deployments, options.webhookPublicKeyBase64, options.install);
  }

  async start(): Promise<{ port: number }> {
    if (this.#server) throw new TtmaError(ErrorCodes.PLATFORM, 'platform server already started');
    if (!this.#publicKey) {
      this.#log.warn(
        { code: ErrorCodes.WEBHOOK_NO_KEY },
        'no webhook public key configured: every provider webhook will be refused with 503 (FAQ-05, FAQ-06)',
      );
    }
    const server = createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      (req, res) => void this.#handle(req, res),
    );
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, BIND_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    this.install.listening(port);
    // One request to our own health endpoint loads and compiles node's HTTP
    // client (undici) now rather than during the first call's provider request,
    // where it stalled this thread by tens of milliseconds.
    await fetch(`http://${BIND_HOST}:${port}/healthz`).then((r) => r.text(), () => undefined);
    this.#log.info({ port, host: BIND_HOST }, 'platform listening');
    return { port };
  }

  /** Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const server = this.#server;
    this.#stopping = new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return this.#stopping;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx: RequestContext = {};
    const method = req.method ?? 'GET';
    let path = '/';
    try {
      path = new URL(req.url ?? '/', `http://${BIND_HOST}`).pathname;
      const tools = { ...this.#installTools, allow: (m: string, a: string) => allowMethod(m, a, ctx) };
      if (await this.install.handle(method, path, req, res, tools)) return;
      const signal = ROUTE_SIGNAL_CALL.exec(path);
      if (signal) {
        allowMethod(method, 'POST', ctx);
        const callId = decodeCallId(signal[1] ?? '');
        ctx.callId = callId;
        if (signal[2] === 'answer') await this.#answer(req, res, callId, ctx);
        else await this.#hangup(req, res, callId, ctx);
        return;
      }
      switch (path) {
        case '/healthz':
          allowMethod(method, 'GET', ctx);
          return this.#send(req, res, 200, { ok: true });
        case '/v1/signal/calls':
          allowMethod(method, 'POST', ctx);
          return await this.#dial(req, res, ctx);
        case '/v1/provider/webhooks':
          allowMethod(method, 'POST', ctx);
          return await this.#webhook(req, res, ctx);
        case '/v1/admin/deployments':
          allowMethod(method, 'POST', ctx);
          return await this.#adminRegister(req, res);
        case '/v1/admin/calls':
          allowMethod(method, 'GET', ctx);
          return this.#adminCalls(req, res);
        default:
          throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such route', 404);
      }
    } catch (err) {
      this.#refuse(req, res, err, method, path, ctx);
    }
  }

  readonly #installTools = {
    requireAdmin: (req: IncomingMessage) => this.#requireAdmin(req),
    readJson: (req: IncomingMessage) => this.#readJson(req),
    send: (req: IncomingMessage, res: ServerResponse, status: number, body: unknown) => this.#send(req, res, status, body),
  };

  // ---- signalling (gateway -> platform) ----

  async #answer(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = (await this.#readJson(req)) as Partial<AnswerCallBody>;
    const streamUrl = checkAnswerStreamUrl(body.stream_url, deployment.tunnelHost, callId);
    const token = checkStreamToken(body.stream_auth_token);
    const codec = checkCodec(body.codec);
    const clientState = checkClientState(body.client_state);
    await this.#requireOwnership(deployment, callId);
    await this.#provider.answer(callId, bidirectionalStream(streamUrl, token, codec, clientState));
    this.#log.info({ deployment: deployment.id, callId, codec }, 'call answered through the provider');
    this.#send(req, res, 200, { ok: true });
  }

  async #hangup(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    await this.#readJson(req);
    await this.#requireOwnership(deployment, callId);
    const result = await this.#provider.hangup(callId);
    this.#log.info({ deployment: deployment.id, callId, alreadyEnded: result.alreadyEnded }, 'call hung up');
    this.#send(req, res, 200, { ok: true });
  }

  async #dial(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = (await this.#readJson(req)) as Partial<DialCallBody>;
    if (typeof body.to !== 'string' || !E164_PATTERN.test(body.to)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, 'to must be an E.164 number ("+" then 7 to 15 digits)', 400);
    }
    const from = body.from ?? deployment.numbers[0];
    if (typeof from !== 'string' || !deployment.numbers.includes(from)) {
      throw new TtmaError(ErrorCodes.NUMBER_NOT_OWNED, "from must be one of this deployment's numbers", 403);
    }
    const { streamUrl, mediaId } = checkDialStreamUrl(body.stream_url, deployment.tunnelHost);
    const token = checkStreamToken(body.stream_auth_token);
    const codec = checkCodec(body.codec);
    const clientState = checkClientState(body.client_state);
    const timeoutSecs = checkIntRange(body.timeout_secs, 'timeout_secs', DIAL_TIMEOUT_SECS);
    const timeLimitSecs = checkIntRange(body.time_limit_secs, 'time_limit_secs', TIME_LIMIT_SECS);
    const to = body.to;
    const dialled = await this.#provider.dial({
      connection_id: this.#connectionId,
      from,
      to,
      ...bidirectionalStream(streamUrl, token, codec, clientState),
      ...(timeoutSecs !== undefined ? { timeout_secs: timeoutSecs } : {}),
      ...(timeLimitSecs !== undefined ? { time_limit_secs: timeLimitSecs } : {}),
    });
    const callId = dialled.call_control_id;
    ctx.callId = callId;
    const locked = this.calls.lock(callId, deployment.id, { direction: 'outgoing', from, to });
    if (!locked.ok) {
      // The provider handed us an id we already gave to someone else: never
      // re-assign; end the new call rather than let two owners share it.
      this.#log.error({ deployment: deployment.id, callId }, 'dialled call id already locked to another owner');
      await this.#provider.hangup(callId).catch(() => undefined);
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider returned a call id that is already in use', 502);
    }
    this.#log.info({ deployment: deployment.id, callId, mediaId, codec }, 'outbound call placed');
    const result: DialCallResult = { call_control_id: callId, call_session_id: dialled.call_session_id };
    this.#send(req, res, 200, result);
  }

  async #authenticate(req: IncomingMessage, ctx: RequestContext): Promise<Deployment> {
    const claimed = singleHeader(req, HEADER_DEPLOYMENT);
    const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(singleHeader(req, 'authorization') ?? '');
    const deployment = await this.deployments.authenticate(claimed, bearer?.[1]);
    ctx.deploymentId = deployment.id;
    // After authentication, so nobody can drain another deployment's bucket.
    if (!this.#limiter.take(deployment.id)) {
      throw new TtmaError(ErrorCodes.RATE_LIMITED, 'rate limit reached for this deployment: slow down and retry', 429);
    }
    return deployment;
  }

  /**
   * The call must be locked to this deployment: known from a webhook or our
   * own dial, or (not yet known) fetched from the provider and locked by the
   * dialled number, incoming calls only. One answer for "someone else's" and
   * "no such call", so ids cannot be probed.
   */
  async #requireOwnership(deployment: Deployment, callId: string): Promise<void> {
    const known = this.calls.ownerOf(callId);
    if (known) {
      if (known.locked && known.deploymentId === deployment.id) return;
      throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    }
    let call;
    try {
      call = await this.#provider.getCall(callId);
    } catch (err) {
      if (isTtmaError(err) && err.status === 404) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
      throw err;
    }
    if (call.direction !== 'incoming' || !call.to) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    const owner = await this.deployments.findByNumber(call.to);
    const locked = this.calls.lock(callId, owner?.id ?? null, { direction: 'incoming', from: call.from ?? '', to: call.to });
    if (!locked.ok || locked.record.deploymentId !== deployment.id) {
      throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    }
  }

  // ---- provider webhooks ----

  async #webhook(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    if (!this.#publicKey) {
      throw new TtmaError(
        ErrorCodes.WEBHOOK_NO_KEY,
        'no webhook signing key configured: provider webhooks are refused (start the platform with --webhook-public-key-file)',
        503,
      );
    }
    const rawBody = await this.#readBody(req);
    const nowMs = this.#now();
    const verdict = verifyWebhookSignature({
      publicKey: this.#publicKey,
      signatureHeader: singleHeader(req, HEADER_SIGNATURE),
      timestampHeader: singleHeader(req, HEADER_TIMESTAMP),
      rawBody,
      nowSec: Math.floor(nowMs / 1000),
    });
    if (!verdict.ok) {
      if (verdict.reason === 'stale') {
        throw new TtmaError(ErrorCodes.WEBHOOK_STALE, 'webhook timestamp outside the 300 s window', 401);
      }
      throw new TtmaError(ErrorCodes.WEBHOOK_SIGNATURE, `webhook signature refused (${verdict.reason})`, 401);
    }
    const envelope = parseJsonObject(rawBody, ErrorCodes.WEBHOOK_MALFORMED);
    const data = envelope['data'];
    const eventId = isObject(data) ? data['id'] : undefined;
    if (!isObject(data) || typeof eventId !== 'string' || eventId.length === 0 || eventId.length > WEBHOOK_ID_MAX) {
      throw new TtmaError(ErrorCodes.WEBHOOK_MALFORMED, 'webhook has no data.id', 400);
    }
    if (this.#replay.checkAndRemember(`event:${eventId}`, nowMs)) {
      this.#log.info({ eventId }, 'duplicate webhook ignored');
      return this.#send(req, res, 200, { ok: true, duplicate: true });
    }
    const event = callEventOf(data);
    if (!event) {
      this.#log.info({ eventId, eventType: data['event_type'] }, 'verified webhook without a call payload ignored');
      return this.#send(req, res, 200, { ok: true, ignored: true });
    }
    ctx.callId = event.callId;
    const facts = { direction: event.direction, from: event.from, to: event.to };
    const known = this.calls.ownerOf(event.callId);
    if (!known?.locked && event.direction === 'incoming') {
      const owner = await this.deployments.findByNumber(event.to);
      const locked = this.calls.lock(event.callId, owner?.id ?? null, facts);
      if (!owner) {
        this.#log.warn({ eventId, callId: event.callId }, 'incoming call to a number no deployment owns: recorded as unowned');
      }
      else if (locked.ok) ctx.deploymentId = owner.id;
    }
    this.calls.recordEvent(event.callId, facts, {
      event_type: event.eventType,
      occurred_at: event.occurredAt,
      hangup_cause: event.hangupCause,
    });
    this.#log.info({ eventId, callId: event.callId, eventType: event.eventType }, 'webhook recorded');
    this.#send(req, res, 200, { ok: true });
  }

  // ---- admin ----

  #requireAdmin(req: IncomingMessage): void {
    if (!this.#adminTokenDigest) {
      throw new TtmaError(ErrorCodes.CONFIG, 'admin API disabled: start the platform with --admin-token-file', 503);
    }
    const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(singleHeader(req, 'authorization') ?? '');
    const presented = sha256(bearer?.[1] ?? '');
    if (!bearer || !timingSafeEqual(presented, this.#adminTokenDigest)) {
      throw new TtmaError(ErrorCodes.AUTH, 'admin authentication failed', 401);
    }
  }

  async #adminRegister(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#requireAdmin(req);
    const body = await this.#readJson(req);
    const input = {
      id: body['id'] as string,
      numbers: body['numbers'] as string[],
      tunnelHost: body['tunnelHost'] as string,
      ...(body['agentSecret'] !== undefined ? { agentSecret: body['agentSecret'] as string } : {}),
    };
    const { agentSecret } = await this.deployments.register(input);
    this.#log.info({ deployment: input.id, numbers: input.numbers.length }, 'deployment registered');
    this.#send(req, res, 201, { id: input.id, agentSecret });
  }

  #adminCalls(req: IncomingMessage, res: ServerResponse): void {
    this.#requireAdmin(req);
    this.#send(req, res, 200, { calls: this.calls.list().map(callView) });
  }

  // ---- HTTP plumbing ----

  async #readJson(req: IncomingMessage): Promise<Json> {
    const raw = await this.#readBody(req);
    if (raw.length === 0) return {};
    return parseJsonObject(raw, ErrorCodes.BAD_REQUEST);
  }

  /** Raw body, at most MAX_BODY_BYTES, within the body timeout. */
  #readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) {
      return Promise.reject(tooLarge());
    }
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let settled = false;
      const finish = (err: TtmaError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('aborted', onError);
        if (err) {
          req.pause();
          reject(err);
        } else resolve(Buffer.concat(chunks, total));
      };
      const onData = (chunk: Buffer): void => {
        total += chunk.length;
        if (total > MAX_BODY_BYTES) return finish(tooLarge());
        chunks.push(chunk);
      };
      const onEnd = (): void => finish(null);
      const onError = (): void => finish(new TtmaError(ErrorCodes.BAD_REQUEST, 'request body aborted', 400));
      const timer = setTimeout(
        () => finish(new TtmaError(ErrorCodes.REQUEST_TIMEOUT, 'request body not received in time', 408)),
        this.#bodyTimeoutMs,
      );
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('aborted', onError);
    });
  }

  #send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) return;
    const payload = JSON.stringify(body);
    const base: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(payload)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    };
    // A body we did not read must not be parsed as the next request.
    if (!req.complete) base['connection'] = 'close';
    res.writeHead(status, base);
    res.end(payload);
  }

  #refuse(req: IncomingMessage, res: ServerResponse, err: unknown, method: string, path: string, ctx: RequestContext): void {
    let code: string;
    let status: number;
    let message: string;
    if (isTtmaError(err)) {
      ({ code, status, message } = err);
    } else {
      code = ErrorCodes.PLATFORM;
      status = 500;
      message = 'internal error';
      const detail = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err);
      this.#log.error({ err: detail }, 'unexpected error');
    }
    const headers: Record<string, string> = {};
    if (code === ErrorCodes.RATE_LIMITED) {
      headers['retry-after'] = String(this.#limiter.retryAfterSec(ctx.deploymentId ?? '') || 1);
    }
    if (code === ErrorCodes.METHOD_NOT_ALLOWED && ctx.allow) headers['allow'] = ctx.allow;
    const level = status >= 500 ? 'error' : 'warn';
    this.#log[level]({ method, path, status, code, deployment: ctx.deploymentId, callId: ctx.callId }, `refused: ${message}`);
    const body: PlatformErrorBody = { error: { code, message } };
    this.#send(req, res, status, body, headers);
  }
}

// ---- helpers ----

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function tooLarge(): TtmaError {
  return new TtmaError(ErrorCodes.BODY_TOO_LARGE, `request body larger than ${MAX_BODY_BYTES} bytes`, 413);
}

function allowMethod(method: string, allowed: string, ctx: RequestContext): void {
  ctx.allow = allowed;
  if (method !== allowed) {
    throw new TtmaError(ErrorCodes.METHOD_NOT_ALLOWED, `method not allowed, use ${allowed}`, 405);
  }
}

function decodeCallId(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    decoded = '';
  }
  if (!CALL_ID_PATTERN.test(decoded)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'call id in the path is malformed', 400);
  }
  return decoded;
}

/** A header given once; repeated or absent gives undefined. */
function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonObject(raw: Buffer, code: ErrorCode): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new TtmaError(code, 'body is not valid JSON', 400);
  }
  if (!isObject(parsed)) throw new TtmaError(code, 'body must be a JSON object', 400);
  return parsed;
}

function checkClientState(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || !CLIENT_STATE_PATTERN.test(raw)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'client_state must be base64, at most 4096 characters', 400);
  }
  return raw;
}

function checkIntRange(raw: unknown, name: string, range: { min: number; max: number }): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < range.min || raw > range.max) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `${name} must be a whole number from ${range.min} to ${range.max}`, 400);
  }
  return raw;
}

interface CallEvent {
  callId: string;
  eventType: string;
  occurredAt: string;
  direction: CallDirection;
  from: string;
  to: string;
  hangupCause: string | undefined;
}

/** The call facts of a verified event, or null when it carries none we can use. */
function callEventOf(data: Json): CallEvent | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = data['occurred_at'];
  if (!isObject(payload) || typeof eventType !== 'string' || eventType.length > 64) return null;
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) return null;
  const callId = payload['call_control_id'];
  const direction = payload['direction'];
  const from = payload['from'];
  const to = payload['to'];
  if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) return null;
  const dir = directionOf(direction);
  if (!dir || typeof from !== 'string' || typeof to !== 'string') return null;
  const cause = payload['hangup_cause'];
  return {
    callId,
    eventType,
    occurredAt,
    direction: dir,
    from: from.slice(0, 64),
    to: to.slice(0, 64),
    hangupCause: typeof cause === 'string' ? cause.slice(0, 64) : undefined,
  };
}

function callView(record: CallRecord): Json {
  return {
    call_control_id: record.callControlId,
    deployment_id: record.deploymentId,
    locked: record.locked,
    direction: record.direction,
    from: record.from,
    to: record.to,
    state: record.state,
    hangup_cause: record.hangupCause,
    first_seen_at: record.firstSeenAt,
    timeline: record.timeline,
  };
}
