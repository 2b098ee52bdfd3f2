/**
 * The adversarial suite's stack: the real simulator, platform and gateway
 * (test/helpers/stack.ts) with one addition, a "platform tap" between the
 * gateway and the platform. The tap forwards everything to the real platform,
 * except signalling for calls whose id starts with HAND_PREFIX: those it
 * answers itself and records, so a test can play the provider by hand and
 * hold the one-time media token the gateway minted (as in
 * test/e2e/mediaBinding.test.ts) while an honest simulator call flows through
 * the very same gateway.
 *
 * Also: signing with the provider's key, raw HTTP and WebSocket probes, and
 * the honest call whose report every security file checks at its end.
 * Tokens and signatures are never printed.
 *
 * No test is declared here (node --test runs this file too, harmlessly).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePorts } from '../../src/cli/processes.js';
import type { GatewayConfig } from '../../src/config.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { NUMBER, startStack, TUNNEL_HOST, waitFor, type Stack } from '../helpers/stack.js';

export { NUMBER, waitFor };

/** Calls with this id prefix are answered by the tap, never by the real platform. */
export const HAND_PREFIX = 'hd-';
const HOST = '127.0.0.1';
// DER prefix of an Ed25519 PKCS#8 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

interface TapAnswer {
  stream_url: string;
  stream_auth_token: string;
}

/** A recording pass-through in front of the real platform. */
class PlatformTap {
  readonly answers = new Map<string, TapAnswer>();
  /** streaming_start requests (a new stream after a lost one), newest last per call. */
  readonly restarts = new Map<string, TapAnswer[]>();
  readonly hangups = new Set<string>();
  target: string | null = null;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16 });
  readonly #server: Server;
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const match = /^\/v1\/signal\/calls\/([^/?]+)\/(answer|hangup|streaming_start)$/.exec(req.url ?? '');
        const callId = match ? decodeURIComponent(match[1]!) : null;
        if (match && callId !== null && callId.startsWith(HAND_PREFIX)) {
          if (match[2] === 'answer') this.answers.set(callId, JSON.parse(body.toString('utf8')) as TapAnswer);
          else if (match[2] === 'streaming_start') this.restarts.set(callId, [...(this.restarts.get(callId) ?? []), JSON.parse(body.toString('utf8')) as TapAnswer]);
          else this.hangups.add(callId);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          return;
        }
        if (this.target === null) {
          // Only the gateway's start-up health probe comes before the target is known.
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          return;
        }
        const headers: IncomingHttpHeaders = { ...req.headers };
        delete headers.host;
        delete headers.connection;
        const forward = httpRequest(`${this.target}${req.url ?? '/'}`, { method: req.method, headers, agent: this.#agent }, (upstream) => {
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          upstream.pipe(res);
        });
        forward.on('error', () => {
          if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
        forward.end(body);
      });
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, HOST, resolve));
    this.port = port;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

export interface HttpResult {
  status: number;
  text: string;
}

export interface UpgradeResult {
  /** 101 when the upgrade was accepted, else the HTTP status it was refused with (0: no answer). */
  status: number;
  /** The open socket when accepted (the caller closes it). */
  ws: WebSocket | null;
}

export interface CloseResult {
  code: number;
  reason: string;
}

export interface Effects {
  callsStarted: number;
  liveCalls: number;
  callIds: string[];
  webhooksAccepted: number;
  webhooksDuplicate: number;
}

/** Longer than any attack file takes under load; the caller hangs up when the attacks are done. */
const HONEST_CALL_BOUND_MS = 120_000;

export interface HonestCall {
  call: SimCall;
  /** Asserts the call was still live (it spanned the attacks), then awaits and checks its report. */
  finish(): Promise<void>;
}

export class SecurityStack {
  readonly stack: Stack;
  readonly tap: PlatformTap;
  readonly #privateKey: KeyObject;
  #seq = 0;

