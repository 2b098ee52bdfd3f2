/**
 * The local operator API (its own admin credential, never the agent secret):
 * deployments (create, read, update, rotate the secret, disable, enable),
 * call records with filters, and the usage cross-check. The raw agent secret
 * is returned only by create and rotate when the platform made it, and never
 * stored (FAQ-09); one the operator supplied is never echoed. Rotate
 * and disable revoke the deployment's outstanding install tokens: they carry
 * the secret being replaced, or would re-arm a disabled deployment.
 *
 *   GET|POST /v1/admin/deployments
 *   GET|PATCH /v1/admin/deployments/{id}
 *   POST /v1/admin/deployments/{id}/rotate-secret | disable | enable
 *   POST /v1/admin/deployments/{id}/delete-recordings[?from=N] -> RecordingsDeleted: one pass of
 *        deleting every recording kept for the deployment (here and at the provider); repeat
 *        with `from` set to the answer's `next_from` while `more`
 *   GET /v1/admin/deployments-export, POST /v1/admin/deployments-import: deployments with their
 *       secret digests, for a store that lost its data (src/platform/deploymentTransfer.ts)
 *   GET /v1/admin/calls?deployment=&direction=&number=&since=&until=&state=&flagged=&limit=
 *   GET /v1/admin/usage?deployment=&flagged=1 -> usage (entries), unknown_reports (per deployment:
 *       reports of calls the provider never saw, more than the entries kept)
 *   GET /v1/admin/history(.json)?deployment=&direction=&number=&from=&to=&cause=&limit=
 *       call history as a page (src/platform/historyPage.ts) or JSON; also to a
 *       dashboard session (src/platform/dashboardRoutes.ts, which serves sign-in
 *       and the recordings)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import { refuseUnknownFields } from './knownFields.js';
import type { Logger } from '../log.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import { parseHistoryQuery, queryView, selectHistory } from './callHistory.js';
import { recordingPlaybackPath, renderHistoryPage } from './historyPage.js';
import { DEPLOYMENT_ID_PATTERN, type Deployment, type DeploymentPatch, type DeploymentRegistry, type RegisterDeploymentInput } from './DeploymentRegistry.js';
import type { UsageEntry, UsageLedger } from './UsageLedger.js';
import type { Json } from './httpExchange.js';
import { handleDeploymentTransfer } from './deploymentTransfer.js';
import { warnUnreachedAreas } from './dialPolicyReach.js';
import { RECORDINGS_FROM_REFUSAL, recordingsFromOf, type RecordingsDeleted } from '../wire/platformApi.js';

export interface OperatorContext {
  deployments: DeploymentRegistry;
  calls: CallRegistry;
  caps: CapEnforcer;
  ledger: UsageLedger;
  log: Logger;
  requireAdmin(req: IncomingMessage): void;
  /** The admin token, or a dashboard session (DashboardSessions): for read-only pages only. */
  requireViewer(req: IncomingMessage): Promise<void>;
  readJson(req: IncomingMessage): Promise<Json>;
  send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void;
  /** An HTML page, with the page's security headers (CSP). */
  sendPage(req: IncomingMessage, res: ServerResponse, status: number, html: string): void;
  /** One pass of deleting every recording a deployment keeps (CallRecordings.removeKept, by the operator). */
  deleteKeptRecordings(deploymentId: string, from: number): Promise<RecordingsDeleted>;
  /** Revokes the deployment's outstanding install tokens (audited `revoked`); the ids revoked. */
  revokeInstallTokens(deploymentId: string, reason: 'secret-rotated' | 'disabled'): Promise<string[]>;
  /** Sets the Allow header of a 405. */
  allow(method: string, allowed: string): void;
}

const ROUTE_DEPLOYMENT = /^\/v1\/admin\/deployments\/([^/]+)(?:\/(rotate-secret|disable|enable|delete-recordings))?$/;
const MAX_LIST = 1_000;

