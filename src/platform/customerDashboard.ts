/**
 * A deployment's own dashboard in a browser (FAQ-02: "review conversations
 * from your dashboard"; FAQ-17: recordings "played back through the
 * dashboard", "you can disable recording at any time"):
 *
 *   GET  /v1/dashboard/login?code=C          the page a sign-in link opens: one button
 *   POST /v1/dashboard/login                  the link's one-time code in (DashboardLinks), session cookie out
 *   GET  /v1/dashboard/?direction=&number=&from=&to=&cause=&limit=
 *                                             its numbers, minutes against caps, recording switch, calls
 *   POST /v1/dashboard/recording              recording=on|off (the deployment's own switch)
 *   GET  /v1/dashboard/recordings/{call}.mp3  one of ITS recordings (another's answers as no such call)
 *   POST /v1/dashboard/recordings/{call}/delete  deletes it, here and at the provider
 *   POST /v1/dashboard/recordings/delete-all  confirm=yes: deletes every recording it keeps, here and at the provider
 *   POST /v1/dashboard/logout                 ends the session
 *
 * The session cookie (`ttma_customer`, /v1/dashboard/) names one deployment,
 * and everything here is that deployment's only: the routes take no
 * deployment id from the request. Posts take same-origin forms only; a
 * session ends when its deployment's secret is rotated or it is disabled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, isTtmaError, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { oneField, readForm, redirect, sendPage } from './browserForms.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { RemovedRecording } from './CallRecordings.js';
import { HISTORY_MAX_LIMIT, parseHistoryQuery, selectHistory } from './callHistory.js';
import {
  CUSTOMER_BASE,
  CUSTOMER_DELETE_ALL,
  CUSTOMER_LOGIN,
  CUSTOMER_LOGOUT,
  CUSTOMER_RECORDING_SWITCH,
  renderCustomerLoginPage,
  renderCustomerNoticePage,
  renderCustomerPage,
} from './customerPage.js';
import type { DashboardLinks } from './DashboardLinks.js';
import { LINK_CODE_PATTERN } from './DashboardLinks.js';
import { sessionTag, type DashboardSessions } from './DashboardSessions.js';
import type { Deployment } from './DeploymentRegistry.js';
import type { RateLimiter } from './RateLimiter.js';
import type { RecordingPlayback } from './RecordingPlayback.js';
import { decodeCallId } from './signalFields.js';
import type { RecordingsDeleted } from '../wire/platformApi.js';
import type { RefusalLog } from '../RefusalLog.js';

export const CUSTOMER_COOKIE = 'ttma_customer';

export interface CustomerDashboardContext {
  sessions: DashboardSessions;
  links: DashboardLinks;
  deployments: { get(id: string): Promise<Deployment | undefined> };
  calls: CallRegistry;
  usage(deploymentId: string): Promise<{ day: number; month: number }>;
  playback: RecordingPlayback;
  /** The deployment's recording switch, as its signalling API flips it: how many live recordings were stopped. */
  switchRecording(deploymentId: string, on: boolean): Promise<number>;
  /** Deletes a call's recording, here and at the provider (CallRecordings.remove). */
  deleteRecording(record: CallRecord): Promise<RemovedRecording>;
  /** One pass of deleting every recording the deployment keeps (CallRecordings.removeKept). */
  deleteKeptRecordings(deploymentId: string, from: number): Promise<RecordingsDeleted>;
  /** Requests of a deployment's signed-in browsers (its own bucket: a busy page never slows its gateway's calls). */
  limiter: RateLimiter;
  log: Logger;
  /** Sign-in failures are anyone's to repeat: bounded lines. */
  refusals: RefusalLog;
  bodyTimeoutMs: number;
  allow(method: string, allowed: string): void;
}

/** What one deployment's dashboard sessions may ask together: 10 a second, bursts of 60 (a page and its players). */
export const DASHBOARD_RATE = { ratePerSec: 10, burst: 60 };

const ROUTE_RECORDING = /^\/v1\/dashboard\/recordings\/([^/]+)\.mp3$/;
const ROUTE_DELETE = /^\/v1\/dashboard\/recordings\/([^/]+)\/delete$/;
/** What the page says after the switch (?done=), never text from the request. */
const NOTICES: Record<string, string> = {
  off: 'Recording is now off.',
  on: 'Recording is now on.',
  deleted: 'The recording was deleted, here and at the phone provider.',
  'deleted-all': 'Every recording kept was deleted, here and at the phone provider.',
  'deleted-some': 'Not every recording could be deleted this time (the provider failed, or there were too many for one go): press the button again.',
};

/** How long one press of "delete all recordings" keeps deleting before the page answers (passes of RECORDINGS_DELETED_PER_PASS). */
const DELETE_ALL_BUDGET_MS = 15_000;

