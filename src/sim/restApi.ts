/**
 * The simulated Call Control REST API on node:http (127.0.0.1 only).
 *
 * Every request needs `Authorization: Bearer <apiKey>`; bodies are JSON, at
 * most 64 KiB; refusals are Telnyx-style `{"errors":[...]}` bodies. Requests
 * carrying a `command_id` are idempotent per call and action: a repeat gets
 * the first answer back and changes nothing.
 *
 *   POST /v2/calls                                  dial
 *   POST /v2/calls/{id}/actions/{action}            answer, hangup, streaming_start,
 *                                                   streaming_stop, record_start, record_stop,
 *                                                   send_dtmf, transfer
 *   GET  /v2/calls/{id}                             call status
 *   GET  /v2/connections/{id}/active_calls          the connection's calls not ended, oldest first
 *                                                   (page[number], page[size]; Telnyx's "List all active calls
 *                                                   for given connection")
 *   GET  /v2/detail_records                         the provider's records of ended calls (Detail Records search,
 *                                                   filter[record_type]=call-control: src/sim/detailRecords.ts)
 *   GET  /v2/recordings, /v2/recordings/{id}        call recordings (filter[call_leg_id], filter[call_session_id],
 *                                                   filter[connection_id], page[number], page[size]), newest
 *                                                   first, each with a freshly signed download URL
 *   DELETE /v2/recordings/{id}                      deletes a recording for good (its URLs then answer 404)
 *   POST /sim/calls/inbound                         simulator control: place an inbound call
 *   GET  /sim/calls[?samples=1], /sim/calls/{id}    simulator control: call reports
 *   POST /sim/calls/{id}/drop_stream                fault injection: the path to the gateway breaks
 *                                                   (socket dropped, no close frame; the call goes on)
 *   POST /sim/calls/{id}/stall_stream               fault injection: the path goes silent both ways
 *                                                   and stays open (a half-open connection)
 *   POST /sim/calls/{id}/end_talk                   simulator control: the caller stops talking now and
 *                                                   hangs up as at its talk's end (answers talked_ms)
 *   POST /sim/tunnels/{host}/down, .../up           fault injection: the tunnel's connector goes away
 *                                                   (new media connections fail) or comes back
 *   GET  /sim/recordings/{id}.mp3|.wav?expires=&signature=
 *                                                   a saved recording, like a pre-signed S3 URL: no key,
 *                                                   the signature is the credential; 403 once expired or
 *                                                   when the signature is missing or wrong, 404 unknown id;
 *                                                   single byte ranges (206/416); HEAD too
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from '../log.js';
import { RateLimiter } from '../platform/RateLimiter.js';
import { PROVIDER_CODE_CALL_ENDED } from '../wire/telnyx.js';
import { PROVIDER_CODES } from './constants.js';
import { ProviderApiError } from './ProviderApiError.js';
import type { ProviderSimulator, SimRecording } from './ProviderSimulator.js';
import { searchDetailRecords } from './detailRecords.js';
import { invalidParam, pageParam, parseCommand, parseDigits, parseDial, parseInbound, parseStreamCommand, parseTransfer, type StreamParams } from './requests.js';

export interface RestApiOptions {
  apiKey: string;
  bodyLimitBytes: number;
  logger: Logger;
  sim: ProviderSimulator;
  /** Most remembered command_id answers. */
  maxIdempotencyEntries?: number;
  /** The API key's request budget (ProviderSimulatorOptions.apiRateLimit); none when absent. */
  apiRateLimit?: { ratePerSec: number; burst: number };
}

interface ApiResponse {
  status: number;
  body: unknown;
  /** Extra response headers (the rate limit's). */
  headers?: Record<string, string>;
  /** Default JSON; a Buffer body with this type is sent as is. */
  contentType?: string;
}

/** `GET /v2/recordings` page size: Telnyx's default and bounds. */
const PAGE_SIZE_DEFAULT = 20;
const PAGE_SIZE_MAX = 250;

const AUTH_FAILED = new ProviderApiError(401, PROVIDER_CODES.AUTH_FAILED, 'Authentication failed');
const ACTIONS = ['answer', 'hangup', 'streaming_start', 'streaming_stop', 'record_start', 'record_stop', 'send_dtmf', 'transfer'] as const;
type Action = (typeof ACTIONS)[number];