/** True when the path is an operator route (handled or refused); false: not ours. */
export async function handleOperatorRoute(
  ctx: OperatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  url: URL,
): Promise<boolean> {
  const path = url.pathname;
  if (!path.startsWith('/v1/admin/')) return false;
  if (await handleDeploymentTransfer(ctx, req, res, method, path)) return true;
  if (path === '/v1/admin/deployments') {
    ctx.allow(method, method === 'GET' ? 'GET' : 'POST');
    ctx.requireAdmin(req);
    if (method === 'GET') {
      const list = await ctx.deployments.list();
      ctx.send(req, res, 200, { deployments: list.map(deploymentView) });
    } else await create(ctx, req, res);
    return true;
  }
  const match = ROUTE_DEPLOYMENT.exec(path);
  if (match) {
    const action = match[2];
    if (action) ctx.allow(method, 'POST');
    else ctx.allow(method, method === 'PATCH' ? 'PATCH' : 'GET');
    // Authenticated before the path is even decoded: nothing of it is looked at for an anonymous caller.
    ctx.requireAdmin(req);
    const id = decodeDeploymentId(match[1] ?? '');
    if (action === 'rotate-secret') {
      const body = await ctx.readJson(req);
      const supplied = body['agentSecret'];
      const { agentSecret } = await ctx.deployments.rotateSecret(id, supplied === undefined ? undefined : (supplied as string));
      ctx.log.info({ audit: true, deployment: id }, 'agent secret rotated: the previous one no longer authenticates');
      const revoked = await ctx.revokeInstallTokens(id, 'secret-rotated');
      ctx.send(req, res, 200, { id, ...secretAnswer(agentSecret, supplied !== undefined), revokedInstallTokens: revoked });
    } else if (action === 'delete-recordings') {
      await ctx.readJson(req);
      const from = recordingsFromOf(url.searchParams.get('from'));
      if (from === null) throw new TtmaError(ErrorCodes.BAD_REQUEST, RECORDINGS_FROM_REFUSAL, 400);
      requireFound(await ctx.deployments.get(id));
      const pass = await ctx.deleteKeptRecordings(id, from);
      ctx.log.info({ audit: true, deployment: id, from, ...pass }, 'recordings deleted by the operator (one pass)');
      ctx.send(req, res, 200, pass);
    } else if (action === 'disable' || action === 'enable') {
      await ctx.readJson(req);
      if (!(await ctx.deployments.setDisabled(id, action === 'disable'))) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such deployment', 404);
      ctx.log.info({ audit: true, deployment: id }, `deployment ${action}d`);
      // Enabling again must not bring back a token minted before the disable.
      const revoked = action === 'disable' ? await ctx.revokeInstallTokens(id, 'disabled') : [];
      ctx.send(req, res, 200, { ...(deploymentView(requireFound(await ctx.deployments.get(id))) as object), ...(action === 'disable' ? { revokedInstallTokens: revoked } : {}) });
    } else if (method === 'PATCH') {
      const patch = patchOf(await ctx.readJson(req));
      const updated = await ctx.deployments.update(id, patch);
      ctx.log.info({ audit: true, deployment: id, fields: Object.keys(patch) }, 'deployment updated');
      ctx.send(req, res, 200, { ...(deploymentView(updated) as object), ...policyWarnings(ctx, updated) });
    } else {
      const found = requireFound(await ctx.deployments.get(id));
      const usage = await ctx.caps.usage(id).catch(() => null);
      ctx.send(req, res, 200, { ...deploymentView(found), usage_minutes: usage });
    }
    return true;
  }
  if (path === '/v1/admin/calls') {
    ctx.allow(method, 'GET');
    ctx.requireAdmin(req);
    // Oldest first, as before: the newest `limit` are the last ones.
    const calls = await filterCalls((await ctx.calls.list()).reverse(), url.searchParams, ctx.ledger);
    ctx.send(req, res, 200, { calls: calls.map(([c, usage]) => callView(c, usage)) });
    return true;
  }
  if (path === '/v1/admin/history' || path === '/v1/admin/history.json') {
    ctx.allow(method, 'GET');
    await ctx.requireViewer(req);
    const query = parseHistoryQuery(url.searchParams);
    const { total, calls } = selectHistory(await ctx.calls.list(query.deployment !== null ? { deploymentId: query.deployment } : {}), query);
    const usages = await usageOf(ctx.ledger, calls);
    const views = calls.map((c, i) => {
      const { timeline: _timeline, ...view } = callView(c, usages[i]);
      return view;
    });
    if (path.endsWith('.json')) ctx.send(req, res, 200, { filters: queryView(query), total, calls: views });
    else ctx.sendPage(req, res, 200, renderHistoryPage(views, total, query, `/v1/admin/history.json${url.search}`));
    return true;
  }
  if (path === '/v1/admin/usage') {
    ctx.allow(method, 'GET');
    ctx.requireAdmin(req);
    const deployment = url.searchParams.get('deployment') ?? undefined;
    const flagged = url.searchParams.get('flagged') === '1';
    // Unfiltered, only the newest page is read; flagged ones are picked from every retained entry.
    let entries = await ctx.ledger.list(deployment, flagged ? undefined : MAX_LIST);
    if (flagged) entries = entries.filter((e) => e.flags.length > 0);
    const unknown = (await ctx.ledger.unknownReportCounts(deployment)).map((c) => ({ deployment_id: c.deploymentId, reports: c.reports }));
    ctx.send(req, res, 200, { usage: entries.slice(-MAX_LIST).map(usageView), unknown_reports: unknown });
    return true;
  }
  return false;
}

