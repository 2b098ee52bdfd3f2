/**
 * The local listener's operator routes behind `ttma call` and `ttma calls`
 * (loopback only, tunnel headers refused by the caller's guard, and the
 * deployment's agent secret as a bearer). They only route: the ControlActor
 * places the call through the platform's signalling proxy, so the platform's
 * allowlists, dialling policy and caps decide, exactly as for an agent's call.
 *
 *   POST /v1/local/calls {"to":"+1...","from"?:"+1..."} -> {"ok":true,"call_control_id","from","to"}
 *   GET  /v1/local/calls?recent=N[&source=gateway|platform] -> {"source","calls":[...]}
 *        gateway: GatewayCallRecord (live, ended, refused); platform: the platform's records of this deployment's calls
 *   GET  /v1/local/calls/{id}/recording.mp3 -> audio/mpeg: one of this deployment's recordings, streamed from the platform
 *        (which plays it only to its owner: FAQ-13, FAQ-17)
 *   DELETE /v1/local/calls/{id}/recording.mp3 -> what was deleted: one of this deployment's recordings, at the
 *        platform and at the provider
 *   DELETE /v1/local/recordings[?from=N] -> {"deleted","failed","more","recording_now","next_from"}: one pass of deleting
 *        every recording the platform keeps for this deployment, here and at the provider (`ttma recording
 *        --delete-existing` repeats it from each answer's next_from)
 *   GET  /v1/local/recording -> {"recording":true|false}: whether the platform records this deployment's calls
 *   POST /v1/local/recording {"recording":false} -> {"recording":false,"stopped":N}: turns it off (or on); off also
 *        stops the recording of live calls (FAQ-02, FAQ-17: "you can turn recording off at any time")
 *   POST /v1/local/dashboard-link -> {"url","expires_at"}: a one-time sign-in link to the deployment's own
 *        dashboard on the platform (its calls, recordings, minutes and recording switch)
 * Refusals: {"error":{"code","message"}} with the platform's code when it refused.
 */
import type { ControlActor } from '../actors/ControlActor.js';
import { ErrorCodes, isTtmaError } from '../errors.js';
import { CALL_ID_PATTERN } from '../wire/telnyx.js';
import { RECORDINGS_FROM_REFUSAL, recordingsFromOf } from '../wire/platformApi.js';
import type { Logger } from '../log.js';
import { readBody } from './readBody.js';
import { streamToResponse } from './streamToResponse.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';

const BODY_LIMIT = 4 * 1024;
const BODY_TIMEOUT_MS = 5_000;
const E164 = /^\+[1-9]\d{6,14}$/;
export const MAX_RECENT = 100;

