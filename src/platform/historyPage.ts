/**
 * The call history page: plain server-rendered HTML, no script at all.
 * Every value is HTML-escaped (numbers and causes come from the provider's
 * webhooks and are not ours), and the Content-Security-Policy allows nothing
 * but this page's one stylesheet, by its hash, and a form back to itself.
 */
import { createHash } from 'node:crypto';
import type { HistoryQuery } from './callHistory.js';
import type { Json } from './httpExchange.js';

/** The dashboard pages' one stylesheet: the CSP allows it by its hash. */
export const PAGE_STYLE = [
  'body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#111}',
  'table{border-collapse:collapse;width:100%}',
  'th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}',
  'th{background:#f4f4f4;position:sticky;top:0}',
  'td.num{text-align:right;font-variant-numeric:tabular-nums}',
  'form{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}',
  'label{display:flex;flex-direction:column;font-size:12px}',
  '.muted{color:#666}',
].join('');

const STYLE_HASH = createHash('sha256').update(PAGE_STYLE, 'utf8').digest('base64');

/** Nothing may load, run or frame: only the stylesheet above, and the filter form submits to this page. */
export const HISTORY_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  // The recordings' <audio> elements play from this platform (RecordingPlayback), nowhere else.
  "media-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const HISTORY_PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': HISTORY_PAGE_CSP,
  'x-frame-options': 'DENY',
  // Same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the sign-in and
  // sign-out forms, which the cross-site check must refuse. Nothing on these pages leads elsewhere.
  'referrer-policy': 'same-origin',
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text and attribute values alike (attributes are always double-quoted). */
export function escapeHtml(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

export const DASH = '<span class="muted">—</span>';

export function cell(value: unknown, numeric = false): string {
  const shown = value === null || value === undefined || value === '' ? DASH : escapeHtml(value);
  return numeric ? `<td class="num">${shown}</td>` : `<td>${shown}</td>`;
}

export function time(iso: unknown): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : '';
}

/** Where the dashboard plays a call's recording from (dashboardRoutes.ts). */
export function recordingPlaybackPath(callId: string): string {
  return `/v1/admin/recordings/${encodeURIComponent(callId)}.mp3`;
}

function recording(value: unknown, callId: unknown): string {
  if (!value || typeof value !== 'object') return DASH;
  const r = value as { file: string | null; url: string | null; sha256: string | null; bytes: number | null; error: string | null; discarded?: string | null };
  // The reference is text, never a link; the player fetches from this platform only (CSP media-src 'self').
  const where = r.file ?? r.url;
  const parts = [where ? escapeHtml(where) : DASH];
  if (where && typeof callId === 'string') {
    parts.unshift(`<audio controls preload="none" src="${escapeHtml(recordingPlaybackPath(callId))}"></audio>`);
  }
  if (r.sha256) parts.push(`<span class="muted">sha256 ${escapeHtml(r.sha256.slice(0, 16))}…, ${escapeHtml(r.bytes)} bytes</span>`);
  if (r.discarded) parts.push(`<span class="muted">not kept: ${escapeHtml(r.discarded)}</span>`);
  if (r.error) parts.push(`<span class="muted">error: ${escapeHtml(r.error)}</span>`);
  return parts.join('<br>');
}

function input(name: string, label: string, value: string | number | null, placeholder: string): string {
  return `<label>${escapeHtml(label)}<input name="${escapeHtml(name)}" value="${escapeHtml(value ?? '')}" placeholder="${escapeHtml(placeholder)}"></label>`;
}

function directionSelect(value: string | null): string {
  const option = (v: string, text: string) => `<option value="${v}"${value === v || (v === '' && value === null) ? ' selected' : ''}>${text}</option>`;
  return `<label>direction<select name="direction">${option('', 'any')}${option('incoming', 'incoming')}${option('outgoing', 'outgoing')}</select></label>`;
}

/** The filters of a call list, back to the same page (the deployment's dashboard has no deployment filter). */
export function filterForm(query: HistoryQuery, byDeployment: boolean): string {
  return `<form method="get" action="">
${byDeployment ? `${input('deployment', 'deployment', query.deployment, 'any')}\n` : ''}${directionSelect(query.direction)}
${input('number', 'number (either party)', query.number, '+15550100000')}
${input('from', 'started from (UTC)', query.from, '2026-11-26T00:00:00Z')}
${input('to', 'started before (UTC)', query.to, '2026-11-27T00:00:00Z')}
${input('cause', 'hang-up cause', query.cause, 'normal_clearing')}
${input('limit', 'limit', query.limit, '200')}
<label>&nbsp;<button type="submit">filter</button></label>
</form>`;
}

/** The page for call views (operatorApi.callView) matching `query`. */
export function renderHistoryPage(calls: Json[], total: number, query: HistoryQuery, jsonHref: string): string {
  const rows = calls.map((c) => {
    const durationMs = c['duration_ms'];
    return `<tr>${[
      cell(time(c['started_at'])),
      cell(c['call_control_id']),
      cell(c['deployment_id'] ?? 'unowned'),
      cell(c['direction']),
      cell(c['from']),
      cell(c['to']),
      cell(time(c['answered_at'])),
      cell(time(c['ended_at'])),
      cell(typeof durationMs === 'number' ? (durationMs / 1000).toFixed(1) : null, true),
      cell(c['billed_minutes'], true),
      cell(c['cost_usd'], true),
      cell(c['hangup_cause']),
      cell(c['state']),
      `<td>${recording(c['recording'], c['call_control_id'])}</td>`,
      cell(Array.isArray(c['usage_flags']) ? (c['usage_flags'] as unknown[]).join(', ') : null),
    ].join('')}</tr>`;
  });
  const shown = calls.length === total ? `${total} call${total === 1 ? '' : 's'}` : `${calls.length} of ${total} calls (raise limit to see more)`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>Call history · talk-to-my-agent platform</title><style>${PAGE_STYLE}</style></head>
<body><h1>Call history</h1>
<form method="post" action="/v1/admin/logout"><button type="submit">sign out</button></form>
${filterForm(query, true)}
<p>${escapeHtml(shown)}, newest first. Times are UTC; duration and cost are the provider's billed figures once the call is settled. <a href="${escapeHtml(jsonHref)}">JSON</a></p>
<table><thead><tr><th>started</th><th>call id</th><th>deployment</th><th>direction</th><th>from</th><th>to</th><th>answered</th><th>ended</th><th>duration s</th><th>billed min</th><th>cost USD</th><th>cause</th><th>state</th><th>recording</th><th>usage flags</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join('\n') : '<tr><td colspan="15" class="muted">no calls match</td></tr>'}
</tbody></table>
</body></html>
`;
}
