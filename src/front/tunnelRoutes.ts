/**
 * The tunnel-facing routes (DESIGN 7, FAQ-03 to FAQ-07): /v1/webhooks/provider,
 * /v1/media/:callId, and a 404 for everything else. Mounted on the main
 * thread's app (media sockets owned by the front) or on each media worker's
 * own app on the shared port (media sockets owned by the workers, DESIGN 4's
 * fourth option). The checks are the same code either way; only where the
 * answers come from differs (`TunnelHandlers`).
 */
import type { MediaRefusalReason } from './mediaRefusals.js';
import { performance } from 'node:perf_hooks';
import { ErrorCodes } from '../errors.js';
import { closeReason } from '../wire/closeReason.js';
import { CALL_ID_PATTERN, HEADER_SIGNATURE, HEADER_STREAM_TOKEN, HEADER_TIMESTAMP } from '../wire/telnyx.js';
import { FrameRateLimiter } from './FrameRateLimiter.js';
import { BodyBudget } from './BodyBudget.js';
import { guardedRoutes } from './httpRoutes.js';
import { readBody } from './readBody.js';
import { uws, type HttpResponse, type TemplatedApp, type WebSocket } from './uws.js';
import { RefusalLog } from '../RefusalLog.js';

export const WEBHOOK_BODY_LIMIT = 64 * 1024;
/**
 * What webhook bodies still arriving may hold at once, per thread: 256 bodies at the limit. The
 * provider's events are a kilobyte or two and arrive whole, so only bodies held open on purpose
 * come near it.
 */
export const WEBHOOK_BODIES_IN_FLIGHT_BYTES = 256 * WEBHOOK_BODY_LIMIT;
/** A media frame is small JSON; a 20 ms L16 48 kHz frame in base64 is under 3 KiB. Larger: uWS closes the socket. */
export const MEDIA_MAX_PAYLOAD = 16 * 1024;
/** RFC 6455 close codes: unacceptable data type, policy violation. */
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY = 1008;
/**
 * A media socket that has read nothing for this long is closed, and the call's
 * stream restarted (docs/control.md). The provider sends a frame every 20 ms;
 * one that goes quiet (a call on hold) is pinged by uWS a tick before the
 * timeout and its pong counts as traffic, so only a dead path (half-open)
 * reaches it. uWS's smallest value (it refuses under 8); its timers tick every
 * 4 s, so a dead path is closed 4 to 8 s after its last frame.
 */
export const MEDIA_IDLE_TIMEOUT_S = 8;
const MEDIA_MAX_BACKPRESSURE = 256 * 1024;


export type MediaVerdict = { ok: true; slot: number } | { ok: false; reason: MediaRefusalReason };

/** A webhook's answer: status line and JSON body. */
export interface WebhookAnswer {
  status: string;
  json: string;
}

export interface MediaUserData {
  slot: number;
  callId: string;
  limiter: FrameRateLimiter;
  /** Set once the socket was closed for abuse: later frames are ignored. */
  refused: boolean;
}

export type MediaSocketHandle = WebSocket<MediaUserData>;

/** Counters the front keeps (status, metrics, the security suite): refusals by reason. */
export type FrontCounter = 'mediaRefused' | 'mediaClosedForAbuse' | 'webhookBodyRefused' | 'notFound';

