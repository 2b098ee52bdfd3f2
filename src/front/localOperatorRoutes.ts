/**
 * The local listener's operator routes behind `ttma call` and `ttma calls`
 * (loopback only, tunnel headers refused by the caller's guard, and each
 * request signed with a key derived from the deployment's agent secret over
 * a one-time nonce, each answer signed back: src/wire/localAuth.ts; the
 * secret itself is never sent, so a process squatting the port while the
 * gateway is down learns nothing from `ttma`). They only route: the ControlActor
 * places the call through the platform's signalling proxy, so the platform's
 * allowlists, dialling policy and caps decide, exactly as for an agent's call.
 *
 *   POST /v1/local/calls {"to":"+1...","from"?:"+1..."} -> {"ok":true,"call_control_id","from","to"}
 *   GET  /v1/local/nonce?challenge=<43 chars> -> {"nonce","proof","expires_in_ms"}: a one-time nonce for one request
 *        (no authentication: the proof over the client's challenge shows this listener holds the secret)
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
import { LOCAL_NONCE_PATH } from '../wire/localAuth.js';
import { RECORDINGS_FROM_REFUSAL, recordingsFromOf } from '../wire/platformApi.js';
import type { Logger } from '../log.js';
import type { LocalOperatorAuth } from './LocalOperatorAuth.js';
import { LocalReply, platformCode } from './localReply.js';
import { readBody } from './readBody.js';
import { streamToResponse } from './streamToResponse.js';
import type { GuardedRoutes } from './httpRoutes.js';
import type { HttpRequest, HttpResponse } from './uws.js';

const BODY_LIMIT = 4 * 1024;
const BODY_TIMEOUT_MS = 5_000;
const E164 = /^\+[1-9]\d{6,14}$/;
export const MAX_RECENT = 100;
const NO_BODY = Buffer.alloc(0);

interface Options {
  control: ControlActor;
  log: Logger;
  /** Checks each request's signature and spends its nonce; signs the answers. */
  localAuth: LocalOperatorAuth;
  /** The port this listener is on: every MAC names it, so one relayed from another port does not match. */
  localPort(): number;
}

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;
type Route = (handler: Handler) => Handler;

/** What an operator route is handed once its request verified. */
interface Verified {
  reply: LocalReply;
  body: Buffer;
  query: URLSearchParams;
  /** The route's `:id`, still percent-encoded. */
  param: string | undefined;
  /** Set once the client went away (POSTs: by readBody; other routes set their own onAborted). */
  state: { aborted: boolean };
}