const CREATE_FIELDS = ['id', 'numbers', 'tunnelHost', 'agentSecret', 'caps', 'recording', 'dialPolicy'];
const PATCH_FIELDS = ['numbers', 'tunnelHost', 'caps', 'recording', 'dialPolicy'];

async function create(ctx: OperatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await ctx.readJson(req);
  refuseUnknownFields(body, CREATE_FIELDS);
  const input: RegisterDeploymentInput = {
    id: body['id'] as string,
    numbers: body['numbers'] as string[],
    tunnelHost: body['tunnelHost'] as string,
    ...(body['agentSecret'] !== undefined ? { agentSecret: body['agentSecret'] as string } : {}),
    ...(body['caps'] !== undefined ? { caps: body['caps'] as RegisterDeploymentInput['caps'] & object } : {}),
    ...(body['recording'] !== undefined ? { recording: body['recording'] as boolean } : {}),
    ...(body['dialPolicy'] !== undefined ? { dialPolicy: body['dialPolicy'] as RegisterDeploymentInput['dialPolicy'] & object } : {}),
  };
  const { agentSecret } = await ctx.deployments.register(input);
  ctx.log.info({ audit: true, deployment: input.id, numbers: input.numbers.length }, 'deployment registered');
  const stored = requireFound(await ctx.deployments.get(input.id));
  ctx.send(req, res, 201, { ...deploymentView(stored), ...secretAnswer(agentSecret, input.agentSecret !== undefined), ...policyWarnings(ctx, stored) });
}

/**
 * A policy that does not reach the area of one of the deployment's own numbers (`+44` for a Jersey
 * number) is stored, and the answer says so: it refuses more than meant, so it spends nothing, and
 * "UK only" for a Jersey number is a policy an operator may want (src/platform/dialPolicyReach.ts).
 */
export function policyWarnings(ctx: OperatorContext, deployment: Deployment): { warnings?: string[] } {
  const warnings = warnUnreachedAreas(ctx.log, deployment);
  return warnings.length > 0 ? { warnings } : {};
}

/**
 * A secret the platform generated is returned, once: the only copy. One the operator supplied is
 * not: they hold it, and an echo lands in terminal history and logs; the answer only says it is set.
 */
function secretAnswer(agentSecret: string, supplied: boolean): { agentSecret: string } | { agentSecretSet: true } {
  return supplied ? { agentSecretSet: true } : { agentSecret };
}

function patchOf(body: Json): DeploymentPatch {
  refuseUnknownFields(body, PATCH_FIELDS, '', 'the secret: rotate-secret');
  return body as DeploymentPatch;
}

/** The deployment id in the path; a malformed %-escape or a shape no id has is no such deployment (404), never a URIError. */
function decodeDeploymentId(segment: string): string {
  let id = '';
  try {
    id = decodeURIComponent(segment);
  } catch {
    id = '';
  }
  if (!DEPLOYMENT_ID_PATTERN.test(id)) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such deployment', 404);
  return id;
}

function requireFound(d: Deployment | undefined): Deployment {
  if (!d) throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such deployment', 404);
  return d;
}

/** Everything but the secret's digest. */
export function deploymentView(d: Deployment): Json {
  return {
    id: d.id,
    numbers: d.numbers,
    tunnelHost: d.tunnelHost,
    disabled: d.disabled,
    caps: d.caps,
    recording: d.recording,
    dialPolicy: d.dialPolicy,
  };
}

