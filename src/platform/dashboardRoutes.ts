/**
 * The operator's dashboard in a browser (FAQ-17: recordings "played back
 * through the dashboard"):
 *
 *   GET  /v1/admin/login                  sign-in page (a form, no script)
 *   POST /v1/admin/login                  admin token in, session cookie out (DashboardSessions)
 *   POST /v1/admin/logout                 ends the session
 *   GET  /v1/admin/recordings/{call}.mp3  a call's recording (RecordingPlayback), to the
 *                                         admin token or a session
 *   DELETE /v1/admin/recordings/{call}.mp3  deletes it, here and at the provider (admin token only:
 *                                         a session only reads)
 *
 * Sign-in and sign-out take only same-origin form posts (Origin and
 * Sec-Fetch-Site checked when the browser sends them), so another site cannot
 * sign a browser in or out. Each recording played is logged for the audit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { RemovedRecording } from './CallRecordings.js';
import type { DashboardSessions } from './DashboardSessions.js';
import { oneField, readForm, redirect, requireSameOrigin, sendPage } from './browserForms.js';
import { escapeHtml, PAGE_STYLE } from './historyPage.js';
import { readBody, sendJson } from './httpExchange.js';
import type { RecordingPlayback } from './RecordingPlayback.js';
import { decodeCallId } from './signalFields.js';
import type { RefusalLog } from '../RefusalLog.js';

export interface DashboardContext {
  sessions: DashboardSessions;
  calls: CallRegistry;
  playback: RecordingPlayback;
  log: Logger;
  /** Sign-in failures are anyone's to repeat: bounded lines. */
  refusals: RefusalLog;
  bodyTimeoutMs: number;
  /** True when `token` is the admin token (constant time); throws when the admin API is disabled. */
  isAdminToken(token: string): boolean;
  requireViewer(req: IncomingMessage): Promise<void>;
  requireAdmin(req: IncomingMessage): void;
  deleteRecording(record: CallRecord): Promise<RemovedRecording>;
  allow(method: string, allowed: string): void;
}

const ROUTE_RECORDING = /^\/v1\/admin\/recordings\/([^/]+)\.mp3$/;
const HISTORY = '/v1/admin/history';
const LOGIN = '/v1/admin/login';

/** True when the path was one of ours (answered or refused). */
export async function handleDashboardRoute(ctx: DashboardContext, req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<boolean> {
  if (path === LOGIN) {
    ctx.allow(method, method === 'POST' ? 'POST' : 'GET');
    if (method === 'GET') sendPage(req, res, 200, renderLoginPage(null));
    else await signIn(ctx, req, res);
    return true;
  }
  if (path === '/v1/admin/logout') {
    ctx.allow(method, 'POST');
    requireSameOrigin(req);
    await readBody(req, ctx.bodyTimeoutMs);
    const cleared = await ctx.sessions.close(req);
    redirect(req, res, LOGIN, cleared);
    return true;
  }
  const recording = ROUTE_RECORDING.exec(path);
  if (recording) {
    if (method !== 'DELETE') ctx.allow(method, 'GET');
    if (method === 'DELETE') ctx.requireAdmin(req);
    else await ctx.requireViewer(req);
    const callId = decodeCallId(recording[1] ?? '');
    const record = await ctx.calls.get(callId);
    if (!record) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such call', 404);
    if (method === 'DELETE') {
      sendJson(req, res, 200, await ctx.deleteRecording(record));
      return true;
    }
    const source = await ctx.playback.serve(req, res, callId, record.recording);
    ctx.log.info({ audit: true, callId, deployment: record.deploymentId, source, range: req.headers.range?.slice(0, 64) ?? null }, 'recording played');
    return true;
  }
  return false;
}

async function signIn(ctx: DashboardContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req, ctx.bodyTimeoutMs, 'sign-in');
  if (!ctx.sessions.mayTry()) {
    ctx.refusals.write('dashboard sign-in rate', 'warn', { audit: true, code: ErrorCodes.RATE_LIMITED }, 'dashboard sign-in refused: too many failures', { audit: true });
    const body = { error: { code: ErrorCodes.RATE_LIMITED, message: 'too many failed sign-ins: try again later' } };
    sendJson(req, res, 429, body, { 'retry-after': String(ctx.sessions.retryAfterSec()) });
    return;
  }
  const token = oneField(form, 'token');
  if (token === null || !ctx.isAdminToken(token)) {
    ctx.sessions.failed();
    ctx.refusals.write('dashboard sign-in', 'warn', { audit: true }, 'dashboard sign-in failed', { audit: true });
    sendPage(req, res, 401, renderLoginPage('That is not the admin token.'));
    return;
  }
  ctx.log.info({ audit: true }, 'dashboard session opened');
  redirect(req, res, HISTORY, await ctx.sessions.open(req));
}

function renderLoginPage(error: string | null): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>Sign in · talk-to-my-agent platform</title><style>${PAGE_STYLE}</style></head>
<body><h1>Sign in</h1>
${error ? `<p>${escapeHtml(error)}</p>` : ''}
<form method="post" action="${LOGIN}">
<label>admin token<input name="token" type="password" autocomplete="current-password" required></label>
<label>&nbsp;<button type="submit">sign in</button></label>
</form>
<p class="muted">The token in the platform's --admin-token-file. The session lasts 8 hours and can only read the call history and play recordings.</p>
</body></html>
`;
}