export function localOperatorRoutes(routes: GuardedRoutes, route: Route, options: Options): void {
  const { control, log, localAuth } = options;

  /**
   * An operator route: the request's headers taken while uWS still holds
   * them, the body read (POST only, within its bounds), then the signature
   * checked over method, path with query and body, and its nonce spent,
   * before `handle` runs. Every answer is signed for the nonce when it is
   * one this process issued (a refusal too, so `ttma` can show it).
   */
  const operator = (method: 'GET' | 'POST' | 'DELETE', what: string, handle: (verified: Verified) => void | Promise<void>) =>
    route((res, req) => {
      const authorization = req.getHeader('authorization');
      const query = req.getQuery();
      const pathWithQuery = query === undefined ? req.getUrl() : `${req.getUrl()}?${query}`;
      const param = req.getParameter(0);
      const state = { aborted: false };
      const port = options.localPort();
      const reply = (nonce: string | null) => new LocalReply(res, nonce === null ? null : (status, body) => localAuth.sign(nonce, port, status, body));
      const run = (body: Buffer): void | Promise<void> => {
        const verdict = localAuth.verify(authorization, port, method, pathWithQuery, body);
        if (!verdict.ok) {
          log.warn({ audit: true, code: verdict.code }, `local ${what} refused: ${verdict.message}`);
          return reply(verdict.nonce).refuse(verdict.status, verdict.code, verdict.message);
        }
        return handle({ reply: reply(verdict.nonce), body, query: new URLSearchParams(query ?? ''), param, state });
      };
      if (method !== 'POST') return run(NO_BODY);
      return readBody(res, BODY_LIMIT, BODY_TIMEOUT_MS, state).then(async (result) => {
        if (state.aborted) return;
        if (!result.ok) return reply(localAuth.issuedNonce(authorization)).refuse(result.reason === 'too_large' ? 413 : 400, ErrorCodes.BAD_REQUEST, `request body ${result.reason}`);
        await run(result.body);
      });
    });

  /** The call id of a recording route, or null after refusing a malformed one. */
  const recordingCall = ({ reply, param }: Verified): string | null => {
    let callId = '';
    try {
      callId = decodeURIComponent(param ?? '');
    } catch {
      callId = '';
    }
    if (CALL_ID_PATTERN.test(callId)) return callId;
    reply.refuse(400, ErrorCodes.BAD_REQUEST, 'call id in the path is malformed');
    return null;
  };

  // A nonce for one request: no authentication (the caller proves itself with the request that spends it).
  routes.get(LOCAL_NONCE_PATH, route((res, req) => {
    const issued = localAuth.issue(new URLSearchParams(req.getQuery() ?? '').get('challenge') ?? '', options.localPort());
    const reply = new LocalReply(res, null);
    if (issued === null) return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'challenge must be 32 random bytes, base64url (43 characters)');
    reply.send(200, issued);
  }));

  /** Answers with the platform's result (200, logged for audit) or its refusal, unless the client went away first. */
  const answerFromPlatform = <T>(reply: LocalReply, pending: () => Promise<T>, fields: Record<string, unknown>, done: string, refused: string): Promise<void> => {
    const state = { aborted: false };
    reply.res.onAborted(() => {
      state.aborted = true;
    });
    return pending().then(
      (result) => {
        log.info({ audit: true, ...fields, ...(result as object) }, done);
        if (!state.aborted) reply.send(200, result);
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err), ...fields }, `${refused} at the platform`);
        if (!state.aborted) reply.refusePlatform(err, refused);
      },
    );
  };

  routes.del('/v1/local/calls/:id/recording.mp3', operator('DELETE', 'recording deletion', (verified) => {
    const callId = recordingCall(verified);
    if (callId === null) return;
    return answerFromPlatform(verified.reply, () => control.platformDeleteRecording(callId), { callId }, 'operator deleted a recording', 'recording not deleted');
  }));

  routes.del('/v1/local/recordings', operator('DELETE', 'recordings deletion', ({ reply, query }) => {
    const from = recordingsFromOf(query.get('from'));
    if (from === null) return reply.refuse(400, ErrorCodes.BAD_REQUEST, RECORDINGS_FROM_REFUSAL);
    return answerFromPlatform(reply, () => control.platformDeleteKeptRecordings(from), { from }, 'operator deleted recordings (one pass)', 'recordings not deleted');
  }));

  routes.get('/v1/local/calls/:id/recording.mp3', operator('GET', 'recording request', (verified) => {
    const callId = recordingCall(verified);
    if (callId === null) return;
    const { reply } = verified;
    const res = reply.res;
    const state = { aborted: false };
    let abortRelay: (() => void) | null = null;
    res.onAborted(() => {
      state.aborted = true;
      abortRelay?.();
    });
    return control.platformRecording(callId).then(
      (download) => {
        if (state.aborted) {
          download.body.destroy();
          return;
        }
        // A chunk at a time, paced by the client: the gateway never holds the whole file.
        abortRelay = streamToResponse(res, download.body, {
          status: '200 OK',
          headers: reply.streamHeaders('audio/mpeg', download.bytes),
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
        if (!state.aborted) reply.refusePlatform(err, 'recording not available');
      },
    );
  }));

  const relayRecordingSetting = (reply: LocalReply, state: { aborted: boolean }, on?: boolean): Promise<void> => {
    return control.platformRecordingSetting(on).then(
      (setting) => {
        if (on !== undefined) log.info({ audit: true, recording: on }, 'operator switched recording');
        if (!state.aborted) reply.send(200, setting);
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err) }, 'recording setting at the platform failed');
        if (!state.aborted) reply.refusePlatform(err, 'recording setting failed');
      },
    );
  };

  routes.get('/v1/local/recording', operator('GET', 'recording setting', ({ reply, state }) => {
    reply.res.onAborted(() => {
      state.aborted = true;
    });
    return relayRecordingSetting(reply, state);
  }));

  routes.post('/v1/local/recording', operator('POST', 'recording switch', ({ reply, body: raw, state }) => {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'body is not JSON');
    }
    const on = (body as { recording?: unknown } | null)?.recording;
    if (typeof on !== 'boolean' || Object.keys(body as object).length !== 1) {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'the body is {"recording": true|false}');
    }
    return relayRecordingSetting(reply, state, on);
  }));

  routes.post('/v1/local/dashboard-link', operator('POST', 'dashboard link', async ({ reply, state }) => {
    try {
      const link = await control.platformDashboardLink();
      // The link itself is a credential for a minute: it is not logged.
      log.info({ audit: true, expires_at: link.expires_at }, 'operator asked for a dashboard sign-in link');
      if (!state.aborted) reply.send(200, link);
    } catch (err) {
      log.warn({ code: platformCode(err) }, 'dashboard link from the platform failed');
      if (!state.aborted) reply.refusePlatform(err, 'dashboard link failed');
    }
  }));

  routes.post('/v1/local/calls', operator('POST', 'call request', async ({ reply, body: raw, state }) => {
    let body: { to?: unknown; from?: unknown };
    try {
      body = JSON.parse(raw.toString('utf8')) as { to?: unknown; from?: unknown };
    } catch {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'body is not JSON');
    }
    const { to, from } = body ?? {};
    if (typeof to !== 'string' || !E164.test(to)) {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'to must be one E.164 number: "+" then 7 to 15 digits');
    }
    if (from !== undefined && (typeof from !== 'string' || !E164.test(from))) {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'from must be one E.164 number: "+" then 7 to 15 digits');
    }
    try {
      const placed = await control.dial(to, from);
      log.info({ callId: placed.callId, to: placed.to, from: placed.from }, 'operator placed an outbound call');
      if (!state.aborted) reply.send(200, { ok: true, call_control_id: placed.callId, from: placed.from, to: placed.to });
    } catch (err) {
      log.warn({ code: platformCode(err), to }, `operator call refused: ${isTtmaError(err) ? err.message : 'the call could not be placed'}`);
      if (!state.aborted) reply.refusePlatform(err, 'the call could not be placed');
    }
  }));

  routes.get('/v1/local/calls', operator('GET', 'call list', ({ reply, query, state }) => {
    const raw = query.get('recent') ?? '10';
    const recent = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!(recent >= 1 && recent <= MAX_RECENT)) {
      return reply.refuse(400, ErrorCodes.BAD_REQUEST, `recent must be a whole number from 1 to ${MAX_RECENT}`);
    }
    const source = query.get('source') ?? 'gateway';
    if (source === 'gateway') return reply.send(200, { source, calls: control.recentCalls(recent) });
    if (source !== 'platform') return reply.refuse(400, ErrorCodes.BAD_REQUEST, 'source must be gateway or platform');
    // The platform's records: billed duration, cost and hang-up cause from the provider.
    reply.res.onAborted(() => {
      state.aborted = true;
    });
    return control.platformCalls(recent).then(
      (calls) => {
        if (!state.aborted) reply.send(200, { source, calls });
      },
      (err: unknown) => {
        log.warn({ code: platformCode(err) }, 'platform call list failed');
        if (!state.aborted) reply.refusePlatform(err, 'platform call list failed');
      },
    );
  }));
}
