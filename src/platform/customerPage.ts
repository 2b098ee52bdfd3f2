/**
 * A deployment's own dashboard page (customerDashboard.ts): its numbers, its
 * minutes against its caps, its recording switch, and its calls with a
 * player for each kept recording. Server-rendered HTML with no script, every
 * value escaped, sent under the history page's CSP (historyPage.ts). It shows
 * what the deployment's own API shows (deploymentCallView): no review flags,
 * no recording locations.
 */
import type { CallRecord } from './CallRegistry.js';
import type { HistoryQuery } from './callHistory.js';
import type { Deployment } from './DeploymentRegistry.js';
import { cell, DASH, escapeHtml, filterForm, PAGE_STYLE, time } from './historyPage.js';

export const CUSTOMER_BASE = '/v1/dashboard/';
export const CUSTOMER_LOGIN = '/v1/dashboard/login';
export const CUSTOMER_LOGOUT = '/v1/dashboard/logout';
export const CUSTOMER_RECORDING_SWITCH = '/v1/dashboard/recording';
export const CUSTOMER_DELETE_ALL = '/v1/dashboard/recordings/delete-all';

/** Where a deployment's dashboard plays one of its recordings. */
export function customerRecordingPath(callId: string): string {
  return `/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3`;
}

function head(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)} · talk-to-my-agent</title><style>${PAGE_STYLE}</style></head>`;
}

function recordingCell(record: CallRecord): string {
  const r = record.recording;
  if (!r) return `<td>${DASH}</td>`;
  if (r.discarded) return `<td><span class="muted">not kept: ${escapeHtml(r.discarded)}</span></td>`;
  if (r.url || r.file) {
    const id = encodeURIComponent(record.callControlId);
    return `<td><audio controls preload="none" src="${escapeHtml(customerRecordingPath(record.callControlId))}"></audio>
<form method="post" action="/v1/dashboard/recordings/${escapeHtml(id)}/delete"><button type="submit">delete recording</button></form></td>`;
  }
  if (r.error) return `<td><span class="muted">not available: ${escapeHtml(r.error)}</span></td>`;
  return `<td><span class="muted">${record.state === 'ended' ? 'waiting for the provider' : 'recording'}</span></td>`;
}

export interface CustomerPageData {
  deployment: Deployment;
  used: { day: number; month: number };
  calls: CallRecord[];
  total: number;
  query: HistoryQuery;
  /** A line to show above everything (what the last action did). */
  notice: string | null;
}

export function renderCustomerPage(d: CustomerPageData): string {
  const { deployment, used, query } = d;
  const rows = d.calls.map((c) => {
    const billing = c.billing;
    return `<tr>${[
      cell(time(c.firstSeenAt)),
      cell(c.callControlId),
      cell(c.direction),
      cell(c.from),
      cell(c.to),
      cell(time(c.answeredAt)),
      cell(time(c.endedAt)),
      cell(billing ? (billing.durationMs / 1000).toFixed(1) : null, true),
      cell(billing?.billedMinutes ?? null, true),
      cell(billing ? (billing.costMicroUsd / 1_000_000).toFixed(4) : null, true),
      cell(c.hangupCause),
      cell(c.state),
      recordingCell(c),
    ].join('')}</tr>`;
  });
  const shown = d.calls.length === d.total ? `${d.total} call${d.total === 1 ? '' : 's'}` : `${d.calls.length} of ${d.total} calls (raise limit to see more)`;
  const on = deployment.recording;
  const switchForm = `<form method="post" action="${CUSTOMER_RECORDING_SWITCH}">
<input type="hidden" name="recording" value="${on ? 'off' : 'on'}">
<label>&nbsp;<button type="submit">turn recording ${on ? 'off' : 'on'}</button></label>
</form>
<form method="post" action="${CUSTOMER_DELETE_ALL}">
<label><input type="checkbox" name="confirm" value="yes" required> delete every recording kept so far, here and at the phone provider (this cannot be undone)</label>
<label>&nbsp;<button type="submit">delete all recordings</button></label>
</form>`;
  return `${head(`Your calls · ${deployment.id}`)}
<body><h1>Your calls</h1>
<form method="post" action="${CUSTOMER_LOGOUT}"><button type="submit">sign out</button></form>
${d.notice ? `<p><strong>${escapeHtml(d.notice)}</strong></p>` : ''}
<p>Deployment <strong>${escapeHtml(deployment.id)}</strong>, numbers ${deployment.numbers.map((n) => escapeHtml(n)).join(', ') || DASH}.</p>
<p>Minutes today (UTC): <strong>${escapeHtml(used.day)}</strong> of ${escapeHtml(deployment.caps.dayMinutes)}; this month: <strong>${escapeHtml(used.month)}</strong> of ${escapeHtml(deployment.caps.monthMinutes)}. New calls are refused once a cap is reached.</p>
<p>Recording is <strong>${on ? 'on' : 'off'}</strong>. ${
    on
      ? 'Calls are recorded by the phone provider and can be played back below.'
      : 'Calls are not recorded; a recording the provider saves anyway is deleted there and not kept.'
  } Turning it off also stops the recording of calls in progress.</p>
${switchForm}
${filterForm(query, false)}
<p>${escapeHtml(shown)}, newest first. Times are UTC; duration and cost are the provider's billed figures once the call is settled.</p>
<table><thead><tr><th>started</th><th>call id</th><th>direction</th><th>from</th><th>to</th><th>answered</th><th>ended</th><th>duration s</th><th>billed min</th><th>cost USD</th><th>cause</th><th>state</th><th>recording</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join('\n') : '<tr><td colspan="13" class="muted">no calls match</td></tr>'}
</tbody></table>
</body></html>
`;
}

/** The page a sign-in link opens: one button that posts the code (a GET never signs in). */
export function renderCustomerLoginPage(code: string | null, error: string | null): string {
  const form = code
    ? `<form method="post" action="${CUSTOMER_LOGIN}">
<input type="hidden" name="code" value="${escapeHtml(code)}">
<label>&nbsp;<button type="submit">open my dashboard</button></label>
</form>`
    : '';
  return `${head('Sign in')}
<body><h1>Sign in to your dashboard</h1>
${error ? `<p>${escapeHtml(error)}</p>` : ''}
${form}
<p class="muted">A sign-in link comes from <code>ttma dashboard</code>, run on the machine of your gateway. It works once, for one minute. The session lasts 8 hours.</p>
</body></html>
`;
}

/** What a failed action says, with the way back. */
export function renderCustomerNoticePage(message: string): string {
  return `${head('Not done')}
<body><h1>Not done</h1>
<p>${escapeHtml(message)}</p>
<p><a href="${CUSTOMER_BASE}">Back to your calls</a></p>
</body></html>
`;
}