const ROUTE_ACTION = /^\/v2\/calls\/([^/]+)\/actions\/([a-z_]+)$/;
const ROUTE_CALL = /^\/v2\/calls\/([^/]+)$/;
const ROUTE_ACTIVE_CALLS = /^\/v2\/connections\/([^/]+)\/active_calls$/;
const ROUTE_SIM_CALL = /^\/sim\/calls\/([^/]+)$/;
const ROUTE_SIM_FAULT = /^\/sim\/calls\/([^/]+)\/(drop|stall)_stream$/;
const ROUTE_SIM_END_TALK = /^\/sim\/calls\/([^/]+)\/end_talk$/;
const ROUTE_SIM_TUNNEL = /^\/sim\/tunnels\/([^/]+)\/(down|up)$/;
const ROUTE_RECORDING = /^\/sim\/recordings\/([0-9a-f]{32})\.(mp3|wav)$/;
const RECORDING_TYPES = { mp3: 'audio/mpeg', wav: 'audio/wav' } as const;
const ROUTE_V2_RECORDING = /^\/v2\/recordings\/([^/]+)$/;

export function createRestApi(options: RestApiOptions): http.Server {
  const expectedKeyHash = sha256(options.apiKey);
  const idempotency = new IdempotencyCache(options.maxIdempotencyEntries ?? 10_000);
  const { sim, logger } = options;
  const apiBudget = options.apiRateLimit ? new RateLimiter(options.apiRateLimit) : null;

  async function handle(req: http.IncomingMessage): Promise<ApiResponse> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    // Recording URLs work like pre-signed storage URLs: the signature is the credential, not the key.
    const recording = ROUTE_RECORDING.exec(path);
    if (recording) {
      if (method !== 'GET' && method !== 'HEAD') return storageError(405, 'MethodNotAllowed', 'use GET or HEAD', { allow: 'GET, HEAD' });
      return serveRecording(sim, recording[1] ?? '', recording[2] === 'wav' ? 'wav' : 'mp3', url.searchParams, req.headers.range);
    }
    if (!authorized(req.headers.authorization, expectedKeyHash)) throw AUTH_FAILED;
    // Telnyx rate-limits the API key on most endpoints: past it, 429 code 10011 and the
    // x-ratelimit-* headers (developers.telnyx.com, "Rate limiting"). One key, one bucket.
    if (apiBudget && path.startsWith('/v2/') && !apiBudget.take('key')) {
      const resetSec = Math.max(1, Math.ceil(apiBudget.retryAfterMs('key') / 1000));
      return {
        status: 429,
        body: new ProviderApiError(429, PROVIDER_CODES.TOO_MANY_REQUESTS, 'Too many requests', 'You have exceeded the maximum number of allowed requests.').toBody(),
        headers: { 'x-ratelimit-limit': String(options.apiRateLimit?.burst), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetSec) },
      };
    }

    if (path === '/v2/calls') {
      requireMethod(method, 'POST');
      const params = parseDial(await readJson(req, options.bodyLimitBytes));
      return idempotency.run(params.commandId === undefined ? undefined : `dial|${params.commandId}`, () => {
        const call = sim.dial(params);
        return {
          status: 200,
          body: {
            data: {
              call_control_id: call.id,
              call_leg_id: call.legId,
              call_session_id: call.sessionId,
              is_alive: true,
              record_type: 'call',
            },
          },
        };
      });
    }

    let match = ROUTE_ACTION.exec(path);
    if (match) {
      requireMethod(method, 'POST');
      const id = decodeId(match[1]);
      const action = match[2] as Action;
      if (!ACTIONS.includes(action)) throw notFound(`unknown call action "${action}"`);
      const body = await readJson(req, options.bodyLimitBytes);
      return runAction(id, action, body);
    }

    match = ROUTE_CALL.exec(path);
    if (match) {
      requireMethod(method, 'GET');
      const info = sim.callInfo(decodeId(match[1]));
      if (!info) throw notFound('call not found');
      return { status: 200, body: { data: info } };
    }

    // developers.telnyx.com/api-reference/call-information/list-all-active-calls-for-given-connection
    match = ROUTE_ACTIVE_CALLS.exec(path);
    if (match) {
      requireMethod(method, 'GET');
      const q = url.searchParams;
      const pageNumber = pageParam(q, 'page[number]', 1, Number.MAX_SAFE_INTEGER);
      const pageSize = pageParam(q, 'page[size]', PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
      const all = sim.activeCalls(decodeId(match[1]));
      const start = (pageNumber - 1) * pageSize;
      return {
        status: 200,
        body: {
          data: all.slice(start, start + pageSize).map((call) => {
            const { call_control_id, call_leg_id, call_session_id, client_state, call_duration } = call.info();
            return { record_type: 'call', call_control_id, call_leg_id, call_session_id, client_state, call_duration };
          }),
          meta: { page_number: pageNumber, page_size: pageSize, total_pages: Math.ceil(all.length / pageSize), total_items: all.length },
        },
      };
    }

    if (path === '/v2/detail_records') {
      requireMethod(method, 'GET');
      return { status: 200, body: searchDetailRecords(sim.filedCallRecords(), url.searchParams) };
    }

    if (path === '/v2/recordings') {
      requireMethod(method, 'GET');
      const q = url.searchParams;
      const pageNumber = pageParam(q, 'page[number]', 1, Number.MAX_SAFE_INTEGER);
      const pageSize = pageParam(q, 'page[size]', PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
      const filter: { callLegId?: string; callSessionId?: string; connectionId?: string } = {};
      const leg = q.get('filter[call_leg_id]');
      const session = q.get('filter[call_session_id]');
      const connection = q.get('filter[connection_id]');
      if (leg !== null) filter.callLegId = leg;
      if (session !== null) filter.callSessionId = session;
      if (connection !== null) filter.connectionId = connection;
      const all = sim.recordings(filter);
      const start = (pageNumber - 1) * pageSize;
      return {
        status: 200,
        body: {
          data: all.slice(start, start + pageSize).map((r) => recordingObject(sim, r)),
          meta: { page_number: pageNumber, page_size: pageSize, total_pages: Math.ceil(all.length / pageSize), total_results: all.length },
        },
      };
    }

    match = ROUTE_V2_RECORDING.exec(path);
    if (match) {
      if (method !== 'DELETE') requireMethod(method, 'GET');
      const found = sim.recordingInfo(decodeId(match[1]));
      if (!found) throw notFound('recording not found');
      if (method === 'DELETE' && sim.recordingDeleteFails(found)) {
        throw new ProviderApiError(503, PROVIDER_CODES.UNEXPECTED, 'Service unavailable', 'the recording could not be deleted now; try again later');
      }
      const body = { data: recordingObject(sim, found) };
      // Telnyx answers a deletion with the recording as it was.
      if (method === 'DELETE') sim.deleteRecording(found.id);
      return { status: 200, body };
    }

    if (path === '/sim/calls/inbound') {
      requireMethod(method, 'POST');
      const params = parseInbound(await readJson(req, options.bodyLimitBytes));
      const call = sim.placeInboundCall(params);
      return { status: 200, body: { call_control_id: call.id } };
    }

    if (path === '/sim/calls') {
      requireMethod(method, 'GET');
      // ?samples=1 adds each ended call's per-frame round trips (for pooled percentiles).
      const withSamples = url.searchParams.get('samples') === '1';
      return { status: 200, body: { data: withSamples ? sim.callSummariesWithSamples() : sim.callSummaries() } };
    }

    match = ROUTE_SIM_FAULT.exec(path);
    if (match) {
      requireMethod(method, 'POST');
      const call = sim.liveCall(decodeId(match[1]));
      if (!call) throw notFound('call not found or not live');
      const fault = match[2] as 'drop' | 'stall';
      if (!(fault === 'drop' ? call.dropStream() : call.stallStream())) {
        throw new ProviderApiError(422, PROVIDER_CODES.INVALID_CALL_STATE, 'Invalid call state', `no open media stream to ${fault}`);
      }
      return { status: 200, body: { data: { result: 'ok' } } };
    }

    // The caller stops talking now and hangs up as at its talk's end: for a driver (`ttma demo
    // --kill-gateway`) whose calls must last until something it cannot time has happened.
    match = ROUTE_SIM_END_TALK.exec(path);
    if (match) {
      requireMethod(method, 'POST');
      const call = sim.liveCall(decodeId(match[1]));
      if (!call) throw notFound('call not found or not live');
      if (!call.endTalkNow()) {
        throw new ProviderApiError(422, PROVIDER_CODES.INVALID_CALL_STATE, 'Invalid call state', 'the caller is not talking');
      }
      return { status: 200, body: { data: { result: 'ok', talked_ms: call.talkedMs } } };
    }

    match = ROUTE_SIM_TUNNEL.exec(path);
    if (match) {
      requireMethod(method, 'POST');
      try {
        sim.setTunnelDown(decodeId(match[1]), match[2] === 'down');
      } catch {
        throw notFound('no tunnel serves this host');
      }
      return { status: 200, body: { data: { result: 'ok' } } };
    }

    match = ROUTE_SIM_CALL.exec(path);
    if (match) {
      requireMethod(method, 'GET');
      const summary = sim.callSummary(decodeId(match[1]));
      if (!summary) throw notFound('call not found');
      return { status: 200, body: summary };
    }

    throw notFound(`no route for ${method} ${path}`);
  }

  function runAction(id: string, action: Action, body: unknown): ApiResponse {
    // Validate first: a malformed command is refused whatever its command_id.
    const withStream = action === 'answer' || action === 'streaming_start';
    const params: StreamParams = withStream
      ? parseStreamCommand(body, action === 'streaming_start')
      : { ...parseCommand(body), stream: undefined };
    const stream = params.stream;
    const key = params.commandId === undefined ? undefined : `${id}|${action}|${params.commandId}`;
    // The cache is consulted first: a repeat after the call ended still gets its first answer.
    return idempotency.run(key, () => {
      const call = sim.liveCall(id);
      if (!call) {
        if (sim.hasEnded(id)) {
          throw new ProviderApiError(422, PROVIDER_CODE_CALL_ENDED, 'Call has already ended', 'This call is no longer active and can not receive commands.');
        }
        throw notFound('call not found');
      }
      switch (action) {
        case 'answer':
          call.answer(stream, params.clientState);
          break;
        case 'hangup':
          call.hangup(params.clientState);
          break;
        case 'streaming_start':
          if (!stream) throw invalidParam('stream_url', 'is required');
          call.startStreaming(stream, params.clientState);
          break;
        case 'streaming_stop':
          call.stopStreaming(params.clientState);
          break;
        case 'record_start':
          call.recordStart(params.clientState, recordFormat(body));
          break;
        case 'record_stop':
          call.recordStop(params.clientState);
          break;
        case 'send_dtmf':
          call.sendDtmf(parseDigits(body), params.clientState);
          break;
        case 'transfer':
          call.transfer(parseTransfer(body), params.clientState);
          break;
      }
      logger.debug({ callId: id, action }, 'call action');
      return { status: 200, body: { data: { result: 'ok' } } };
    });
  }

  const server = http.createServer((req, res) => {
    handle(req).then(
      (response) => {
        for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
        send(res, response.status, response.body, response.contentType, req.method === 'HEAD');
      },
      (err: unknown) => {
        if (err instanceof ProviderApiError) {
          if (err.status === 413) {
            // Stop reading an oversized body: answer, then drop the connection.
            res.setHeader('connection', 'close');
            res.on('finish', () => req.destroy());
          }
          send(res, err.status, err.toBody());
          return;
        }
        logger.error({ err, method: req.method, url: req.url }, 'simulator request failed');
        send(res, 500, new ProviderApiError(500, PROVIDER_CODES.UNEXPECTED, 'Unexpected error').toBody());
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  return server;
}

/** Remembers the answer to each (call, action, command_id), oldest forgotten first. */
class IdempotencyCache {
  readonly #max: number;
  readonly #entries = new Map<string, ApiResponse>();

  constructor(max: number) {
    this.#max = max;
  }

  run(key: string | undefined, fn: () => ApiResponse): ApiResponse {
    if (key === undefined) return fn();
    const seen = this.#entries.get(key);
    if (seen) return seen;
    let response: ApiResponse;
    try {
      response = fn();
    } catch (err) {
      if (!(err instanceof ProviderApiError)) throw err;
      response = { status: err.status, body: err.toBody() };
    }
    this.#entries.set(key, response);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return response;
  }
}

/** A HEAD answer carries the headers (content-length included) and no body. */
function send(res: http.ServerResponse, status: number, body: unknown, contentType?: string, head = false): void {
  if (contentType && Buffer.isBuffer(body)) {
    res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
    if (head) res.end();
    else res.end(body);
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * A recording at its signed URL, the way S3 answers a pre-signed GET: the
 * signature before anything else (403 AccessDenied when it is missing,
 * malformed, wrong or expired), then the object (404 NoSuchKey), then one
 * byte range (RFC 9110 section 14: 206, or 416 when it starts past the end;
 * a malformed or multi-range header is ignored and the whole file sent).
 */
function serveRecording(sim: ProviderSimulator, id: string, format: 'mp3' | 'wav', query: URLSearchParams, range: string | undefined): ApiResponse {
  const check = sim.checkRecordingUrl(id, query.get('expires'), query.get('signature'));
  if (check === 'expired') return storageError(403, 'AccessDenied', 'Request has expired');
  if (check !== 'ok') return storageError(403, 'AccessDenied', 'The request signature is missing or does not match');
  // The key is the id with its format's extension: the other extension names no object.
  const bytes = sim.recordingInfo(id)?.format === format ? sim.recording(id) : undefined;
  if (!bytes) return storageError(404, 'NoSuchKey', 'The specified key does not exist.');
  const contentType = RECORDING_TYPES[format];
  const total = bytes.length;
  const headers: Record<string, string> = { 'accept-ranges': 'bytes' };
  const wanted = range === undefined ? null : parseRange(range, total);
  if (wanted === 'unsatisfiable') {
    return storageError(416, 'InvalidRange', 'The requested range is not satisfiable', { ...headers, 'content-range': `bytes */${total}` });
  }
  if (wanted === null) return { status: 200, body: bytes, contentType, headers };
  const [first, last] = wanted;
  return {
    status: 206,
    body: bytes.subarray(first, last + 1),
    contentType,
    headers: { ...headers, 'content-range': `bytes ${first}-${last}/${total}` },
  };
}

/**
 * One `bytes=` range of a representation of `total` (> 0) bytes, as
 * inclusive [first, last]; null when the header is to be ignored (not bytes,
 * malformed, first > last, or several ranges: the whole file is sent, as
 * RFC 9110 allows and S3 does); 'unsatisfiable' when it starts at or past
 * the end, or is an empty suffix.
 */
function parseRange(header: string, total: number): [number, number] | 'unsatisfiable' | null {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return null;
  const [, a = '', b = ''] = match;
  if (a === '' && b === '') return null;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, total - suffix), total - 1];
  }
  const first = Number(a);
  const last = b === '' ? Number.POSITIVE_INFINITY : Number(b);
  if (last < first) return null;
  if (first >= total) return 'unsatisfiable';
  return [first, Math.min(last, total - 1)];
}

/** S3's error body for a storage URL: `<Error><Code>..</Code><Message>..</Message></Error>`. */
function storageError(status: number, code: string, message: string, headers: Record<string, string> = {}): ApiResponse {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  return { status, body: Buffer.from(xml, 'utf8'), contentType: 'application/xml', headers };
}

/** A recording as Telnyx's call recordings API shows it, with a download URL signed now. */
function recordingObject(sim: ProviderSimulator, r: SimRecording): Record<string, unknown> {
  return {
    record_type: 'recording',
    id: r.id,
    call_control_id: r.callControlId,
    call_leg_id: r.callLegId,
    call_session_id: r.callSessionId,
    connection_id: r.connectionId,
    conference_id: null,
    channels: 'single',
    created_at: r.createdAt,
    updated_at: r.createdAt,
    recording_started_at: r.startedAt,
    recording_ended_at: r.endedAt,
    duration_millis: r.durationMs,
    source: 'call',
    status: 'completed',
    download_urls: { [r.format]: sim.recordingUrl(r.id) },
  };
}


function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function authorized(header: string | undefined, expectedHash: Buffer): boolean {
  if (!header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) return false;
  return timingSafeEqual(sha256(match[1]), expectedHash);
}

/** Telnyx record_start: `format` mp3 (default here) or wav. */
function recordFormat(body: unknown): 'mp3' | 'wav' {
  const format = (body as { format?: unknown } | null)?.format;
  if (format === undefined || format === 'mp3') return 'mp3';
  if (format === 'wav') return 'wav';
  throw invalidParam('format', 'must be mp3 or wav');
}

function requireMethod(method: string, expected: string): void {
  if (method !== expected) {
    throw new ProviderApiError(405, PROVIDER_CODES.BAD_REQUEST, 'Method not allowed', `use ${expected}`);
  }
}

function notFound(detail: string): ProviderApiError {
  return new ProviderApiError(404, PROVIDER_CODES.NOT_FOUND, 'Resource not found', detail);
}

function decodeId(raw: string | undefined): string {
  try {
    return decodeURIComponent(raw ?? '');
  } catch {
    throw notFound('call not found');
  }
}

async function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'];
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
  if (raw.length === 0) return {};
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw new ProviderApiError(415, PROVIDER_CODES.UNSUPPORTED_MEDIA_TYPE, 'Unsupported Media Type', 'send application/json');
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new ProviderApiError(400, PROVIDER_CODES.INVALID_JSON, 'Invalid JSON', 'the request body is not valid JSON');
  }
}

function tooLarge(limit: number): ProviderApiError {
  return new ProviderApiError(413, PROVIDER_CODES.BAD_REQUEST, 'Request body too large', `the limit is ${limit} bytes`);
}
