/**
 * The one way the gateway registers a uWebSockets.js HTTP handler (and a
 * WebSocket route's `upgrade`). uWS.js terminates the whole process when a
 * handler returns without having answered or attached onAborted
 * ("Returning from a request handler without responding or attaching an
 * abort handler is forbidden!"). A synchronous throw reaches that check:
 * wherever an `uncaughtException` listener keeps the thread going (every
 * media worker has one, and node:test has one), the process aborts (134);
 * on a thread without one, node exits. The same check fires when a worker
 * thread is terminated while inside a handler. Every process on the box's
 * calls go with it.
 *
 * So each handler here, before any of its own code:
 *  - has onAborted attached, and later `res.onAborted` calls add a listener
 *    instead of replacing it (uWS.js keeps one), so what we know of the
 *    client is never lost;
 *  - runs inside try/catch, and its promise (if it returns one) is watched:
 *    a throw or a rejection is reported and answered 500 with
 *    TTMA_ERR_INTERNAL (or the connection cut, when part of another answer
 *    is out), so neither the process nor the client is left hanging.
 * test/front/httpRoutes.test.ts refuses a raw `app.get(...)` (and the other
 * methods) anywhere else in src/.
 * uWS.js documentation on this rule: https://unetworking.github.io/uWebSockets.js/generated/interfaces/HttpResponse.html#onAborted
 */
import { ErrorCodes } from '../errors.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from './uws.js';

export type HttpHandler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;
/** Told of each handler that threw or rejected (the answer is already taken care of). */
export type HandlerFailed = (err: unknown) => void;

type Method = 'get' | 'post' | 'put' | 'patch' | 'del' | 'options' | 'head' | 'any';

export type GuardedRoutes = { [M in Method]: (pattern: string, handler: HttpHandler) => GuardedRoutes } & {
  ws<UserData>(pattern: string, behavior: WebSocketBehavior<UserData>): GuardedRoutes;
};

const INTERNAL_BODY = JSON.stringify({ error: { code: ErrorCodes.INTERNAL, message: 'internal error' } });

interface ResponseState {
  aborted: boolean;
  /** Something of an answer was written (status, a header, chunked body): a 500 can no longer replace it. */
  started: boolean;
}

/**
 * Attaches the response's one onAborted (later onAborted calls subscribe to
 * it) and notes when an answer starts: uWS ignores a second status line, so
 * a 500 after a 200's status was written would go out as a 200.
 */
function watch(res: HttpResponse): ResponseState {
  const state: ResponseState = { aborted: false, started: false };
  const listeners: Array<() => void> = [];
  res.onAborted(() => {
    state.aborted = true;
    for (const listener of listeners) listener();
  });
  res.onAborted = (listener) => {
    listeners.push(listener);
    return res;
  };
  const { writeStatus, writeHeader, write } = res;
  res.writeStatus = (status) => {
    state.started = true;
    return writeStatus.call(res, status);
  };
  res.writeHeader = (key, value) => {
    state.started = true;
    return writeHeader.call(res, key, value);
  };
  res.write = (chunk) => {
    state.started = true;
    return write.call(res, chunk);
  };
  return state;
}

/** A 500 for a handler that failed, unless the client is gone or the handler had answered already. */
function answerFailure(res: HttpResponse, state: ResponseState): void {
  if (state.aborted) return;
  try {
    res.cork(() => {
      // Part of another answer is out: only a cut is honest now (the client never sees it complete).
      if (state.started || res.getWriteOffset() > 0) res.close();
      else res.writeStatus('500 Internal Server Error').writeHeader('content-type', 'application/json').end(INTERNAL_BODY, true);
    });
  } catch {
    // uWS.js throws on a response that was answered (or closed) already: nothing is left to do.
  }
}

/** `handler` made safe for uWS: onAborted first, every failure answered. Extra arguments (an upgrade's context) pass through. */
export function guarded<A extends unknown[]>(handler: (res: HttpResponse, ...args: A) => void | Promise<void>, failed: HandlerFailed) {
  return (res: HttpResponse, ...args: A): void => {
    const state = watch(res);
    const fail = (err: unknown): void => {
      failed(err);
      answerFailure(res, state);
    };
    try {
      const result = handler(res, ...args);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/** The app's route registrations, every handler `guarded`. */
export function guardedRoutes(app: TemplatedApp, failed: HandlerFailed): GuardedRoutes {
  const method = (m: Method) => (pattern: string, handler: HttpHandler): GuardedRoutes => {
    app[m](pattern, guarded(handler, failed));
    return routes;
  };
  const routes: GuardedRoutes = {
    get: method('get'),
    post: method('post'),
    put: method('put'),
    patch: method('patch'),
    del: method('del'),
    options: method('options'),
    head: method('head'),
    any: method('any'),
    ws: (pattern, behavior) => {
      const { upgrade } = behavior;
      app.ws(pattern, upgrade ? { ...behavior, upgrade: guarded(upgrade, failed) } : behavior);
      return routes;
    },
  };
  return routes;
}