/** What the routes log through: pino on the main thread, a message to it from a worker. */
export interface FrontLog {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface TunnelHandlers {
  log: FrontLog;
  webhookReadTimeoutMs: number;
  mediaFramesPerSecond: number;
  mediaFrameBurst: number;
  /**
   * Close each HTTP connection after its response (no keep-alive). A worker's
   * listener does: this uWS build cannot close idle keep-alive connections on
   * demand, and a worker thread must not exit with one open.
   */
  closeConnections: boolean;
  /** A webhook whose body arrived whole; the answer may come later (another thread). */
  webhook(signature: string | undefined, timestamp: string | undefined, body: Buffer): WebhookAnswer | Promise<WebhookAnswer>;
  /** The media token check, before the upgrade is accepted (FAQ-07); may answer later. */
  authorizeMedia(callId: string, token: string | undefined): MediaVerdict | Promise<MediaVerdict>;
  mediaOpen(ws: MediaSocketHandle): void;
  /** One text frame; `message` is valid only during the call. */
  mediaFrame(slot: number, message: ArrayBuffer): void;
  mediaClosed(ws: MediaSocketHandle): void;
  /**
   * Runs the completion of an upgrade held for an asynchronous verdict inside a cork that is
   * safe for it (CorkAnchor); absent, the response's own cork is used.
   */
  corkForLateUpgrade?(res: HttpResponse, complete: () => void): void;
  /** The socket was closed for abuse (flood, binary garbage): the call ends. */
  mediaAbuse(slot: number, reason: string): void;
  count(counter: FrontCounter, key: string): void;
}

/** Percent-decode a path segment; malformed escapes give '' (refused), never an exception in a uWS handler. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}

export function sendJson(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
  });
}

/** How a webhook body that was not read whole is answered (`aborted`: never, the client is gone). */
const BODY_REFUSALS: Record<'too_large' | 'timeout' | 'busy', [status: string, code: string]> = {
  too_large: ['413 Payload Too Large', ErrorCodes.BODY_TOO_LARGE],
  timeout: ['408 Request Timeout', ErrorCodes.REQUEST_TIMEOUT],
  busy: ['503 Service Unavailable', ErrorCodes.OVERLOADED],
};

export function mountTunnelRoutes(app: TemplatedApp, handlers: TunnelHandlers): void {
  const { log } = handlers;
  // Anyone who reaches the tunnel can be refused at will: lines per reason are bounded.
  const refusals = new RefusalLog(log);
  const webhookBodies = new BodyBudget(WEBHOOK_BODIES_IN_FLIGHT_BYTES);
  const routes = guardedRoutes(app, (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'tunnel route handler failed (answered 500, or cut if its answer had begun)'));
  routes.post('/v1/webhooks/provider', (res, req) => {
    // Headers are only readable before the first await.
    const signature = req.getHeader(HEADER_SIGNATURE) || undefined;
    const timestamp = req.getHeader(HEADER_TIMESTAMP) || undefined;
    const state = { aborted: false };
    return readBody(res, WEBHOOK_BODY_LIMIT, handlers.webhookReadTimeoutMs, state, webhookBodies).then(async (result) => {
      if (state.aborted) return;
      if (!result.ok && result.reason !== 'aborted') {
        handlers.count('webhookBodyRefused', result.reason);
        refusals.write(`body ${result.reason}`, 'warn', { reason: result.reason }, 'webhook body refused');
        const [status, code] = BODY_REFUSALS[result.reason];
        res.cork(() => res.writeStatus(status).end(JSON.stringify({ error: { code } }), true));
        return;
      }
      if (!result.ok) return;
      let answer: WebhookAnswer;
      try {
        answer = await handlers.webhook(signature, timestamp, result.body);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'webhook could not be answered');
        answer = { status: '503 Service Unavailable', json: JSON.stringify({ error: { code: ErrorCodes.WORKER, message: 'webhook not handled' } }) };
      }
      if (state.aborted) return;
      res.cork(() => res.writeStatus(answer.status).writeHeader('content-type', 'application/json').end(answer.json, handlers.closeConnections));
    });
  });

