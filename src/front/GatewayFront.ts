/**
 * The gateway's uWebSockets.js edge. It only routes: webhooks to the
 * WebhookGate and the ControlActor, media sockets (authenticated at upgrade)
 * to the call's worker. Two listeners on loopback (DESIGN 7, FAQ-03/04):
 *  - tunnel-facing: only /v1/webhooks/* and /v1/media/*, everything else 404;
 *  - local-only: diagnostics, refusing anything that carries a tunnel header.
 */
import { performance } from 'node:perf_hooks';
import type { ControlActor } from '../actors/ControlActor.js';
import type { WebhookGate } from '../control/WebhookGate.js';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import { HEADER_SIGNATURE, HEADER_STREAM_TOKEN, HEADER_TIMESTAMP } from '../wire/telnyx.js';
import type { DashboardFeed } from '../control/DashboardFeed.js';
import { DASHBOARD_CSP, DASHBOARD_EVENTS_PATH, renderDashboard } from './dashboardPage.js';
import { FrameRateLimiter } from './FrameRateLimiter.js';
import { readBody } from './readBody.js';
import { localOperatorRoutes } from './localOperatorRoutes.js';
import { uws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket, type WebSocket } from './uws.js';

export const WEBHOOK_BODY_LIMIT = 64 * 1024;
/** A media frame is small JSON; a 20 ms L16 48 kHz frame in base64 is under 3 KiB. Larger: uWS closes the socket. */
export const MEDIA_MAX_PAYLOAD = 16 * 1024;
/** RFC 6455 close codes: unacceptable data type, policy violation. */
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY = 1008;
const MEDIA_IDLE_TIMEOUT_S = 30;
const MEDIA_MAX_BACKPRESSURE = 256 * 1024;
/** Open dashboards at once (each holds one SSE response): a local page for an operator, not a broadcast. */
const MAX_DASHBOARD_STREAMS = 16;
/** The browser reconnects after this long when a dashboard stream drops (SSE `retry:`). */
const DASHBOARD_RETRY_MS = 2_000;

/** Headers a Cloudflare tunnel or its edge adds: never on a local request (FAQ-04). */
export const TUNNEL_HEADERS = ['cf-connecting-ip', 'cf-ray', 'cf-visitor', 'cf-warp-tag-id', 'cdn-loop', 'x-forwarded-for', 'forwarded'];
const TUNNEL_HEADER_SET = new Set(TUNNEL_HEADERS);

const CALL_ID_PATTERN = /^[A-Za-z0-9:_\-.]{1,128}$/;

/** Percent-decode a path segment; malformed escapes give '' (refused), never an exception in a uWS handler. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

interface MediaUserData {
  slot: number;
  callId: string;
  limiter: FrameRateLimiter;
  /** Set once the front has closed the socket for abuse: later frames are ignored. */
  refused: boolean;
}

export interface FrontOptions {
  host: string;
  tunnelPort: number;
  localPort: number;
  control: ControlActor;
  webhooks: WebhookGate;
  log: Logger;
  /** JSON for GET /debug/status on the local listener. */
  status(): unknown;
  /** Constant-time check of the bearer on the local operator routes (`ttma call`, `ttma calls`). */
  isOperator(bearer: string | undefined): boolean;
  /** JSON for GET /debug/latency: added latency per direction since the last POST /debug/latency/reset. */
  latency(): unknown;
  resetLatency(): void;
  /** Prometheus text for GET /metrics on the local listener. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** State for GET /dashboard, pushed to open dashboards over SSE. */
  dashboard: DashboardFeed;
  webhookReadTimeoutMs: number;
  mediaFramesPerSecond: number;
  mediaFrameBurst: number;
}