const STATUS: Record<number, string> = {
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

interface Options {
  control: ControlActor;
  log: Logger;
  isOperator(bearer: string | undefined): boolean;
}

type Route = (handler: (res: HttpResponse, req: HttpRequest) => void) => (res: HttpResponse, req: HttpRequest) => void;

function send(res: HttpResponse, status: number, body: unknown): void {
  res.cork(() => {
    res.writeStatus(STATUS[status] ?? (status === 200 ? '200 OK' : '500 Internal Server Error'))
      .writeHeader('content-type', 'application/json')
      .writeHeader('cache-control', 'no-store')
      .end(JSON.stringify(body));
  });
}

function refuse(res: HttpResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

function platformCode(err: unknown): string {
  return isTtmaError(err) ? err.code : ErrorCodes.PLATFORM;
}

/** A failure at the platform as a local route answers it: the platform's own code and status when it is one of ours, else 502. */
function refusePlatform(res: HttpResponse, err: unknown, fallback: string): void {
  refuse(res, isTtmaError(err) && STATUS[err.status] ? err.status : 502, platformCode(err), isTtmaError(err) ? err.message : fallback);
}

function bearerOf(req: HttpRequest): string | undefined {
  return /^Bearer ([\x21-\x7e]+)$/i.exec(req.getHeader('authorization'))?.[1];
}

export function localOperatorRoutes(app: TemplatedApp, route: Route, options: Options): void {
  const { control, log } = options;

  /**
   * A POST of the operator's: the agent secret checked (before the body is
   * read, refused after it, so an unauthorised client learns nothing sooner),
   * the body read within its bounds, then `handle`.
   */
  const operatorPost = (what: string, handle: (res: HttpResponse, body: Buffer, state: { aborted: boolean }) => void | Promise<void>) =>
    route((res, req) => {
      const authorized = options.isOperator(bearerOf(req));
      const state = { aborted: false };
      void readBody(res, BODY_LIMIT, BODY_TIMEOUT_MS, state).then(async (result) => {
        if (state.aborted) return;
        if (!authorized) {
          log.warn({ audit: true, code: ErrorCodes.AUTH }, `local ${what} refused: wrong or missing agent secret`);
          return refuse(res, 401, ErrorCodes.AUTH, 'authentication failed: present the deployment agent secret as a bearer');
        }
        if (!result.ok) return refuse(res, result.reason === 'too_large' ? 413 : 400, ErrorCodes.BAD_REQUEST, `request body ${result.reason}`);
        await handle(res, result.body, state);
      });
    });

  /** The call id of a recording route, or null after refusing the request (wrong secret, malformed id). */
  const recordingCall = (res: HttpResponse, req: HttpRequest): string | null => {
    if (!options.isOperator(bearerOf(req))) {
      log.warn({ audit: true, code: ErrorCodes.AUTH }, 'local recording request refused: wrong or missing agent secret');
      refuse(res, 401, ErrorCodes.AUTH, 'authentication failed: present the deployment agent secret as a bearer');
      return null;
    }
    let callId = '';
    try {
      callId = decodeURIComponent(req.getParameter(0) ?? '');
    } catch {
      callId = '';
    }
    if (CALL_ID_PATTERN.test(callId)) return callId;
    refuse(res, 400, ErrorCodes.BAD_REQUEST, 'call id in the path is malformed');
    return null;
  };

  /** Answers with the platform's result (200, logged for audit) or its refusal, unless the client went away first. */
  const answerFromPlatform = <T>(res: HttpResponse, pending: () => Promise<T>, fields: Record<string, unknown>, done: string, refused: string) => {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    pending().then(
      (result) => {
        log.info({ audit: true, ...fields, ...(result as object) }, done);
        if (!state.aborted) send(res, 200, result);
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err), ...fields }, `${refused} at the platform`);
        if (!state.aborted) refusePlatform(res, err, refused);
      },
    );
  };

  app.del('/v1/local/calls/:id/recording.mp3', route((res, req) => {
    const callId = recordingCall(res, req);
    if (callId === null) return;
    answerFromPlatform(res, () => control.platformDeleteRecording(callId), { callId }, 'operator deleted a recording', 'recording not deleted');
  }));

  app.del('/v1/local/recordings', route((res, req) => {
    if (!options.isOperator(bearerOf(req))) {
      log.warn({ audit: true, code: ErrorCodes.AUTH }, 'local recordings deletion refused: wrong or missing agent secret');
      return refuse(res, 401, ErrorCodes.AUTH, 'authentication failed: present the deployment agent secret as a bearer');
    }
    const from = recordingsFromOf(new URLSearchParams(req.getQuery() ?? '').get('from'));
    if (from === null) return refuse(res, 400, ErrorCodes.BAD_REQUEST, RECORDINGS_FROM_REFUSAL);
    answerFromPlatform(res, () => control.platformDeleteKeptRecordings(from), { from }, 'operator deleted recordings (one pass)', 'recordings not deleted');
  }));

  app.get('/v1/local/calls/:id/recording.mp3', route((res, req) => {
    const callId = recordingCall(res, req);
    if (callId === null) return;
    const state = { aborted: false };
    let abortRelay: (() => void) | null = null;
    res.onAborted(() => {
      state.aborted = true;
      abortRelay?.();
    });
    control.platformRecording(callId).then(
      (download) => {
        if (state.aborted) {
          download.body.destroy();
          return;
        }
        // A chunk at a time, paced by the client: the gateway never holds the whole file.
        abortRelay = streamToResponse(res, download.body, {
          status: '200 OK',
          headers: { 'content-type': 'audio/mpeg', 'cache-control': 'no-store' },
          totalBytes: download.bytes,
          state,
          done: (outcome, bytes, reason) => {
            if (outcome === 'sent') log.info({ audit: true, callId, bytes }, 'operator fetched a recording');
            else log.warn({ callId, bytes, outcome, reason }, 'recording relay ended early');
          },
        });
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err), callId }, 'recording from the platform refused');
        if (!state.aborted) refusePlatform(res, err, 'recording not available');
      },
    );
  }));


  const relayRecordingSetting = (res: HttpResponse, state: { aborted: boolean }, on?: boolean): void => {
    control.platformRecordingSetting(on).then(
      (setting) => {
        if (on !== undefined) log.info({ audit: true, recording: on }, 'operator switched recording');
        if (!state.aborted) send(res, 200, setting);
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err) }, 'recording setting at the platform failed');
        if (!state.aborted) refusePlatform(res, err, 'recording setting failed');
      },
    );
  };

  app.get('/v1/local/recording', route((res, req) => {
    if (!options.isOperator(bearerOf(req))) {
      log.warn({ audit: true, code: ErrorCodes.AUTH }, 'local recording setting refused: wrong or missing agent secret');
      return refuse(res, 401, ErrorCodes.AUTH, 'authentication failed: present the deployment agent secret as a bearer');
    }
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    relayRecordingSetting(res, state);
  }));

  app.post('/v1/local/recording', operatorPost('recording switch', (res, raw, state) => {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'body is not JSON');
    }
    const on = (body as { recording?: unknown } | null)?.recording;
    if (typeof on !== 'boolean' || Object.keys(body as object).length !== 1) {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'the body is {"recording": true|false}');
    }
    relayRecordingSetting(res, state, on);
  }));

  app.post('/v1/local/dashboard-link', operatorPost('dashboard link', async (res, _raw, state) => {
    try {
      const link = await control.platformDashboardLink();
      // The link itself is a credential for a minute: it is not logged.
      log.info({ audit: true, expires_at: link.expires_at }, 'operator asked for a dashboard sign-in link');
      if (!state.aborted) send(res, 200, link);
    } catch (err) {
      log.warn({ code: platformCode(err) }, 'dashboard link from the platform failed');
      if (!state.aborted) refusePlatform(res, err, 'dashboard link failed');
    }
  }));

  app.post('/v1/local/calls', operatorPost('call request', async (res, raw, state) => {
    let body: { to?: unknown; from?: unknown };
    try {
      body = JSON.parse(raw.toString('utf8')) as { to?: unknown; from?: unknown };
    } catch {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'body is not JSON');
    }
    const { to, from } = body ?? {};
    if (typeof to !== 'string' || !E164.test(to)) {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'to must be one E.164 number: "+" then 7 to 15 digits');
    }
    if (from !== undefined && (typeof from !== 'string' || !E164.test(from))) {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'from must be one E.164 number: "+" then 7 to 15 digits');
    }
    try {
      const placed = await control.dial(to, from);
      log.info({ callId: placed.callId, to: placed.to, from: placed.from }, 'operator placed an outbound call');
      if (!state.aborted) send(res, 200, { ok: true, call_control_id: placed.callId, from: placed.from, to: placed.to });
    } catch (err) {
      const code = isTtmaError(err) ? err.code : ErrorCodes.PLATFORM;
      const status = isTtmaError(err) && STATUS[err.status] ? err.status : 502;
      const message = isTtmaError(err) ? err.message : 'the call could not be placed';
      log.warn({ code, to }, `operator call refused: ${message}`);
      if (!state.aborted) refuse(res, status, code, message);
    }
  }));

  app.get('/v1/local/calls', route((res, req) => {
    if (!options.isOperator(bearerOf(req))) {
      log.warn({ audit: true, code: ErrorCodes.AUTH }, 'local call list refused: wrong or missing agent secret');
      return refuse(res, 401, ErrorCodes.AUTH, 'authentication failed: present the deployment agent secret as a bearer');
    }
    const query = new URLSearchParams(req.getQuery() ?? '');
    const raw = query.get('recent') ?? '10';
    const recent = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!(recent >= 1 && recent <= MAX_RECENT)) {
      return refuse(res, 400, ErrorCodes.BAD_REQUEST, `recent must be a whole number from 1 to ${MAX_RECENT}`);
    }
    const source = query.get('source') ?? 'gateway';
    if (source === 'gateway') return send(res, 200, { source, calls: control.recentCalls(recent) });
    if (source !== 'platform') return refuse(res, 400, ErrorCodes.BAD_REQUEST, 'source must be gateway or platform');
    // The platform's records: billed duration, cost and hang-up cause from the provider.
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    control.platformCalls(recent).then(
      (calls) => {
        if (!state.aborted) send(res, 200, { source, calls });
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err) }, 'platform call list failed');
        if (!state.aborted) refusePlatform(res, err, 'platform call list failed');
      },
    );
  }));
}