  routes.ws<MediaUserData>('/v1/media/:callId', {
    maxPayloadLength: MEDIA_MAX_PAYLOAD,
    idleTimeout: MEDIA_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    maxBackpressure: MEDIA_MAX_BACKPRESSURE,
    compression: uws.DISABLED,
    upgrade: (res, req, context) => {
      const callId = decodePathSegment(req.getParameter(0) ?? '');
      const token = req.getHeader(HEADER_STREAM_TOKEN) || req.getQuery('token') || undefined;
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const settle = (verdict: MediaVerdict): void => {
        if (!verdict.ok) {
          handlers.count('mediaRefused', verdict.reason);
          refusals.write(`media ${verdict.reason}`, 'warn', { callId: CALL_ID_PATTERN.test(callId) ? callId : '(invalid)', reason: verdict.reason }, 'media upgrade refused', { reason: verdict.reason });
          res.writeStatus('401 Unauthorized').end(JSON.stringify({ error: { code: ErrorCodes.MEDIA_TOKEN, message: verdict.reason } }), true);
          return;
        }
        const limiter = new FrameRateLimiter(handlers.mediaFramesPerSecond, handlers.mediaFrameBurst, performance.now());
        res.upgrade<MediaUserData>({ slot: verdict.slot, callId, limiter, refused: false }, key, protocol, extensions, context);
      };
      if (!CALL_ID_PATTERN.test(callId)) return settle({ ok: false, reason: 'bad_call_id' });
      const verdict = handlers.authorizeMedia(callId, token);
      if (!isPromise(verdict)) return settle(verdict);
      // Answered by another thread: the request may be gone by then. The completion must never run
      // inside a handler of this app (its sync code or the microtasks uWS.js drains after it): uWS
      // then takes the new WebSocket for that request's upgrade, leaves the request's connection
      // corked, and the next read aborts the process (docs/threads.md, "one cause").
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      return verdict.then(
        (v) => {
          if (aborted) return;
          // A late upgrade must not run in this response's own cork in this uWS build (it can cut
          // the new socket, see CorkAnchor); a refusal is a plain HTTP answer and may.
          if (v.ok && handlers.corkForLateUpgrade) handlers.corkForLateUpgrade(res, () => settle(v));
          else res.cork(() => settle(v));
        },
        () => {
          if (!aborted) res.cork(() => settle({ ok: false, reason: 'unavailable' }));
        },
      );
    },
    open: (ws) => handlers.mediaOpen(ws),
    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      if (data.refused) return;
      if (isBinary) return closeForAbuse(ws, handlers, CLOSE_UNSUPPORTED_DATA, 'binary', `${ErrorCodes.MEDIA_PROTOCOL}: binary frames are not part of the media protocol`);
      if (!data.limiter.take(performance.now())) {
        return closeForAbuse(ws, handlers, CLOSE_POLICY, 'flood', `${ErrorCodes.MEDIA_FLOOD}: more media frames than a call sends`);
      }
      handlers.mediaFrame(data.slot, message);
    },
    // uWS answers each ping with a pong itself (before this runs): uncounted, a ping flood made the
    // gateway write a pong per ping without limit. Pings take from the frame bucket too; a provider
    // pings seldom if at all (RFC 6455 5.5.2). Pongs need no handler: uWS reads them natively and
    // answers nothing, and a handler would cost a call into JavaScript per pong.
    ping: (ws) => {
      const data = ws.getUserData();
      if (data.refused) return;
      if (!data.limiter.take(performance.now())) {
        closeForAbuse(ws, handlers, CLOSE_POLICY, 'flood', `${ErrorCodes.MEDIA_FLOOD}: more pings than a call sends`);
      }
    },
    close: (ws, code, message) => {
      // 1006: no close frame either way (the TCP connection dropped, or uWS cut it: idle, oversize;
      // uWS then names its reason in `message`).
      if (code === 1006) {
        const reason = Buffer.from(message).toString('utf8').slice(0, 120);
        log.warn({ callId: ws.getUserData().callId, code, reason }, 'media socket closed without a close frame');
      }
      handlers.mediaClosed(ws);
    },
  });

  routes.any('/*', (res) => {
    handlers.count('notFound', '');
    res.writeStatus('404 Not Found').end(undefined, handlers.closeConnections);
  });
}

/** Close one abusive socket and end its call; no other call is touched. */
function closeForAbuse(ws: MediaSocketHandle, handlers: TunnelHandlers, code: number, kind: string, reason: string): void {
  const data = ws.getUserData();
  data.refused = true;
  handlers.count('mediaClosedForAbuse', kind);
  handlers.log.warn({ callId: data.callId, kind }, 'media socket closed for abuse');
  handlers.mediaAbuse(data.slot, reason);
  ws.end(code, closeReason(reason));
}