  private constructor(stack: Stack, tap: PlatformTap) {
    this.stack = stack;
    this.tap = tap;
    const seed = Buffer.from(stack.secretKey.subarray(0, 32));
    this.#privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  }

  /**
   * Start simulator, platform, tap and gateway. `overrides` go to the gateway
   * config as given: keys a colleague has not landed yet are passed through.
   */
  static async start(overrides: Record<string, unknown> = {}): Promise<SecurityStack> {
    const tap = new PlatformTap();
    const [tapPort] = (await freePorts(1)) as [number];
    await tap.listen(tapPort);
    let stack: Stack;
    try {
      stack = await startStack({ platformUrl: `http://${HOST}:${tapPort}`, ...overrides } as Partial<GatewayConfig>);
    } catch (err) {
      await tap.close();
      throw err;
    }
    tap.target = `http://${HOST}:${stack.ports.platform}`;
    return new SecurityStack(stack, tap);
  }

  async stop(): Promise<void> {
    await this.stack.stop();
    await this.tap.close();
  }

  get gateway(): Stack['gateway'] {
    return this.stack.gateway;
  }

  get webhookUrl(): string {
    return `http://${HOST}:${this.stack.ports.tunnel}/v1/webhooks/provider`;
  }

  get tunnelPort(): number {
    return this.stack.ports.tunnel;
  }

  get localPort(): number {
    return this.stack.ports.local;
  }

  /** A fresh id: `atk-...` goes to the real platform (which refuses it), `hd-...` is answered by the tap. */
  callId(kind: 'atk' | 'hd', label: string): string {
    return `${kind === 'hd' ? HAND_PREFIX : 'atk-'}${label}-${process.pid}-${++this.#seq}`;
  }

  /** Ed25519 over `${timestamp}|${body}` with the provider's key: what the real provider would send. */
  signature(timestamp: string, body: string | Buffer): Buffer {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    return cryptoSign(null, Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), bytes]), this.#privateKey);
  }

  /** Headers of a correctly signed delivery. */
  signedHeaders(body: string | Buffer, timestampSec = Math.floor(Date.now() / 1000)): Record<string, string> {
    const ts = String(timestampSec);
    return { 'telnyx-signature-ed25519': this.signature(ts, body).toString('base64'), 'telnyx-timestamp': ts, 'content-type': 'application/json' };
  }

  event(eventType: string, payload: Record<string, unknown>, options: { id?: string; attempt?: number } = {}): string {
    return JSON.stringify({
      data: {
        record_type: 'event',
        event_type: eventType,
        id: options.id ?? `evt-sec-${process.pid}-${++this.#seq}-${randomBytes(4).toString('hex')}`,
        occurred_at: new Date().toISOString(),
        payload,
      },
      meta: { attempt: options.attempt ?? 1, delivered_to: 'security-suite' },
    });
  }

  initiated(callId: string, options: { id?: string; attempt?: number } = {}): string {
    return this.event(
      'call.initiated',
      { call_control_id: callId, call_leg_id: 'leg', call_session_id: 'session', connection_id: 'conn', from: '+15550207777', to: NUMBER, direction: 'incoming', state: 'parked' },
      options,
    );
  }

  hangupEvent(callId: string): string {
    return this.event('call.hangup', { call_control_id: callId, call_leg_id: 'leg', call_session_id: 'session', connection_id: 'conn', from: '+15550207777', to: NUMBER, direction: 'incoming', hangup_cause: 'normal_clearing', hangup_source: 'caller' });
  }

  async post(body: string | Buffer, headers: Record<string, string>): Promise<HttpResult> {
    const response = await fetch(this.webhookUrl, { method: 'POST', headers, body });
    return { status: response.status, text: await response.text() };
  }

  async postSigned(body: string): Promise<HttpResult> {
    return this.post(body, this.signedHeaders(body));
  }

  /** Play the provider: a signed call.initiated for a hand-driven call; resolves with the token the gateway minted. */
  async mintToken(callId: string): Promise<string> {
    assert.ok(callId.startsWith(HAND_PREFIX), 'only hand-driven calls are answered by the tap');
    const response = await this.postSigned(this.initiated(callId));
    assert.equal(response.status, 200, `call.initiated for ${callId}`);
    await waitFor(`the answer for ${callId}`, () => this.tap.answers.has(callId));
    const answer = this.tap.answers.get(callId)!;
    assert.equal(answer.stream_url, `wss://${TUNNEL_HOST}/v1/media/${encodeURIComponent(callId)}`);
    return answer.stream_auth_token;
  }

  /** Play the provider: a signed call.hangup. */
  async hangup(callId: string): Promise<void> {
    const response = await this.postSigned(this.hangupEvent(callId));
    assert.equal(response.status, 200, `call.hangup for ${callId}`);
  }

  /** Try a media upgrade on the tunnel listener. `path` is used as given (already escaped). */
  upgrade(path: string, headers: Record<string, string> = {}, query = ''): Promise<UpgradeResult> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://${HOST}:${this.tunnelPort}/v1/media/${path}${query}`, { headers, handshakeTimeout: 5_000 });
      let settled = false;
      const settle = (result: UpgradeResult) => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      ws.once('unexpected-response', (_req, res) => {
        settle({ status: res.statusCode ?? 0, ws: null });
        res.resume();
        ws.terminate();
      });
      ws.once('open', () => settle({ status: 101, ws }));
      ws.once('error', () => settle({ status: 0, ws: null }));
    });
  }

  /** Open the media socket of a hand-driven call with its token (must succeed). */
  async openMedia(callId: string, token: string): Promise<WebSocket> {
    const { status, ws } = await this.upgrade(encodeURIComponent(callId), { 'x-telnyx-streaming-auth-token': token });
    assert.equal(status, 101, `media upgrade for ${callId} with its own token`);
    return ws!;
  }

  startFrame(callId: string, encoding = 'PCMU', sampleRate = 8000, streamId = 'sec-stream'): string {
    return JSON.stringify({
      event: 'start',
      sequence_number: '1',
      stream_id: streamId,
      start: { call_control_id: callId, call_session_id: 'session', from: '+15550207777', to: NUMBER, media_format: { encoding, sample_rate: sampleRate, channels: 1 } },
    });
  }

  /** A valid 20 ms PCMU media frame (a quiet tone). */
  mediaFrame(seq: number): string {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) payload[i] = i % 2 === 0 ? 0x7e : 0xfe;
    return JSON.stringify({ event: 'media', sequence_number: String(seq + 2), stream_id: 'sec-stream', media: { track: 'inbound', chunk: String(seq + 1), timestamp: String(seq * 20), payload: payload.toString('base64') } });
  }

  effects(): Effects {
    const { control, webhooks } = this.gateway;
    return {
      callsStarted: control.counters.callsStarted,
      liveCalls: control.liveCalls,
      callIds: control.snapshot().map((c) => c.callId).sort(),
      webhooksAccepted: webhooks.counters.accepted ?? 0,
      webhooksDuplicate: webhooks.counters.duplicate ?? 0,
    };
  }

  /** No call started, none added or removed, no webhook acted on. */
  assertNoEffect(before: Effects, what: string): void {
    const after = this.effects();
    assert.equal(after.callsStarted, before.callsStarted, `${what}: callsStarted`);
    assert.deepEqual(after.callIds, before.callIds, `${what}: live calls`);
    assert.equal(after.webhooksAccepted, before.webhooksAccepted, `${what}: webhooks acted on`);
  }

  async healthz(): Promise<number> {
    try {
      return (await fetch(`http://${HOST}:${this.localPort}/healthz`)).status;
    } catch {
      return 0;
    }
  }

  /**
   * The honest call: placed through the simulator before the attacks, it must
   * still be live when they end and come back whole (FAQ-07: attacks on other
   * sessions never touch it). Its caller talks until finish() (a fixed talk
   * time ran out before the attacks on a loaded machine); `durationMs` only bounds it.
   */
  async honestCall(durationMs = HONEST_CALL_BOUND_MS, seed = 7): Promise<HonestCall> {
    const call = this.stack.sim.placeInboundCall({ from: '+15550201234', to: NUMBER, durationMs, seed });
    await waitFor('the honest call to stream', () => this.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'), 10_000);
    return {
      call,
      finish: async () => {
        assert.ok(call.isAlive, `the honest call (${durationMs} ms at most) ended before the attacks did: it must span them`);
        assert.ok(call.endTalkNow(), 'the honest caller was still talking');
        const report = await call.done;
        assert.equal(report.endedBy, 'caller', `honest call ended by ${report.endedBy}: ${report.endReason}`);
        assert.ok(report.framesSent > 0, 'the honest call sent audio');
        const summary = this.gateway.control.summaries.find((s) => s.callId === call.id);
        assert.equal(report.framesReturned, report.framesSent, `every honest frame came back (gateway: ${JSON.stringify(summary?.jitter)}, in ${summary?.framesIn}, out ${summary?.framesOut}, mailbox drops ${summary?.mailboxDrops})`);
        if (!(report.echo.correlation >= 0.9)) {
          // Rare and seen only inside the full CI run: keep what is needed to tell why (test-artifacts/ is gitignored).
          const dir = join(process.cwd(), 'test-artifacts');
          mkdirSync(dir, { recursive: true });
          const stem = join(dir, `honest-${Date.now()}`);
          writeFileSync(`${stem}.sent.s16le`, report.sentPcm);
          writeFileSync(`${stem}.returned.s16le`, report.returnedPcm);
          const detail = {
            echo: report.echo, roundTripMs: report.roundTripMs, sendLagMs: report.sendLagMs, lateSends: report.lateSends,
            streamsOpened: report.streamsOpened, streamsLost: report.streamsLost, jitter: summary?.jitter, pcm: stem,
          };
          assert.fail(`honest echo correlation ${report.echo.correlation}: ${JSON.stringify(detail)}`);
        }
        assert.equal(this.gateway.status().workerRestarts, 0, 'no media worker restarted');
      },
    };
  }
}