export interface FrontPorts {
  tunnelPort: number;
  localPort: number;
}

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${host}:${port}`));
    });
  });
}

/** Headers every local page and stream carries: nothing cached, sniffed, framed or referred. */
function securityHeaders(res: HttpResponse): HttpResponse {
  return res
    .writeHeader('cache-control', 'no-store')
    .writeHeader('x-content-type-options', 'nosniff')
    .writeHeader('referrer-policy', 'no-referrer')
    .writeHeader('x-frame-options', 'DENY');
}

function sendJson(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
  });
}

type Guard = (handler: (res: HttpResponse) => void) => (res: HttpResponse, req: HttpRequest) => void;
type RequestGuard = (handler: (res: HttpResponse, req: HttpRequest) => void) => (res: HttpResponse, req: HttpRequest) => void;

/** The tunnel-header guard, handing the request on (its headers are readable until the first await). */
function guardWithRequest(guard: Guard): RequestGuard {
  return (handler) => (res, req) => guard((r) => handler(r, req))(res, req);
}

export class GatewayFront {
  readonly #options: FrontOptions;
  readonly #listenSockets: us_listen_socket[] = [];
  readonly #sockets = new Set<WebSocket<MediaUserData>>();
  readonly #dashboards = new Set<HttpResponse>();
  readonly counters = {
    mediaRefused: {} as Record<string, number>,
    mediaClosedForAbuse: {} as Record<string, number>,
    webhookBodyRefused: {} as Record<string, number>,
    localRefused: 0,
    notFound: 0,
  };

  constructor(options: FrontOptions) {
    this.#options = options;
  }

  async start(): Promise<FrontPorts> {
    const { host } = this.#options;
    const tunnelApp = this.#tunnelApp();
    const localApp = this.#localApp();
    const tunnelSocket = await listen(tunnelApp, host, this.#options.tunnelPort);
    this.#listenSockets.push(tunnelSocket);
    const localSocket = await listen(localApp, host, this.#options.localPort);
    this.#listenSockets.push(localSocket);
    return {
      tunnelPort: uws.us_socket_local_port(tunnelSocket as never),
      localPort: uws.us_socket_local_port(localSocket as never),
    };
  }

  /** Stop accepting; open sockets are closed by their calls ending. */
  closeListeners(): void {
    for (const socket of this.#listenSockets.splice(0)) uws.us_listen_socket_close(socket);
  }

  /** Close whatever media sockets remain (after calls were hung up). */
  closeAllSockets(): void {
    for (const ws of [...this.#sockets]) ws.end(1001, 'gateway shutting down');
    for (const res of [...this.#dashboards]) this.#endDashboard(res);
  }

  #tunnelApp(): TemplatedApp {
    const { control, webhooks, log } = this.#options;
    const app = uws.App();
    app.post('/v1/webhooks/provider', (res, req) => {
      // Headers are only readable before the first await.
      const signature = req.getHeader(HEADER_SIGNATURE) || undefined;
      const timestamp = req.getHeader(HEADER_TIMESTAMP) || undefined;
      const state = { aborted: false };
      void readBody(res, WEBHOOK_BODY_LIMIT, this.#options.webhookReadTimeoutMs, state).then((result) => {
        if (state.aborted) return;
        if (!result.ok) {
          this.counters.webhookBodyRefused[result.reason] = (this.counters.webhookBodyRefused[result.reason] ?? 0) + 1;
          log.warn({ reason: result.reason }, 'webhook body refused');
          const status = result.reason === 'too_large' ? '413 Payload Too Large' : '408 Request Timeout';
          res.cork(() => res.writeStatus(status).end(JSON.stringify({ error: { code: ErrorCodes.BODY_TOO_LARGE } }), true));
          return;
        }
        const outcome = webhooks.check(signature, timestamp, result.body, Date.now());
        if (outcome.status !== 200) {
          if (outcome.reason === 'no_key') log.error('webhook refused: no webhook signing key configured (failing closed)');
          else log.warn({ reason: outcome.reason }, 'webhook refused');
          sendJson(res, outcome.status === 503 ? '503 Service Unavailable' : outcome.status === 400 ? '400 Bad Request' : '401 Unauthorized', {
            error: { code: outcome.code, message: outcome.reason },
          });
          return;
        }
        try {
          if (!outcome.duplicate) control.onWebhook(outcome.envelope);
        } catch (err) {
          // A verified event we could not handle: say so, so the provider retries; never crash the front.
          log.error({ err: (err as Error).message, event: outcome.duplicate ? undefined : outcome.envelope.data.event_type }, 'webhook handling failed');
          sendJson(res, '500 Internal Server Error', { error: { code: ErrorCodes.WEBHOOK_MALFORMED, message: 'event could not be handled' } });
          return;
        }
        sendJson(res, '200 OK', { ok: true });
      });
    });

    app.ws<MediaUserData>('/v1/media/:callId', {
      maxPayloadLength: MEDIA_MAX_PAYLOAD,
      idleTimeout: MEDIA_IDLE_TIMEOUT_S,
      maxBackpressure: MEDIA_MAX_BACKPRESSURE,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => {
        const callId = decodePathSegment(req.getParameter(0) ?? '');
        const token = req.getHeader(HEADER_STREAM_TOKEN) || req.getQuery('token') || undefined;
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const verdict = CALL_ID_PATTERN.test(callId) ? control.authorizeMedia(callId, token) : { ok: false as const, reason: 'bad_call_id' };
        if (!verdict.ok) {
          this.counters.mediaRefused[verdict.reason] = (this.counters.mediaRefused[verdict.reason] ?? 0) + 1;
          log.warn({ callId: CALL_ID_PATTERN.test(callId) ? callId : '(invalid)', reason: verdict.reason }, 'media upgrade refused');
          res.writeStatus('401 Unauthorized').end(JSON.stringify({ error: { code: ErrorCodes.MEDIA_TOKEN, message: verdict.reason } }), true);
          return;
        }
        const limiter = new FrameRateLimiter(this.#options.mediaFramesPerSecond, this.#options.mediaFrameBurst, performance.now());
        res.upgrade<MediaUserData>({ slot: verdict.slot, callId, limiter, refused: false }, key, protocol, extensions, context);
      },
      open: (ws) => {
        this.#sockets.add(ws);
        const { slot } = ws.getUserData();
        control.onMediaOpen(slot, {
          send: (frame) => {
            ws.cork(() => ws.send(frame, false));
          },
          close: (code, reason) => {
            if (this.#sockets.has(ws)) ws.end(code, reason.slice(0, 120));
          },
        });
      },
      message: (ws, message, isBinary) => {
        const data = ws.getUserData();
        if (data.refused) return;
        if (isBinary) return this.#closeForAbuse(ws, CLOSE_UNSUPPORTED_DATA, 'binary', `${ErrorCodes.MEDIA_PROTOCOL}: binary frames are not part of the media protocol`);
        if (!data.limiter.take(performance.now())) {
          return this.#closeForAbuse(ws, CLOSE_POLICY, 'flood', `${ErrorCodes.MEDIA_FLOOD}: more media frames than a call sends`);
        }
        control.onMediaMessage(data.slot, message);
      },
      close: (ws) => {
        this.#sockets.delete(ws);
        control.onMediaClose(ws.getUserData().slot);
      },
    });

    app.any('/*', (res) => {
      this.counters.notFound++;
      res.writeStatus('404 Not Found').end();
    });
    return app;
  }

  /** Close one abusive socket and end its call; no other call is touched. */
  #closeForAbuse(ws: WebSocket<MediaUserData>, code: number, kind: string, reason: string): void {
    const data = ws.getUserData();
    data.refused = true;
    this.counters.mediaClosedForAbuse[kind] = (this.counters.mediaClosedForAbuse[kind] ?? 0) + 1;
    this.#options.log.warn({ callId: data.callId, kind }, 'media socket closed for abuse');
    this.#options.control.onMediaAbuse(data.slot, reason);
    if (this.#sockets.has(ws)) ws.end(code, reason);
  }

  #localApp(): TemplatedApp {
    const app = uws.App();
    const guard = (handler: (res: HttpResponse) => void) => (res: HttpResponse, req: HttpRequest) => {
      // Presence, not value: an empty `cf-connecting-ip:` is still a tunnel header.
      let fromTunnel = false;
      req.forEach((key) => {
        if (TUNNEL_HEADER_SET.has(key)) fromTunnel = true;
      });
      if (fromTunnel) {
        this.counters.localRefused++;
        res.writeStatus('403 Forbidden').end(JSON.stringify({ error: { code: ErrorCodes.LOCAL_ONLY, message: 'diagnostics are local only' } }));
        return;
      }
      handler(res);
    };
    app.get('/healthz', guard((res) => sendJson(res, '200 OK', { ok: true })));
    app.get('/debug/status', guard((res) => sendJson(res, '200 OK', this.#options.status())));
    localOperatorRoutes(app, guardWithRequest(guard), this.#options);
    app.get('/debug/latency', guard((res) => sendJson(res, '200 OK', this.#options.latency())));
    app.post(
      '/debug/latency/reset',
      guard((res) => {
        this.#options.resetLatency();
        sendJson(res, '200 OK', { ok: true });
      }),
    );
    app.get('/metrics', guard((res) => this.#serveMetrics(res)));
    app.get('/dashboard', guard((res) => this.#serveDashboard(res)));
    app.get(DASHBOARD_EVENTS_PATH, guard((res) => this.#openDashboardStream(res)));
    app.any('/*', guard((res) => res.writeStatus('404 Not Found').end()));
    return app;
  }

  #serveMetrics(res: HttpResponse): void {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    this.#options.metrics().then(
      ({ contentType, body }) => {
        if (!state.aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', contentType).writeHeader('cache-control', 'no-store').end(body));
      },
      (err: Error) => {
        this.#options.log.error({ err: err.message }, 'metrics collection failed');
        if (!state.aborted) sendJson(res, '500 Internal Server Error', { error: { code: ErrorCodes.WORKER, message: 'metrics collection failed' } });
      },
    );
  }

  #serveDashboard(res: HttpResponse): void {
    const html = renderDashboard(this.#options.dashboard.state());
    res.cork(() => {
      securityHeaders(res.writeStatus('200 OK'))
        .writeHeader('content-type', 'text/html; charset=utf-8')
        .writeHeader('content-security-policy', DASHBOARD_CSP)
        .end(html);
    });
  }

  #openDashboardStream(res: HttpResponse): void {
    if (this.#dashboards.size >= MAX_DASHBOARD_STREAMS) {
      sendJson(res, '503 Service Unavailable', { error: { code: ErrorCodes.OVERLOADED, message: `at most ${MAX_DASHBOARD_STREAMS} dashboards at once` } });
      return;
    }
    res.onAborted(() => {
      this.#dashboards.delete(res);
      this.#watchDashboard();
    });
    const first = JSON.stringify(this.#options.dashboard.state());
    res.cork(() => {
      securityHeaders(res.writeStatus('200 OK')).writeHeader('content-type', 'text/event-stream');
      res.write(`retry: ${DASHBOARD_RETRY_MS}\n\ndata: ${first}\n\n`);
    });
    this.#dashboards.add(res);
    this.#watchDashboard();
  }

  /** Listen to the feed only while a dashboard is open (the workers then send per-call figures). */
  #watchDashboard(): void {
    const { dashboard } = this.#options;
    const listening = dashboard.listenerCount('state') > 0;
    if (this.#dashboards.size > 0 && !listening) dashboard.on('state', this.#pushDashboard);
    if (this.#dashboards.size === 0 && listening) dashboard.off('state', this.#pushDashboard);
  }

  /** One state to every open dashboard. JSON.stringify output has no raw newline, so one `data:` line is one event. */
  readonly #pushDashboard = (json: string): void => {
    const event = `data: ${json}\n\n`;
    for (const res of this.#dashboards) {
      let ok = true;
      res.cork(() => {
        ok = res.write(event);
      });
      // A tab that does not read (suspended, stuck): drop it rather than buffer; EventSource reconnects.
      if (!ok) this.#endDashboard(res);
    }
  };

  #endDashboard(res: HttpResponse): void {
    if (!this.#dashboards.delete(res)) return;
    this.#watchDashboard();
    res.cork(() => res.end());
  }
}
