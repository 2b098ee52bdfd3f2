/**
 * /metrics on the local listener, with real counts after a real simulated
 * call through real worker threads; refused on the tunnel listener (404) and
 * with any tunnel header on the local one (403, FAQ-04).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { TUNNEL_HEADERS } from '../../src/front/GatewayFront.js';
import { createSigner, webhookBody } from '../helpers/signing.js';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

let stack: Stack;
let local: string;

before(async () => {
  stack = await startStack();
  local = `http://127.0.0.1:${stack.ports.local}`;
});

after(async () => {
  await stack.stop();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${local}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return response.text();
}

/** Scrape until `check` holds (worker figures arrive with the next health pong, about once a second). */
async function scrapeUntil(what: string, check: (text: string) => boolean, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape();
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last scrape:\n${text.split('\n').filter((l) => l.startsWith('ttma_')).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('/metrics counts a real call: started, ended by cause, frames, latency and jitter histograms, loop delay per thread', async () => {
  const before = await scrape();
  assert.equal(metricValue(before, 'ttma_calls_started_total') ?? 0, 0);
  assert.equal(metricValue(before, 'ttma_calls_live', { worker: '0' }), 0);
  assert.equal(metricValue(before, 'ttma_calls_live', { worker: '1' }), 0);

  const call = stack.sim.placeInboundCall({ from: '+15550200101', to: NUMBER, durationMs: 2_000 });
  await waitFor('the call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'));
  const during = await scrapeUntil('the live call in the worker gauge', (t) => metricValue(t, 'ttma_calls_live') === 1);
  assert.equal(metricValue(during, 'ttma_calls_started_total', { direction: 'incoming' }), 1);
  // With no dashboard open, workers send totals only, not per-call figures.
  const hosts = stack.gateway.supervisor.hosts();
  await waitFor("a pong counting the call's frames", () => hosts.some((h) => (h.lastStats?.totals.framesIn ?? 0) > 0));
  assert.ok(hosts.every((h) => (h.lastStats?.calls.length ?? 0) === 0), 'no per-call list crossed threads');

  const report = await call.done;
  assert.equal(report.endedBy, 'caller', report.endReason);
  await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
  const summary = stack.gateway.control.summaries.find((s) => s.callId === call.id);
  assert.ok(summary, 'the worker returned a call summary');

  // The worker's totals reach the main thread with its next pong.
  const text = await scrapeUntil('the frames of the call', (t) => metricValue(t, 'ttma_media_frames_total', { direction: 'in' }) === summary.framesIn);
  assert.equal(metricValue(text, 'ttma_calls_live'), 0);
  assert.equal(metricValue(text, 'ttma_calls_ended_total', { cause: 'hangup' }), 1);
  assert.equal(metricValue(text, 'ttma_calls_ended_total'), 1);
  assert.equal(summary.framesIn, report.framesSent);
  assert.equal(metricValue(text, 'ttma_media_frames_total', { direction: 'out' }), summary.framesOut);
  assert.equal(metricValue(text, 'ttma_media_frames_lost_total'), summary.jitter!.lost);
  assert.equal(metricValue(text, 'ttma_media_frames_concealed_total'), summary.jitter!.concealed);
  assert.equal(metricValue(text, 'ttma_mailbox_drops_total'), summary.mailboxDrops);
  // A lone echo call never reaches the worker's bound on queued agent audio; the series exists from the first pong.
  assert.equal(metricValue(text, 'ttma_agent_audio_budget_drops_total', { worker: '0' }), 0);
  // Every frame paced out has an added latency; the histogram holds exactly the call's records.
  assert.equal(metricValue(text, 'ttma_media_added_latency_seconds_count'), summary.workerLatencyMs.count);
  assert.equal(metricValue(text, 'ttma_media_added_latency_seconds_bucket', { le: '+Inf' }), summary.workerLatencyMs.count);
  const sum = metricValue(text, 'ttma_media_added_latency_seconds_sum')!;
  assert.ok(sum > 0 && sum / summary.workerLatencyMs.count < summary.workerLatencyMs.max / 1000 + 1e-9, `mean added latency ${sum / summary.workerLatencyMs.count}s`);
  assert.equal(metricValue(text, 'ttma_call_jitter_seconds_count'), 1);
  assert.ok(Math.abs(metricValue(text, 'ttma_call_jitter_seconds_sum')! - summary.jitter!.jitterMs / 1000) < 1e-6);
  // Webhooks of the call were verified and counted; loop delay is reported for every thread.
  const accepted = metricValue(text, 'ttma_webhook_verifications_total', { outcome: 'accepted' })!;
  assert.ok(accepted >= 3);
  // Two identities (event id, signature digest) an accepted webhook, all still inside their window.
  assert.equal(metricValue(text, 'ttma_webhook_replay_entries', { stat: 'held' }), 2 * accepted);
  assert.equal(metricValue(text, 'ttma_webhook_replay_entries', { stat: 'max' }), 200_000);
  for (const thread of ['main', 'media-0', 'media-1']) {
    const p99 = metricValue(text, 'ttma_event_loop_delay_seconds', { thread, stat: 'p99' });
    assert.ok(p99 !== undefined && p99 >= 0 && p99 < 5, `${thread} loop delay ${p99}`);
  }
  assert.ok(metricValue(text, 'ttma_call_minutes', { period: 'day' })! > 0.02, 'the call\'s minutes are counted');
  assert.equal(metricValue(text, 'ttma_worker_up'), 2);
  for (const worker of ['0', '1']) {
    const busy = metricValue(text, 'ttma_worker_busy_ratio', { worker });
    assert.ok(busy !== undefined && busy >= 0 && busy < 1, `worker ${worker} busy share ${busy}`);
  }
  assert.ok((metricValue(text, 'process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
});

test('/metrics counts refusals: forged webhooks, media upgrades, tunnel headers, both caps', async () => {
  const webhookUrl = `http://127.0.0.1:${stack.ports.tunnel}/v1/webhooks/provider`;
  const body = webhookBody('call.initiated', { call_control_id: 'forged-metrics-1', from: '+15550200102', to: NUMBER, direction: 'incoming' });
  const forged = createSigner();
  assert.equal((await fetch(webhookUrl, { method: 'POST', headers: forged.headers(body), body })).status, 401);
  assert.equal((await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 401);

  const refused = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.tunnel}/v1/media/no-such-call`, { headers: { 'x-telnyx-stream-token': 'wrong' } });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => reject(new Error('upgrade accepted')));
    ws.once('error', () => undefined);
  });
  assert.equal(refused, 401);
  assert.equal((await fetch(`${local}/metrics`, { headers: { 'cf-ray': 'x' } })).status, 403);

  // The minute cap is the platform's: a deployment at its cap has its calls refused (TTMA_ERR_CAP_REACHED).
  await stack.platform.deployments.update('test', { caps: { dayMinutes: 0 } });
  const capped = await stack.sim.placeInboundCall({ from: '+15550200103', to: NUMBER, durationMs: 1_000 }).done;
  assert.equal(capped.framesSent, 0, 'the capped call was never answered');
  await stack.platform.deployments.update('test', { caps: { dayMinutes: 600 } });

  const text = await scrapeUntil('the refusals', (t) => (metricValue(t, 'ttma_cap_refusals_total', { cap: 'minutes' }) ?? 0) >= 1);
  assert.equal(metricValue(text, 'ttma_webhook_verifications_total', { outcome: 'bad_signature' }), 1);
  assert.equal(metricValue(text, 'ttma_webhook_verifications_total', { outcome: 'missing_headers' }), 1);
  assert.equal(metricValue(text, 'ttma_media_upgrades_refused_total'), 1);
  assert.equal(metricValue(text, 'ttma_local_requests_refused_total', { reason: 'tunnel_header' }), 1);
  // Refused one of two ways, counted once either way: by the platform at answer (TTMA_ERR_CAP_REACHED,
  // the call ends answer_failed), or here when the platform's cap notice arrived first (docs/control.md).
  assert.equal(metricValue(text, 'ttma_cap_refusals_total', { cap: 'minutes' }), 1);
  const atAnswer = metricValue(text, 'ttma_platform_refusals_total', { code: 'TTMA_ERR_CAP_REACHED' }) ?? 0;
  assert.equal(metricValue(text, 'ttma_calls_ended_total', { cause: 'answer_failed' }) ?? 0, atAnswer);
  assert.equal(metricValue(text, 'ttma_cap_refusals_total', { cap: 'concurrent_calls' }), 0);
});

test('the concurrent-call cap is counted as a cap refusal', async () => {
  const small = await startStack({ maxCalls: 1 });
  try {
    const first = small.sim.placeInboundCall({ from: '+15550200104', to: NUMBER, durationMs: 1_500 });
    await waitFor('the first call to be live', () => small.gateway.control.liveCalls === 1);
    const second = await small.sim.placeInboundCall({ from: '+15550200105', to: NUMBER, durationMs: 1_000 }).done;
    assert.equal(second.framesSent, 0, 'the second call was refused');
    await first.done;
    const response = await fetch(`http://127.0.0.1:${small.ports.local}/metrics`);
    const text = await response.text();
    assert.equal(metricValue(text, 'ttma_cap_refusals_total', { cap: 'concurrent_calls' }), 1);
    assert.equal(metricValue(text, 'ttma_calls_started_total'), 1);
  } finally {
    await small.stop();
  }
});

test('measured-load admission: while every worker is above maxWorkerLoad a call is refused as busy, counted as worker_load', async () => {
  // A limit any running worker exceeds: its first pongs report the share of each second it was busy.
  const busy = await startStack({ maxWorkerLoad: 1e-9 });
  try {
    const hosts = busy.gateway.supervisor.hosts();
    await waitFor('every worker to report a load', () => hosts.every((h) => h.lastBusyShare > 1e-9));
    assert.ok(hosts.every((h) => h.lastBusyShare < 1), `an idle worker's load is a share of its time: ${hosts.map((h) => h.lastBusyShare).join(', ')}`);
    assert.equal(busy.gateway.supervisor.saturated(), true);
    const refused = await busy.sim.placeInboundCall({ from: '+15550200107', to: NUMBER, durationMs: 1_000 }).done;
    assert.equal(refused.framesSent, 0, 'the call was refused');
    const record = busy.gateway.control.recentCalls(5).find((r) => r.from === '+15550200107');
    assert.equal(record?.state, 'refused');
    assert.match(record?.end_reason ?? '', /gateway busy: every media worker is above its load limit/);
    await assert.rejects(busy.gateway.control.dial('+15550200108'), /gateway busy/);
    const text = await (await fetch(`http://127.0.0.1:${busy.ports.local}/metrics`)).text();
    assert.equal(metricValue(text, 'ttma_cap_refusals_total', { cap: 'worker_load' }), 2);
    assert.equal(metricValue(text, 'ttma_cap_refusals_total', { cap: 'concurrent_calls' }), 0);
    assert.equal(metricValue(text, 'ttma_calls_started_total') ?? 0, 0);
  } finally {
    await busy.stop();
  }
});

test('a crashed worker: it is counted as restarted, its call is counted as moved (not ended), and its counters never go back', async () => {
  const crashy = await startStack();
  const metricsOf = async () => (await fetch(`http://127.0.0.1:${crashy.ports.local}/metrics`)).text();
  try {
    const call = crashy.sim.placeInboundCall({ from: '+15550200106', to: NUMBER, durationMs: 3_000 });
    await waitFor('the call to stream', () => crashy.gateway.control.snapshot().some((c) => c.callId === call.id && c.state === 'streaming'));
    const worker = crashy.gateway.control.snapshot().find((c) => c.callId === call.id)!.worker;
    const host = crashy.gateway.supervisor.host(worker)!;
    await waitFor('a pong with frames', () => (host.lastStats?.totals.framesIn ?? 0) > 10);
    const before = await metricsOf();
    const framesBefore = metricValue(before, 'ttma_media_frames_total', { worker: String(worker), direction: 'in' })!;
    assert.ok(framesBefore > 10, `frames before the crash ${framesBefore}`);
    host.testOnlyPostUndecodable(); // an exception on its thread: a crash, whichever thread owns the sockets
    const report = await call.done;
    assert.equal(report.endedBy, 'caller', 'the call outlived its worker');
    await waitFor('the replacement worker', () => crashy.gateway.supervisor.restarts === 1 && !crashy.gateway.supervisor.host(worker)!.exited);
    const second = await crashy.sim.placeInboundCall({ from: '+15550200107', to: NUMBER, durationMs: 1_000 }).done;
    assert.equal(second.endedBy, 'caller');
    await waitFor('the gateway to end the calls', () => crashy.gateway.control.liveCalls === 0);
    const after = await metricsOf();
    assert.equal(metricValue(after, 'ttma_worker_restarts_total'), 1);
    assert.equal(metricValue(after, 'ttma_calls_ended_total', { cause: 'worker_failed' }) ?? 0, 0);
    assert.equal(metricValue(after, 'ttma_worker_lost_calls_total', { outcome: 'moved' }), 1);
    assert.equal(metricValue(after, 'ttma_worker_lost_calls_total', { outcome: 'ended' }), 0);
    assert.equal(metricValue(after, 'ttma_worker_up'), 2);
    assert.ok(metricValue(after, 'ttma_media_frames_total', { worker: String(worker), direction: 'in' })! >= framesBefore, 'a restart does not take counts back');
  } finally {
    await crashy.stop();
  }
});

test('/metrics and /dashboard are refused on the tunnel listener and with every tunnel header', async () => {
  const tunnel = `http://127.0.0.1:${stack.ports.tunnel}`;
  for (const path of ['/metrics', '/dashboard', '/dashboard/events', '/metrics?x=1', '/dashboard/']) {
    const response = await fetch(tunnel + path);
    assert.equal(response.status, 404, `tunnel ${path}`);
    assert.equal(await response.text(), '', `tunnel ${path} says nothing`);
  }
  for (const path of ['/metrics', '/dashboard', '/dashboard/events']) {
    for (const header of TUNNEL_HEADERS) {
      const response = await fetch(local + path, { headers: { [header]: '203.0.113.7' } });
      assert.equal(response.status, 403, `${path} with ${header}`);
      assert.doesNotMatch(await response.text(), /ttma_|<html|data:/, `${path} with ${header} leaks nothing`);
    }
    // Presence, not value: an empty tunnel header is still refused.
    assert.equal((await fetch(local + path, { headers: { 'cf-connecting-ip': '' } })).status, 403, `${path} with an empty header`);
  }
  assert.equal((await fetch(`${local}/metrics`)).status, 200);
});