/** Reads per batch: a page of 1 000 calls must not queue past the store's command timeout. */
const USAGE_BATCH = 250;

/** Each call's usage entry (the owner's), in order; unowned calls have none. */
async function usageOf(ledger: UsageLedger, calls: CallRecord[]): Promise<(UsageEntry | undefined)[]> {
  const out: (UsageEntry | undefined)[] = [];
  for (let i = 0; i < calls.length; i += USAGE_BATCH) {
    const batch = calls.slice(i, i + USAGE_BATCH);
    out.push(...(await Promise.all(batch.map((c) => (c.deploymentId ? ledger.get(c.deploymentId, c.callControlId) : undefined)))));
  }
  return out;
}

async function filterCalls(all: CallRecord[], q: URLSearchParams, ledger: UsageLedger): Promise<[CallRecord, UsageEntry | undefined][]> {
  const deployment = q.get('deployment');
  const direction = q.get('direction');
  const number = q.get('number');
  const state = q.get('state');
  const since = q.get('since');
  const until = q.get('until');
  const flagged = q.get('flagged') === '1';
  const limitText = q.get('limit');
  const limit = limitText && /^\d{1,5}$/.test(limitText) ? Math.min(MAX_LIST, Number(limitText)) : MAX_LIST;
  for (const [name, value] of [['since', since], ['until', until]] as const) {
    if (value !== null && Number.isNaN(Date.parse(value))) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, `${name} must be an ISO 8601 time`, 400);
    }
  }
  const out = all.filter(
    (c) =>
      (deployment === null || c.deploymentId === deployment) &&
      (direction === null || c.direction === direction) &&
      (number === null || c.from === number || c.to === number) &&
      (state === null || c.state === state) &&
      (since === null || c.firstSeenAt >= new Date(since).toISOString()) &&
      (until === null || c.firstSeenAt < new Date(until).toISOString()),
  );
  if (!flagged) {
    const page = out.slice(-limit);
    const usages = await usageOf(ledger, page);
    return page.map((c, i) => [c, usages[i]]);
  }
  // Flagged: read the ledger once (pipelined) rather than one entry per call of the whole history.
  const flaggedEntries = new Map<string, UsageEntry>();
  for (const entry of await ledger.list(deployment ?? undefined)) {
    if (entry.flags.length > 0) flaggedEntries.set(`${entry.deploymentId}|${entry.callControlId}`, entry);
  }
  return out
    .map((c): [CallRecord, UsageEntry | undefined] => [c, c.deploymentId ? flaggedEntries.get(`${c.deploymentId}|${c.callControlId}`) : undefined])
    .filter(([, u]) => u !== undefined)
    .slice(-limit);
}

/** A call record for the dashboard (FAQ-02): metadata, never audio or transcript. */
export function callView(record: CallRecord, usage?: UsageEntry): Json {
  const billing = record.billing;
  return {
    call_control_id: record.callControlId,
    deployment_id: record.deploymentId,
    locked: record.locked,
    direction: record.direction,
    from: record.from,
    to: record.to,
    state: record.state,
    started_at: record.firstSeenAt,
    answered_at: record.answeredAt,
    ended_at: record.endedAt,
    duration_ms: billing?.durationMs ?? null,
    billed_minutes: billing?.billedMinutes ?? null,
    cost_usd: billing ? (billing.costMicroUsd / 1_000_000).toFixed(4) : null,
    billing_source: billing?.source ?? null,
    hangup_cause: record.hangupCause,
    recording: record.recording
      ? {
          url: record.recording.url,
          file: record.recording.file,
          sha256: record.recording.sha256,
          bytes: record.recording.bytes,
          error: record.recording.error,
          discarded: record.recording.discarded ?? null,
          playback: record.recording.url || record.recording.file ? recordingPlaybackPath(record.callControlId) : null,
        }
      : null,
    usage_flags: usage?.flags ?? [],
    gateway_reported_ms: usage?.gatewayMs ?? null,
    first_seen_at: record.firstSeenAt,
    timeline: record.timeline,
  };
}

function usageView(e: UsageEntry): Json {
  return {
    call_control_id: e.callControlId,
    deployment_id: e.deploymentId,
    provider_ms: e.providerMs,
    gateway_ms: e.gatewayMs,
    flags: e.flags,
  };
}