/** Wait for a socket to close; null if it is still open after `timeoutMs`. */
export function closedWithin(ws: WebSocket, timeoutMs: number): Promise<CloseResult | null> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.off('close', onClose);
      resolve(null);
    }, timeoutMs);
    const onClose = (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString('utf8') });
    };
    ws.once('close', onClose);
    ws.on('error', () => {
      // A reset shows up as close 1006 right after.
    });
  });
}

export interface RawResponse {
  /** HTTP status of the first response line; 0 if the connection closed without one. */
  status: number;
  /** True when the server closed the connection (before `timeoutMs`). */
  closed: boolean;
  /** True when neither a status nor a close came within `timeoutMs`. */
  timedOut: boolean;
  head: string;
}

/**
 * Send raw bytes to a loopback port and read the first response line.
 * `writes` are sent in order, `gapMs` apart (a slow client when > 0).
 */
export function rawHttp(port: number, writes: Array<string | Buffer>, options: { gapMs?: number; timeoutMs?: number } = {}): Promise<RawResponse> {
  const gapMs = options.gapMs ?? 0;
  const timeoutMs = options.timeoutMs ?? 3_000;
  return new Promise((resolve) => {
    const socket = netConnect(port, HOST);
    let received = '';
    let done = false;
    let writer: NodeJS.Timeout | undefined;
    const finish = (result: Omit<RawResponse, 'head'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(writer);
      socket.destroy();
      resolve({ ...result, head: received.split('\r\n', 1)[0] ?? '' });
    };
    const timer = setTimeout(() => finish({ status: 0, closed: false, timedOut: true }), timeoutMs);
    const statusOf = () => {
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      return match ? Number(match[1]) : 0;
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n')) finish({ status: statusOf(), closed: false, timedOut: false });
    });
    socket.on('close', () => finish({ status: statusOf(), closed: true, timedOut: false }));
    socket.on('error', () => {
      // 'close' follows.
    });
    let index = 0;
    const writeNext = () => {
      if (done || index >= writes.length) return;
      socket.write(writes[index++]!);
      if (index < writes.length) writer = setTimeout(writeNext, gapMs);
    };
    socket.once('connect', writeNext);
  });
}

/** A hand-written HTTP/1.1 POST to the webhook path, headers as given (case kept). */
export function rawWebhookRequest(headers: Array<[string, string]>, body: Buffer, contentLength = body.length): Buffer {
  const lines = [`POST /v1/webhooks/provider HTTP/1.1`, `host: ${HOST}`, `content-length: ${contentLength}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
