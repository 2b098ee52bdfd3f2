/**
 * What a deployment asks about itself with its agent secret, through its
 * gateway (`ttma recording`, `ttma calls --recording`, `ttma dashboard`, the
 * gateway's dashboard): nothing here controls a call.
 *
 *   GET|DELETE /v1/signal/calls/{id}/recording.mp3   one of its own recordings: played (RecordingPlayback), or deleted
 *                                                   here and at the provider (CallRecordings.remove)
 *   GET|POST /v1/signal/recording                    its recording switch (FAQ-02, FAQ-17); off also stops live recordings
 *   DELETE /v1/signal/recordings[?from=N]            one pass of deleting every recording it keeps (CallRecordings.removeKept)
 *   POST /v1/signal/dashboard-link                   a one-time sign-in link to its own dashboard (DashboardLinks)
 *   GET /v1/signal/usage                             its minutes against its caps
 *
 * Another deployment's call, an unowned one and no such call get the same
 * answer, so ids cannot be probed (FAQ-13).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  PLATFORM_PATHS,
  RECORDINGS_FROM_REFUSAL,
  recordingsFromOf,
  type DashboardLink,
  type DeploymentUsage,
  type RecordingSetting,
  type RecordingSettingResult,
} from '../wire/platformApi.js';
import type { CallRecordings } from './CallRecordings.js';
import type { CallRegistry } from './CallRegistry.js';
import type { CapEnforcer } from './CapEnforcer.js';
import { CUSTOMER_LOGIN } from './customerPage.js';
import type { DashboardLinks } from './DashboardLinks.js';
import { sessionTag } from './DashboardSessions.js';
import type { Deployment } from './DeploymentRegistry.js';
import { readBody, readJsonObject, sendJson } from './httpExchange.js';
import type { RecordingPlayback } from './RecordingPlayback.js';
import { decodeCallId, parseRecordingSwitch } from './signalFields.js';

export const NOT_OWNED = 'call not found or not owned by this deployment';
const ROUTE_OWN_RECORDING = /^\/v1\/signal\/calls\/([^/]+)\/recording\.mp3$/;

export interface SelfServiceContext {
  calls: CallRegistry;
  caps: Pick<CapEnforcer, 'usage'>;
  recordings: Pick<CallRecordings, 'remove' | 'removeKept'>;
  playback: Pick<RecordingPlayback, 'serve'>;
  links: Pick<DashboardLinks, 'issue'>;
  /** Sets the deployment's recording flag; off also stops its live recordings (how many, returned). */
  switchRecording(deploymentId: string, on: boolean): Promise<number>;
  /** Recordings one pass of "delete every recording kept" deletes at most. */
  deletedPerPass: number;
  bodyTimeoutMs: number;
  log: Logger;
}

/** What the server hands over per request: its authentication and its request record. */
export interface SelfServiceRequest {
  /** The agent secret and the deployment header checked, and the deployment's rate limit taken. */
  authenticate(req: IncomingMessage): Promise<Deployment>;
  /** Refuses another method with 405 and the Allow header. */
  allow(method: string, allowed: string): void;
  /** The call a request is about, for the refusal's log line. */
  noteCall(callId: string): void;
}

/** True when the path was one of ours (answered or refused by a throw). */
export async function handleSelfServiceRoute(ctx: SelfServiceContext, request: SelfServiceRequest, req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<boolean> {
  const path = url.pathname;
  const ownRecording = ROUTE_OWN_RECORDING.exec(path);
  if (ownRecording) {
    if (method !== 'DELETE') request.allow(method, 'GET');
    const callId = decodeCallId(ownRecording[1] ?? '');
    request.noteCall(callId);
    const deployment = await request.authenticate(req);
    const record = await ctx.calls.get(callId);
    if (!record || !record.locked || record.deploymentId !== deployment.id) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    if (method === 'DELETE') {
      sendJson(req, res, 200, await ctx.recordings.remove(record, 'deployment'));
      return true;
    }
    // As the dashboard plays it: the stored copy checked, or the provider's, renewed.
    const source = await ctx.playback.serve(req, res, callId, record.recording);
    ctx.log.info({ audit: true, deployment: deployment.id, callId, source, range: req.headers.range?.slice(0, 64) ?? null }, 'recording played to its deployment');
    return true;
  }
  switch (path) {
    case PLATFORM_PATHS.recordingSetting:
      if (method !== 'GET' && method !== 'POST') request.allow(method, 'GET, POST');
      await recordingSwitch(ctx, await request.authenticate(req), req, res, method);
      return true;
    case PLATFORM_PATHS.recordings:
      request.allow(method, 'DELETE');
      await deleteKept(ctx, await request.authenticate(req), req, res, url);
      return true;
    case PLATFORM_PATHS.dashboardLink:
      request.allow(method, 'POST');
      await dashboardLink(ctx, await request.authenticate(req), req, res);
      return true;
    case PLATFORM_PATHS.usage: {
      request.allow(method, 'GET');
      const deployment = await request.authenticate(req);
      const used = await ctx.caps.usage(deployment.id);
      const body: DeploymentUsage = {
        caps: { day_minutes: deployment.caps.dayMinutes, month_minutes: deployment.caps.monthMinutes },
        used: { day_minutes: used.day, month_minutes: used.month },
      };
      sendJson(req, res, 200, body);
      return true;
    }
    default:
      return false;
  }
}

/**
 * The deployment's own recording switch: GET reads it, POST turns it on or
 * off ("you can turn recording off at any time"). Off also stops the
 * recording of its live calls, and what the provider saves of them is
 * deleted there (CallRecordings).
 */
async function recordingSwitch(ctx: SelfServiceContext, deployment: Deployment, req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
  if (method === 'GET') {
    const body: RecordingSetting = { recording: deployment.recording };
    return sendJson(req, res, 200, body);
  }
  const on = parseRecordingSwitch(await readJsonObject(req, ctx.bodyTimeoutMs));
  const stopped = await ctx.switchRecording(deployment.id, on);
  ctx.log.info({ audit: true, deployment: deployment.id, recording: on, stopped }, 'recording switched by the deployment');
  const result: RecordingSettingResult = { recording: on, stopped };
  sendJson(req, res, 200, result);
}

/** One pass of "delete every recording kept" (`ttma recording --delete-existing`), from where the last stopped. */
async function deleteKept(ctx: SelfServiceContext, deployment: Deployment, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  await readBody(req, ctx.bodyTimeoutMs);
  const from = recordingsFromOf(url.searchParams.get('from'));
  if (from === null) throw new TtmaError(ErrorCodes.BAD_REQUEST, RECORDINGS_FROM_REFUSAL, 400);
  const result = await ctx.recordings.removeKept(deployment.id, 'deployment', ctx.deletedPerPass, { from });
  ctx.log.info({ audit: true, deployment: deployment.id, from, ...result }, 'recordings deleted by the deployment (one pass)');
  sendJson(req, res, 200, result);
}

/** A one-time sign-in link to the deployment's own dashboard. */
async function dashboardLink(ctx: SelfServiceContext, deployment: Deployment, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await readBody(req, ctx.bodyTimeoutMs);
  const { code, expiresAtMs } = await ctx.links.issue(deployment.id, sessionTag(deployment.agentSecretSha256));
  ctx.log.info({ audit: true, deployment: deployment.id }, 'dashboard sign-in link issued');
  const body: DashboardLink = { path: `${CUSTOMER_LOGIN}?code=${code}`, expires_at: new Date(expiresAtMs).toISOString() };
  sendJson(req, res, 200, body);
}
