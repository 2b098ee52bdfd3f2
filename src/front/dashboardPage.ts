/**
 * The local dashboard: one server-rendered HTML page (no build step) whose
 * small inline script replaces the tables with each state pushed over
 * Server-Sent Events. Every value is escaped on the server and set with
 * textContent in the browser; the Content-Security-Policy allows only this
 * page's own script and style (by SHA-256) and connections to itself.
 */
import { createHash } from 'node:crypto';
import type { DashboardCall, DashboardState } from '../control/DashboardFeed.js';

export const DASHBOARD_EVENTS_PATH = '/dashboard/events';

const STYLE = `
body{font:14px system-ui,sans-serif;margin:1.5em;color:#1b1f23;background:#fafbfc}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:40em}
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f0f3f6}.muted{color:#57606a}.bad{color:#b3261e}#conn{font-size:.9em}
`;

const CALL_COLUMNS = ['Call', 'Direction', 'From', 'To', 'State', 'Worker', 'Duration s', 'Codec', 'Agent', 'Jitter ms', 'Loss %', 'Latency ms'];
const WORKER_COLUMNS = ['Worker', 'Up', 'Calls', 'Loop delay p99 ms', 'Heap MiB'];
const RECENT_COLUMNS = ['Time (UTC)', 'What', 'Detail', 'Count'];

