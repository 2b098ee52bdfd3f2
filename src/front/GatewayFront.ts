/**
 * The gateway's uWebSockets.js edge. It only routes: webhooks to the
 * WebhookGate and the ControlActor, media sockets (authenticated at upgrade)
 * to the call's worker. Two listeners on loopback (DESIGN 7, FAQ-03/04):
 *  - tunnel-facing: only /v1/webhooks/* and /v1/media/*, everything else 404;
 *  - local-only: diagnostics, refusing what is not from this machine's own
 *    clients (localRequest.ts: tunnel headers, a foreign Host, another site).
 */
import type { ControlActor } from '../actors/ControlActor.js';
import type { WebhookGate } from '../control/WebhookGate.js';
import { ErrorCodes } from '../errors.js';
import { closeReason } from '../wire/closeReason.js';
import type { Logger } from '../log.js';
import { RefusalLog } from '../RefusalLog.js';
import type { DashboardFeed } from '../control/DashboardFeed.js';
import { DASHBOARD_CSP, DASHBOARD_EVENTS_PATH, renderDashboard } from './dashboardPage.js';
import type { LocalOperatorAuth } from './LocalOperatorAuth.js';
import { guardedRoutes } from './httpRoutes.js';
import { localOperatorRoutes } from './localOperatorRoutes.js';
import type { Readiness } from './readiness.js';
import { localHostsFor, localRequestRefusal, type LocalRefusalReason } from './localRequest.js';
import { mountTunnelRoutes, sendJson, type FrontCounter, type MediaSocketHandle, type WebhookAnswer } from './tunnelRoutes.js';
import { closeAppConnections, uws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.js';

export { MEDIA_MAX_PAYLOAD, WEBHOOK_BODY_LIMIT } from './tunnelRoutes.js';

/** Open dashboards at once (each holds one SSE response): a local page for an operator, not a broadcast. */
const MAX_DASHBOARD_STREAMS = 16;
/** The browser reconnects after this long when a dashboard stream drops (SSE `retry:`). */
const DASHBOARD_RETRY_MS = 2_000;

export { TUNNEL_HEADERS } from './localRequest.js';

export interface FrontOptions {
  host: string;
  tunnelPort: number;
  localPort: number;
  /** Listen on the tunnel port here (false: the media workers listen on it themselves). */
  tunnelListener: boolean;
  control: ControlActor;
  webhooks: WebhookGate;
  log: Logger;
  /** JSON for GET /debug/status on the local listener. */
  status(): unknown;
  /** GET /readyz: 200 when ready, else 503 naming each reason (readiness.ts). */
  readiness(): Readiness;
  /** The local operator routes' challenge-response (`ttma call`, `ttma calls`): the agent secret never crosses the port. */
  localAuth: LocalOperatorAuth;
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

type Guard = (handler: (res: HttpResponse) => void | Promise<void>) => (res: HttpResponse, req: HttpRequest) => void | Promise<void>;
type RequestGuard = (handler: (res: HttpResponse, req: HttpRequest) => void | Promise<void>) => (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

/** The local-request guard, handing the request on (its headers are readable until the first await). */
function guardWithRequest(guard: Guard): RequestGuard {
  return (handler) => (res, req) => guard((r) => handler(r, req))(res, req);
}

export class GatewayFront {
  readonly #options: FrontOptions;
  /** Webhook refusals are anyone's to repeat: their lines are bounded per reason. */
  readonly #refusals: RefusalLog;
  readonly #listenSockets: us_listen_socket[] = [];
  /** Kept apart so that a drain can close the tunnel side first and still answer /readyz. */
  #localListenSocket: us_listen_socket | null = null;
  readonly #apps: TemplatedApp[] = [];
  readonly #sockets = new Set<MediaSocketHandle>();
  readonly #dashboards = new Set<HttpResponse>();
  /** Host values the local listener answers (known once it listens; until then nothing passes). */
  #localHosts: ReadonlySet<string> = new Set();
  /** The local listener's port (0 until it listens): the operator routes' MACs name it. */
  #localPort = 0;
  readonly counters = {
    mediaRefused: {} as Record<string, number>,
    mediaClosedForAbuse: {} as Record<string, number>,
    webhookBodyRefused: {} as Record<string, number>,
    localRefused: { tunnel_header: 0, foreign_host: 0, cross_site: 0 } as Record<LocalRefusalReason, number>,
    /** Provider webhooks relayed by the platform over the control connection, by the status they were answered with. */
    webhooksRelayed: {} as Record<string, number>,
    notFound: 0,
  };

  constructor(options: FrontOptions) {
    this.#options = options;
    this.#refusals = new RefusalLog(options.log);
  }

  async start(): Promise<FrontPorts> {
    const { host } = this.#options;
    let tunnelPort = -1;
    if (this.#options.tunnelListener) {
      const tunnelApp = this.#tunnelApp();
      this.#apps.push(tunnelApp);
      const tunnelSocket = await listen(tunnelApp, host, this.#options.tunnelPort);
      this.#listenSockets.push(tunnelSocket);
      tunnelPort = uws.us_socket_local_port(tunnelSocket as never);
    }
    const localApp = this.#localApp();
    this.#apps.push(localApp);
    const localSocket = await listen(localApp, host, this.#options.localPort);
    this.#localListenSocket = localSocket;
    const localPort = uws.us_socket_local_port(localSocket as never);
    this.#localPort = localPort;
    this.#localHosts = localHostsFor(localPort);
    return { tunnelPort, localPort };
  }

  /**
   * Stop accepting; open sockets are closed by their calls ending. `keepLocal`:
   * the local listener stays (a drain closes it once its calls are gone).
   */
  closeListeners(options: { keepLocal?: boolean } = {}): void {
    for (const socket of this.#listenSockets.splice(0)) uws.us_listen_socket_close(socket);
    if (options.keepLocal) return;
    if (this.#localListenSocket) uws.us_listen_socket_close(this.#localListenSocket);
    this.#localListenSocket = null;
    this.#refusals.close();
  }

  /** Close whatever media sockets remain (after calls were hung up). */
  closeAllSockets(): void {
    for (const ws of [...this.#sockets]) ws.end(1001, 'gateway shutting down');
    for (const res of [...this.#dashboards]) this.#endDashboard(res);
    // Keep-alive HTTP connections outlive the listen sockets: a webhook sent on one after the stop
    // would reach this stopped gateway, not the next one on the same port. uWS's App.close()
    // (not in its typings) ends every connection of the app.
    for (const app of this.#apps.splice(0)) closeAppConnections(app);
  }

  /** The tunnel routes on the main thread, media sockets owned here (`mediaSockets: 'front'`). */
  #tunnelApp(): TemplatedApp {
    const { control } = this.#options;
    const app = uws.App();
    mountTunnelRoutes(app, {
      log: this.#options.log,
      webhookReadTimeoutMs: this.#options.webhookReadTimeoutMs,
      mediaFramesPerSecond: this.#options.mediaFramesPerSecond,
      mediaFrameBurst: this.#options.mediaFrameBurst,
      closeConnections: false,
      webhook: (signature, timestamp, body) => this.answerWebhook(signature, timestamp, body),
      authorizeMedia: (callId, token) => control.authorizeMedia(callId, token),
      mediaOpen: (ws) => {
        this.#sockets.add(ws);
        control.onMediaOpen(ws.getUserData().slot, {
          send: (frame) => {
            ws.cork(() => ws.send(frame, false));
          },
          close: (code, reason) => {
            if (this.#sockets.has(ws)) ws.end(code, closeReason(reason));
          },
        });
      },
      mediaFrame: (slot, message) => control.onMediaMessage(slot, message),
      mediaClosed: (ws) => {
        this.#sockets.delete(ws);
        control.onMediaClose(ws.getUserData().slot);
      },
      mediaAbuse: (slot, reason) => control.onMediaAbuse(slot, reason),
      count: (counter, key) => this.count(counter, key),
    });
    return app;
  }

  /**
   * A provider webhook the platform relayed over the control connection: verified and handled
   * exactly as one sent to the tunnel (same signature check, same replay cache: an event that
   * also came straight from the provider is a duplicate). Nobody waits for the answer; it is counted.
   */
  answerRelayedWebhook(signature: string, timestamp: string, body: Buffer): WebhookAnswer {
    const answer = this.answerWebhook(signature, timestamp, body);
    const status = answer.status.slice(0, 3);
    this.counters.webhooksRelayed[status] = (this.counters.webhooksRelayed[status] ?? 0) + 1;
    return answer;
  }

  /** A webhook whose body arrived whole (on this thread or a media worker's): verify, act, answer. */
  answerWebhook(signature: string | undefined, timestamp: string | undefined, body: Buffer): WebhookAnswer {
    const { control, webhooks, log } = this.#options;
    const outcome = webhooks.check(signature, timestamp, body, Date.now());
    if (outcome.status !== 200) {
      if (outcome.reason === 'no_key') this.#refusals.write('no_key', 'error', {}, 'webhook refused: no webhook signing key configured (failing closed)');
      else this.#refusals.write(outcome.reason, 'warn', { reason: outcome.reason }, 'webhook refused', { reason: outcome.reason });
      const status = outcome.status === 503 ? '503 Service Unavailable' : outcome.status === 400 ? '400 Bad Request' : '401 Unauthorized';
      return { status, json: JSON.stringify({ error: { code: outcome.code, message: outcome.reason } }) };
    }
    if (outcome.duplicate) return { status: '200 OK', json: '{"ok":true}' };
    try {
      control.onWebhook(outcome.envelope);
    } catch (err) {
      // A verified event we could not handle: say so, so the provider retries; never crash the front.
      // Both layouts come here (worker-owned sockets forward the body to main): one place forgets.
      webhooks.forget(outcome);
      log.error({ err: err instanceof Error ? err.message : 'non-error thrown', event: outcome.envelope.data.event_type }, 'webhook handling failed');
      return { status: '500 Internal Server Error', json: JSON.stringify({ error: { code: ErrorCodes.WEBHOOK_MALFORMED, message: 'event could not be handled' } }) };
    }
    return { status: '200 OK', json: '{"ok":true}' };
  }

  /** Count a refusal (also those a media worker's own listener made). */
  count(counter: FrontCounter, key: string): void {
    if (counter === 'notFound') {
      this.counters.notFound++;
      return;
    }
    const table = this.counters[counter];
    table[key] = (table[key] ?? 0) + 1;
  }

  #localApp(): TemplatedApp {
    const app = uws.App();
    const { log } = this.#options;
    const routes = guardedRoutes(app, (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'local route handler failed (answered 500, or cut if its answer had begun)'));
    // Every route, the operator ones and the 404 too: what is not local learns nothing here, not even which paths exist.
    const guard: Guard = (handler) => (res, req) => {
      const refusal = localRequestRefusal(req, this.#localHosts);
      if (refusal) {
        this.counters.localRefused[refusal.reason]++;
        res.writeStatus('403 Forbidden').end(JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
        return;
      }
      return handler(res);
    };
    // Liveness: the process answers. Readiness (can it take a call now) is /readyz.
    routes.get('/healthz', guard((res) => sendJson(res, '200 OK', { ok: true })));
    routes.get(
      '/readyz',
      guard((res) => {
        const { ready, reasons } = this.#options.readiness();
        sendJson(res, ready ? '200 OK' : '503 Service Unavailable', { ready, reasons });
      }),
    );
    routes.get('/debug/status', guard((res) => sendJson(res, '200 OK', this.#options.status())));
    localOperatorRoutes(routes, guardWithRequest(guard), { ...this.#options, localPort: () => this.#localPort });
    routes.get('/debug/latency', guard((res) => sendJson(res, '200 OK', this.#options.latency())));
    routes.post(
      '/debug/latency/reset',
      guard((res) => {
        this.#options.resetLatency();
        sendJson(res, '200 OK', { ok: true });
      }),
    );
    routes.get('/metrics', guard((res) => this.#serveMetrics(res)));
    routes.get('/dashboard', guard((res) => this.#serveDashboard(res)));
    routes.get(DASHBOARD_EVENTS_PATH, guard((res) => this.#openDashboardStream(res)));
    routes.any('/*', guard((res) => void res.writeStatus('404 Not Found').end()));
    return app;
  }

  #serveMetrics(res: HttpResponse): Promise<void> {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    return this.#options.metrics().then(
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
