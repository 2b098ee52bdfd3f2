/**
 * Test helpers for the platform: a small fake provider (Call Control REST
 * over node:http), webhook signing with tweetnacl (an implementation
 * independent of the verifier), and a capturing logger.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import nacl from 'tweetnacl';
import { PlatformServer, type PlatformServerOptions } from '../../src/platform/PlatformServer.js';
import { HEADER_DEPLOYMENT, PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../src/wire/telnyx.js';

export const PROVIDER_KEY = 'KEYprovider-secret-do-not-leak-0123456789';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const CONNECTION_ID = 'conn-test-1';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown> | null;
}

export interface FakeCall {
  direction: 'incoming' | 'outgoing';
  from: string;
  to: string;
  alive: boolean;
  /**
   * What the provider's detail record says the call lasted (set by tests; the default is 0 ms).
   * Served as `call_sec`: whole seconds at Telnyx; tests with cap units of a fraction of a second
   * set fractions, which the platform reads the same way.
   */
  durationMs?: number;
}

type OverrideResult = { status: number; body: unknown } | 'destroy' | undefined;
type Override = (req: RecordedRequest) => OverrideResult | Promise<OverrideResult>;

/** Just enough of the provider's REST API for the platform's tests. */
export class FakeProvider {
  readonly requests: RecordedRequest[] = [];
  readonly calls = new Map<string, FakeCall>();
  /** Consulted first; return undefined to fall through to the default behaviour. */
  override: Override | null = null;
  /** The API keys the provider accepts (a key rotated at the provider: add the new one, later revoke the old). */
  readonly acceptedKeys = new Set([PROVIDER_KEY]);
  #server: Server | null = null;
  #nextId = 1;
  readonly #idSpace = randomBytes(4).toString('hex');

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      void readAll(req).then(async (raw) => {
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          authorization: req.headers.authorization,
          body: raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : null,
        };
        this.requests.push(recorded);
        const custom = await this.override?.(recorded);
        if (custom === 'destroy') {
          req.socket.destroy();
          return;
        }
        const { status, body } = custom ?? this.#default(recorded);
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  commands(action: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/actions/${action}`));
  }

  #default(req: RecordedRequest): { status: number; body: unknown } {
    if (![...this.acceptedKeys].some((key) => req.authorization === `Bearer ${key}`)) {
      return { status: 401, body: { errors: [{ code: '10009', title: 'Authentication failed' }] } };
    }
    if (req.method === 'POST' && req.path === '/v2/calls') {
      // Unique across fake providers: platforms sharing one Redis must not see the same call id twice.
      const id = `v3:out-${this.#idSpace}-${this.#nextId++}`;
      this.calls.set(id, { direction: 'outgoing', from: String(req.body?.['from']), to: String(req.body?.['to']), alive: true });
      return { status: 200, body: { data: { call_control_id: id, call_session_id: `sess-${id}`, call_leg_id: `leg-${id}` } } };
    }
    const action = /^\/v2\/calls\/([^/]+)\/actions\/(answer|hangup|record_start|record_stop|streaming_start|streaming_stop)$/.exec(req.path);
    if (req.method === 'POST' && action) {
      const call = this.calls.get(decodeURIComponent(action[1] ?? ''));
      if (!call) return { status: 404, body: { errors: [{ code: '90015', title: 'Call not found' }] } };
      if (!call.alive) return { status: 422, body: { errors: [{ code: '90018', title: 'Call has already ended' }] } };
      if (action[2] === 'hangup') call.alive = false;
      return { status: 200, body: { data: { result: 'ok' } } };
    }
    // Telnyx's Detail Records search (developers.telnyx.com/api-reference/detail-records/search-detail-records):
    // a call-control record exists once the call has ended.
    const search = req.method === 'GET' && req.path.startsWith('/v2/detail_records?') ? new URLSearchParams(req.path.slice(req.path.indexOf('?') + 1)) : null;
    if (search) {
      if (search.get('filter[record_type]') === null) return { status: 422, body: { errors: [{ code: '10004', title: 'Missing required parameter' }] } };
      const id = search.get('filter[telnyx_call_control_id]');
      const found = id === null || search.get('filter[record_type]') !== 'call-control' ? undefined : this.calls.get(id);
      if (!found || found.alive) return { status: 200, body: { data: [], meta: { total_pages: 0, total_results: 0, page_number: 1, page_size: 20 } } };
      const now = new Date();
      const callSec = (found.durationMs ?? 0) / 1000;
      const record = {
        record_type: 'call_control_detail_record',
        telnyx_call_control_id: id,
        direction: found.direction === 'incoming' ? 'inbound' : 'outbound',
        cli: found.from,
        cld: found.to,
        started_at: new Date(now.getTime() - 1_000 - callSec * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        finished_at: now.toISOString().replace(/\.\d+Z$/, 'Z'),
        call_sec: callSec,
        billed_sec: Math.ceil(callSec / 60) * 60,
      };
      return { status: 200, body: { data: [record], meta: { total_pages: 1, total_results: 1, page_number: 1, page_size: 20 } } };
    }
    const get = /^\/v2\/calls\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && get) {
      const id = decodeURIComponent(get[1] ?? '');
      const call = this.calls.get(id);
      if (!call) return { status: 404, body: { errors: [{ code: '90015', title: 'Call not found' }] } };
      // Telnyx's "Retrieve a call status": ids, is_alive, duration, times; no direction or numbers
      // (developers.telnyx.com/api-reference/call-information/retrieve-a-call-status).
      return {
        status: 200,
        body: { data: { record_type: 'call', call_control_id: id, call_leg_id: `leg-${id}`, call_session_id: `sess-${id}`, is_alive: call.alive, call_duration: Math.round((call.durationMs ?? 0) / 1000), client_state: null } },
      };
    }
    return { status: 404, body: { errors: [{ code: '10404', title: 'Not found' }] } };
  }
}

export function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A pino logger whose lines the test can read (to check no secret is logged). */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export interface Harness {
  provider: FakeProvider;
  platform: PlatformServer;
  base: string;
  keyPair: nacl.SignKeyPair;
  lines: string[];
  close(): Promise<void>;
}

export async function startHarness(overrides: Partial<PlatformServerOptions> = {}): Promise<Harness> {
  const provider = new FakeProvider();
  const providerBaseUrl = await provider.start();
  const keyPair = nacl.sign.keyPair();
  const { logger, lines } = capturingLogger();
  let platform: PlatformServer;
  try {
    platform = new PlatformServer({
      providerBaseUrl,
      providerApiKey: PROVIDER_KEY,
      connectionId: CONNECTION_ID,
      webhookPublicKeyBase64: Buffer.from(keyPair.publicKey).toString('base64'),
      adminToken: ADMIN_TOKEN,
      logger,
      provider: { backoffMs: 5, timeoutMs: 2_000 },
      ...overrides,
    });
  } catch (err) {
    await provider.stop();
    throw err;
  }
  const { port } = await platform.start();
  return {
    provider,
    platform,
    base: `http://127.0.0.1:${port}`,
    keyPair,
    lines,
    async close() {
      await platform.stop();
      await provider.stop();
    },
  };
}

export interface JsonResponse {
  status: number;
  body: any;
  headers: Headers;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; raw?: string | Buffer } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function agentHeaders(deploymentId: string, secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}`, [HEADER_DEPLOYMENT]: deploymentId };
}

export function adminHeaders(token = ADMIN_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

let eventCounter = 0;

export function envelope(
  eventType: string,
  payload: { call_control_id: string; from: string; to: string; direction: 'incoming' | 'outgoing'; [k: string]: unknown },
  options: { id?: string; occurredAt?: string } = {},
): string {
  eventCounter += 1;
  return JSON.stringify({
    data: {
      record_type: 'event',
      event_type: eventType,
      id: options.id ?? `evt-${process.pid}-${eventCounter}`,
      occurred_at: options.occurredAt ?? new Date().toISOString(),
      payload: {
        call_leg_id: `leg-${payload.call_control_id}`,
        call_session_id: `sess-${payload.call_control_id}`,
        connection_id: CONNECTION_ID,
        state: 'parked',
        ...payload,
      },
    },
    meta: { attempt: 1, delivered_to: 'platform' },
  });
}

/**
 * An event as Telnyx sends it: only the fields given (no direction unless a call.initiated names it,
 * no numbers on streaming.* or call.recording.saved: developers.telnyx.com/api-reference/callbacks/).
 */
export function telnyxEvent(eventType: string, payload: { call_control_id: string; [k: string]: unknown }, options: { occurredAt?: string } = {}): string {
  eventCounter += 1;
  return JSON.stringify({
    data: {
      record_type: 'event',
      event_type: eventType,
      id: `evt-${process.pid}-${eventCounter}`,
      occurred_at: options.occurredAt ?? new Date().toISOString(),
      payload: { call_leg_id: `leg-${payload.call_control_id}`, call_session_id: `sess-${payload.call_control_id}`, connection_id: CONNECTION_ID, client_state: null, ...payload },
    },
    meta: { attempt: 1, delivered_to: 'platform' },
  });
}

/** Headers for a webhook signed with tweetnacl over `${timestamp}|${rawBody}`. */
export function signedHeaders(
  secretKey: Uint8Array,
  rawBody: string,
  timestampSec = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signed = Buffer.from(`${timestampSec}|${rawBody}`, 'utf8');
  const signature = nacl.sign.detached(new Uint8Array(signed), secretKey);
  return {
    'content-type': 'application/json',
    [HEADER_SIGNATURE]: Buffer.from(signature).toString('base64'),
    [HEADER_TIMESTAMP]: String(timestampSec),
  };
}

export async function postWebhook(h: Harness, rawBody: string, headers?: Record<string, string>): Promise<JsonResponse> {
  return call(h.base, 'POST', '/v1/provider/webhooks', {
    raw: rawBody,
    headers: headers ?? signedHeaders(h.keyPair.secretKey, rawBody),
  });
}

/** A syntactically valid one-time media token (base64url of 32 bytes). */
export const STREAM_TOKEN = Buffer.alloc(32, 7).toString('base64url');

/** Polls `check` every 20 ms until it holds; fails the test after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls `probe` every 20 ms until it gives a value, and returns it; fails the test after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A call the deployment dials that the provider then ends, saying it lasted `providerMs` (its
 * call detail record): the signed call.hangup is delivered; the caller waits for what it checks.
 */
export async function dialledAndEnded(h: Harness, headers: Record<string, string>, tunnelHost: string, providerMs: number, to = '+15557654321'): Promise<string> {
  const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
    headers,
    body: { to, stream_url: `wss://${tunnelHost}/v1/media/ended-${randomBytes(6).toString('hex')}`, stream_auth_token: STREAM_TOKEN },
  });
  if (res.status !== 200) throw new Error(`dial answered ${res.status}: ${JSON.stringify(res.body)}`);
  const id = res.body.call_control_id as string;
  const fake = h.provider.calls.get(id)!;
  fake.alive = false;
  fake.durationMs = providerMs;
  await postWebhook(h, envelope('call.hangup', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing', hangup_cause: 'normal_clearing' }));
  return id;
}

/** A platform's provider options for a started simulator (its API on `simPort`, its webhook signing key). */
export function simProviderOptions(simPort: number, apiKey: string, sim: { publicKeyBase64: string }): { providerBaseUrl: string; providerApiKey: string; connectionId: string; webhookPublicKeyBase64: string } {
  return { providerBaseUrl: `http://127.0.0.1:${simPort}`, providerApiKey: apiKey, connectionId: 'sim-connection', webhookPublicKeyBase64: sim.publicKeyBase64 };
}