/** Passes, each from where the last stopped (so each recording is tried once), until nothing is left or the budget is spent. */
export async function deleteKeptWithin(ctx: CustomerDashboardContext, deploymentId: string, budgetMs: number): Promise<RecordingsDeleted> {
  const until = Date.now() + budgetMs;
  const totals: RecordingsDeleted = { deleted: 0, failed: 0, more: false, recording_now: 0 };
  for (let from = 0; ; ) {
    const pass = await ctx.deleteKeptRecordings(deploymentId, from);
    totals.deleted += pass.deleted;
    totals.failed += pass.failed;
    totals.more = pass.more;
    totals.recording_now = pass.recording_now;
    // A pass that stops without saying where (or not past where it began) cannot be followed.
    const next = pass.next_from;
    if (!pass.more || next === undefined || next <= from || Date.now() >= until) return totals;
    from = next;
  }
}

/** True when the path was one of ours (answered or refused). */
export async function handleCustomerRoute(ctx: CustomerDashboardContext, req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<boolean> {
  const path = url.pathname;
  if (path === CUSTOMER_LOGIN) {
    ctx.allow(method, method === 'POST' ? 'POST' : 'GET');
    if (method === 'GET') {
      // No code: where sign-out lands. A code that is not one: a link cut short when it was copied.
      const code = url.searchParams.get('code');
      const usable = code !== null && LINK_CODE_PATTERN.test(code) ? code : null;
      const broken = code !== null && usable === null;
      sendPage(req, res, broken ? 400 : 200, renderCustomerLoginPage(usable, broken ? 'This sign-in link is not complete.' : null));
    } else await signIn(ctx, req, res);
    return true;
  }
  if (path === CUSTOMER_LOGOUT) {
    ctx.allow(method, 'POST');
    await readForm(req, ctx.bodyTimeoutMs, 'sign-out');
    redirect(req, res, CUSTOMER_LOGIN, await ctx.sessions.close(req));
    return true;
  }
  if (path === CUSTOMER_BASE) {
    ctx.allow(method, 'GET');
    const deployment = await sessionOf(ctx, req);
    if (!deployment) {
      sendPage(req, res, 401, renderCustomerLoginPage(null, 'You are not signed in, or the session ended.'));
      return true;
    }
    const params = new URLSearchParams(url.searchParams);
    const done = params.get('done');
    params.delete('done');
    if (params.has('deployment')) throw new TtmaError(ErrorCodes.BAD_REQUEST, 'this dashboard shows your own deployment only', 400);
    const query = parseHistoryQuery(params);
    const own = await ctx.calls.list({ deploymentId: deployment.id, limit: HISTORY_MAX_LIMIT });
    const { total, calls } = selectHistory(own, query);
    const used = await ctx.usage(deployment.id);
    sendPage(req, res, 200, renderCustomerPage({ deployment, used, calls, total, query, notice: (done !== null && Object.hasOwn(NOTICES, done) && NOTICES[done]) || null }));
    return true;
  }
  if (path === CUSTOMER_RECORDING_SWITCH) {
    ctx.allow(method, 'POST');
    const form = await readForm(req, ctx.bodyTimeoutMs, 'the recording switch');
    const deployment = await requireSession(ctx, req);
    const wanted = oneField(form, 'recording');
    if (wanted !== 'on' && wanted !== 'off') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'recording must be on or off', 400);
    const stopped = await pageOnFailure(ctx, req, res, () => ctx.switchRecording(deployment.id, wanted === 'on'));
    if (stopped === FAILED) return true;
    ctx.log.info({ audit: true, deployment: deployment.id, recording: wanted === 'on', stopped }, 'recording switched from the dashboard');
    redirect(req, res, `${CUSTOMER_BASE}?done=${wanted}`);
    return true;
  }
  if (path === CUSTOMER_DELETE_ALL) {
    ctx.allow(method, 'POST');
    const form = await readForm(req, ctx.bodyTimeoutMs, 'deleting all recordings');
    const deployment = await requireSession(ctx, req);
    // Irreversible: the box must be ticked (the page marks it required; a post without it is refused here too).
    if (oneField(form, 'confirm') !== 'yes') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'tick the box to confirm deleting every recording', 400);
    const totals = await pageOnFailure(ctx, req, res, () => deleteKeptWithin(ctx, deployment.id, DELETE_ALL_BUDGET_MS));
    if (totals === FAILED) return true;
    ctx.log.info({ audit: true, deployment: deployment.id, ...totals }, 'recordings deleted from the dashboard (all kept)');
    redirect(req, res, `${CUSTOMER_BASE}?done=${totals.more || totals.failed > 0 ? 'deleted-some' : 'deleted-all'}`);
    return true;
  }
  const deletion = ROUTE_DELETE.exec(path);
  if (deletion) {
    ctx.allow(method, 'POST');
    await readForm(req, ctx.bodyTimeoutMs, 'deleting a recording');
    const deployment = await requireSession(ctx, req);
    const record = await ownRecord(ctx, deployment, decodeCallId(deletion[1] ?? ''));
    const removed = await pageOnFailure(ctx, req, res, () => ctx.deleteRecording(record));
    if (removed === FAILED) return true;
    ctx.log.info({ audit: true, deployment: deployment.id, callId: record.callControlId, ...removed }, 'recording deleted from the dashboard');
    redirect(req, res, `${CUSTOMER_BASE}?done=deleted`);
    return true;
  }
  const recording = ROUTE_RECORDING.exec(path);
  if (recording) {
    ctx.allow(method, 'GET');
    const deployment = await requireSession(ctx, req);
    const callId = decodeCallId(recording[1] ?? '');
    const record = await ownRecord(ctx, deployment, callId);
    if (record.recording?.discarded) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such call', 404);
    const source = await ctx.playback.serve(req, res, callId, record.recording);
    ctx.log.info({ audit: true, callId, deployment: deployment.id, source, range: req.headers.range?.slice(0, 64) ?? null }, 'recording played from the dashboard');
    return true;
  }
  if (path.startsWith(CUSTOMER_BASE)) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such route', 404);
  return false;
}