/** Browser side: rebuild the tables from each pushed state, values only through textContent. */
const SCRIPT = `
(function () {
  var $ = function (id) { return document.getElementById(id); };
  function text(v) { return v === null || v === undefined ? '-' : String(v); }
  function fill(tbody, items, cells, empty, cols) {
    var rows = items.map(function (item) {
      var tr = document.createElement('tr');
      cells(item).forEach(function (v) { var td = document.createElement('td'); td.textContent = text(v); tr.appendChild(td); });
      if (item.callId !== undefined) tr.dataset.callId = item.callId;
      return tr;
    });
    if (rows.length === 0) {
      var tr = document.createElement('tr'), td = document.createElement('td');
      td.colSpan = cols; td.className = 'muted'; td.textContent = empty; tr.appendChild(td); rows.push(tr);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }
  function render(s) {
    $('at').textContent = s.at;
    $('live-count').textContent = String(s.calls.length);
    fill($('calls'), s.calls, function (c) { return [c.callId, c.direction, c.from, c.to, c.state, c.worker, c.durationS, c.codec, c.agent, c.jitterMs, c.lossPct, c.latencyMs]; }, 'no live calls', ${CALL_COLUMNS.length});
    fill($('workers'), s.workers, function (w) { return [w.index, w.up ? 'yes' : 'NO', w.calls, w.loopDelayP99Ms, w.heapMb]; }, 'no workers', ${WORKER_COLUMNS.length});
    $('main-loop').textContent = text(s.mainLoopDelayP99Ms);
    fill($('recent'), s.recent, function (r) { return [r.at.slice(11, 19), r.what, r.detail, r.count]; }, 'nothing refused or failed recently', ${RECENT_COLUMNS.length});
    $('day').textContent = s.minutes.day; $('day-min').textContent = text(s.minutes.dayMinutes);
    $('month').textContent = s.minutes.month; $('month-min').textContent = text(s.minutes.monthMinutes);
    $('cap-min').textContent = text(s.caps.minuteCapRefusals); $('cap-calls').textContent = text(s.caps.concurrentCallRefusals);
    $('cap-day').textContent = text(s.caps.dayUsed) + ' of ' + text(s.caps.dayCap);
    $('cap-month').textContent = text(s.caps.monthUsed) + ' of ' + text(s.caps.monthCap);
    $('cap-asof').textContent = s.caps.asOf ? '(as of ' + s.caps.asOf.slice(11, 19) + ' UTC)' : '';
    $('caps-note').textContent = s.caps.note;
  }
  var events = new EventSource('${DASHBOARD_EVENTS_PATH}');
  events.onopen = function () { $('conn').textContent = 'live'; $('conn').className = 'muted'; };
  events.onerror = function () { $('conn').textContent = 'disconnected, retrying'; $('conn').className = 'bad'; };
  events.onmessage = function (e) { render(JSON.parse(e.data)); };
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Only this page's own script and style run; the only connection allowed is back to this listener. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  const s = value === null || value === undefined ? '-' : String(value);
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function table(id: string, columns: string[], rows: string): string {
  return `<table><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody id="${id}">${rows}</tbody></table>`;
}

function rows(items: unknown[][], empty: string, columns: number, ids: Array<string | undefined> = []): string {
  if (items.length === 0) return `<tr><td colspan="${columns}" class="muted">${escapeHtml(empty)}</td></tr>`;
  return items
    .map((cells, i) => {
      const id = ids[i];
      const attr = id === undefined ? '' : ` data-call-id="${escapeHtml(id)}"`;
      return `<tr${attr}>${cells.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`;
    })
    .join('');
}

function callCells(c: DashboardCall): unknown[] {
  return [c.callId, c.direction, c.from, c.to, c.state, c.worker, c.durationS, c.codec, c.agent, c.jitterMs, c.lossPct, c.latencyMs];
}

export function renderDashboard(s: DashboardState): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ttma gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<h1>ttma gateway</h1>
<p class="muted">State at <span id="at">${escapeHtml(s.at)}</span> &middot; <span id="conn" class="muted">connecting</span> &middot; metrics at <code>/metrics</code></p>
<h2>Live calls: <span id="live-count">${s.calls.length}</span></h2>
${table('calls', CALL_COLUMNS, rows(s.calls.map(callCells), 'no live calls', CALL_COLUMNS.length, s.calls.map((c) => c.callId)))}
<h2>Workers</h2>
<p class="muted">Main thread (front and control) loop delay p99: <span id="main-loop">${escapeHtml(s.mainLoopDelayP99Ms)}</span> ms</p>
${table('workers', WORKER_COLUMNS, rows(s.workers.map((w) => [w.index, w.up ? 'yes' : 'NO', w.calls, w.loopDelayP99Ms, w.heapMb]), 'no workers', WORKER_COLUMNS.length))}
<h2>Minutes and caps</h2>
<p>Against the caps (platform): today <b id="cap-day">${escapeHtml(s.caps.dayUsed)} of ${escapeHtml(s.caps.dayCap)}</b> min &middot;
this month <b id="cap-month">${escapeHtml(s.caps.monthUsed)} of ${escapeHtml(s.caps.monthCap)}</b> min <span id="cap-asof" class="muted">${s.caps.asOf ? `(as of ${escapeHtml(s.caps.asOf.slice(11, 19))} UTC)` : ''}</span></p>
<p class="muted" id="caps-note">${escapeHtml(s.caps.note)}</p>
<p>Carried by this gateway since it started: today (<span id="day">${escapeHtml(s.minutes.day)}</span> UTC) <b id="day-min">${escapeHtml(s.minutes.dayMinutes)}</b> min &middot;
this month (<span id="month">${escapeHtml(s.minutes.month)}</span>) <b id="month-min">${escapeHtml(s.minutes.monthMinutes)}</b> min.</p>
<p class="muted">Calls refused by the platform's minute cap: <span id="cap-min">${escapeHtml(s.caps.minuteCapRefusals)}</span>;
refused at this gateway's concurrent-call limit (${escapeHtml(s.caps.maxCalls)}): <span id="cap-calls">${escapeHtml(s.caps.concurrentCallRefusals)}</span>.</p>
<h2>Recent refusals and errors</h2>
${table('recent', RECENT_COLUMNS, rows(s.recent.map((r) => [r.at.slice(11, 19), r.what, r.detail, r.count]), 'nothing refused or failed recently', RECENT_COLUMNS.length))}
<script>${SCRIPT}</script>
</body></html>`;
}