async function signIn(ctx: CustomerDashboardContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req, ctx.bodyTimeoutMs, 'sign-in');
  const code = oneField(form, 'code');
  const link = code === null ? null : await ctx.links.redeem(code);
  const deploymentId = link?.subject ?? null;
  const deployment = deploymentId === null ? undefined : await ctx.deployments.get(deploymentId);
  // A code asked for with a secret since rotated signs no one in (its revocation may have been missed).
  if (!deployment || deployment.disabled || link?.tag !== sessionTag(deployment.agentSecretSha256)) {
    ctx.refusals.write('customer sign-in', 'warn', { audit: true, deployment: deploymentId ?? undefined }, 'dashboard sign-in link refused', { audit: true });
    sendPage(req, res, 401, renderCustomerLoginPage(null, 'This sign-in link is unknown, used or expired. Run `ttma dashboard` again for a new one.'));
    return;
  }
  ctx.log.info({ audit: true, deployment: deployment.id }, 'dashboard session opened for a deployment');
  redirect(req, res, CUSTOMER_BASE, await ctx.sessions.open(req, deployment.id, sessionTag(deployment.agentSecretSha256)));
}

const FAILED = Symbol('failed');

/**
 * An action a person pressed a button for: when it fails (the provider is
 * down, the call is still being recorded), a page that says so and leads
 * back, rather than a JSON body in the browser.
 */
async function pageOnFailure<T>(ctx: CustomerDashboardContext, req: IncomingMessage, res: ServerResponse, action: () => Promise<T>): Promise<T | typeof FAILED> {
  try {
    return await action();
  } catch (err) {
    if (!isTtmaError(err)) throw err;
    ctx.log.warn({ code: err.code, status: err.status }, `dashboard action failed: ${err.message}`);
    sendPage(req, res, err.status, renderCustomerNoticePage(err.message));
    return FAILED;
  }
}

/** The deployment's own call; another deployment's answers exactly as no call at all, so ids cannot be probed. */
async function ownRecord(ctx: CustomerDashboardContext, deployment: Deployment, callId: string): Promise<CallRecord> {
  const record = await ctx.calls.get(callId);
  if (!record || !record.locked || record.deploymentId !== deployment.id) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such call', 404);
  return record;
}

/**
 * The session's deployment, still there, enabled, and with the agent secret the session was opened
 * under (a rotation ends it here even if its revocation was missed); null without one (a stale
 * session is ended).
 */
async function sessionOf(ctx: CustomerDashboardContext, req: IncomingMessage): Promise<Deployment | null> {
  const entry = await ctx.sessions.entryOf(req);
  if (entry === null) return null;
  const deployment = await ctx.deployments.get(entry.subject);
  if (!deployment || deployment.disabled || entry.tag !== sessionTag(deployment.agentSecretSha256)) {
    await ctx.sessions.close(req);
    return null;
  }
  if (!ctx.limiter.take(deployment.id)) throw new TtmaError(ErrorCodes.RATE_LIMITED, 'too many dashboard requests: slow down and retry', 429);
  return deployment;
}

async function requireSession(ctx: CustomerDashboardContext, req: IncomingMessage): Promise<Deployment> {
  const deployment = await sessionOf(ctx, req);
  if (!deployment) throw new TtmaError(ErrorCodes.AUTH, 'not signed in: open a link from `ttma dashboard`', 401);
  return deployment;
}
