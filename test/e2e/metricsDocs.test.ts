/**
 * What an operator reads in docs/operations-metrics.md is what /metrics
 * serves: every documented metric is exposed with the documented type and
 * label names, every exposed ttma_ metric is documented, label values that
 * the table lists are the only ones seen, and the closed lists of reasons in
 * the code are all documented. Then ttma_worker_up across a worker's loss:
 * 0 until its replacement has started. Real simulator, platform, gateway and
 * worker threads.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { MEDIA_REFUSAL_REASONS } from '../../src/front/mediaRefusals.js';
import { END_CAUSES } from '../../src/actors/endCauses.js';
import { UNOWNED_DIAL_OUTCOMES } from '../../src/platform/UnownedDials.js';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

interface DocumentedMetric {
  type: string;
  labels: string[];
  /** Per label, the values the labels column lists in parentheses (none: any). */
  values: Map<string, string[]>;
  /** Every `code` span in the meaning column. */
  meaningTerms: string[];
}

const DOC = new URL('../../../docs/operations-metrics.md', import.meta.url);

/** The table under `heading` (the gateway's "## Metrics", or "## Platform metrics"): `| \`name\` | type | labels | meaning |`. */
async function documentedMetrics(heading = '## Metrics'): Promise<Map<string, DocumentedMetric>> {
  const text = await readFile(DOC, 'utf8');
  const rows = new Map<string, DocumentedMetric>();
  let section = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) section = line.trim();
    if (section !== heading) continue;
    const cells = /^\| `(ttma_[a-z0-9_]+)` \| ([a-z]+) \| ?([^|]*?) ?\| (.*) \|$/.exec(line);
    if (!cells) continue;
    const [, name, type, labelCell, meaning] = cells as unknown as [string, string, string, string, string];
    const labels: string[] = [];
    const values = new Map<string, string[]>();
    // `label` or `label` (`v1`, `v2`), comma-separated.
    for (const part of labelCell.matchAll(/`([a-z_]+)`(?: \(([^)]*)\))?/g)) {
      labels.push(part[1]!);
      if (part[2]) values.set(part[1]!, [...part[2].matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    }
    const meaningTerms = [...meaning.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    assert.ok(!rows.has(name), `${name} documented twice`);
    rows.set(name, { type, labels, values, meaningTerms });
  }
  return rows;
}

interface Exposed {
  type: string;
  /** Label names seen on samples (bucket `le` aside). */
  labels: Set<string>;
  values: Map<string, Set<string>>;
}

function exposedMetrics(text: string): Map<string, Exposed> {
  const metrics = new Map<string, Exposed>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (ttma_[a-z0-9_]+) (\w+)$/.exec(line);
    if (type) metrics.set(type[1]!, { type: type[2]!, labels: new Set(), values: new Map() });
  }
  for (const line of text.split('\n')) {
    const sample = /^(ttma_[a-z0-9_]+?)(_bucket|_sum|_count)?(?:\{([^}]*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const metric = metrics.get(sample[1]!) ?? metrics.get(sample[1]! + (sample[2] ?? ''));
    assert.ok(metric, `sample without a TYPE: ${line}`);
    for (const pair of (sample[3] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) {
      if (pair[1] === 'le') continue;
      metric.labels.add(pair[1]!);
      const seen = metric.values.get(pair[1]!) ?? new Set<string>();
      seen.add(pair[2]!);
      metric.values.set(pair[1]!, seen);
    }
  }
  return metrics;
}

/** A documented value may stand for a family: `media-N` is media-0, media-1... */
function documentedValue(documented: string[], value: string): boolean {
  return documented.some((d) => d === value || (d.endsWith('-N') && new RegExp(`^${d.slice(0, -1)}\\d+$`).test(value)));
}

/** What differs between a documented table and a scrape. */
function differences(documented: Map<string, DocumentedMetric>, exposed: Map<string, Exposed>): string[] {
  const problems: string[] = [];
  for (const [name, doc] of documented) {
    const seen = exposed.get(name);
    if (!seen) {
      problems.push(`${name}: documented, not exposed`);
      continue;
    }
    if (seen.type !== doc.type) problems.push(`${name}: documented as ${doc.type}, exposed as ${seen.type}`);
    for (const label of seen.labels) if (!doc.labels.includes(label)) problems.push(`${name}: label ${label} exposed, not documented`);
    if (seen.labels.size > 0) for (const label of doc.labels) if (!seen.labels.has(label)) problems.push(`${name}: label ${label} documented, not exposed`);
    for (const [label, values] of seen.values) {
      const listed = doc.values.get(label);
      if (!listed) continue;
      for (const value of values) if (!documentedValue(listed, value)) problems.push(`${name}{${label}="${value}"}: value not documented`);
    }
  }
  for (const name of exposed.keys()) if (!documented.has(name)) problems.push(`${name}: exposed, not documented`);
  return problems;
}

const PLATFORM_ADMIN_TOKEN = 'metrics-docs-admin-token-0123456789';
let stack: Stack;

before(async () => {
  stack = await startStack({}, { platform: { adminToken: PLATFORM_ADMIN_TOKEN } });
});

after(async () => {
  await stack.stop();
});

test('docs/operations-metrics.md and /metrics agree: names, types, label names and listed label values', async () => {
  // A real call first, so per-worker series, both histograms and the ended-call counters have samples.
  const call = stack.sim.placeInboundCall({ from: '+15550200101', to: NUMBER, durationMs: 1_500 });
  await call.done;
  await waitFor('the call to end at the gateway', () => stack.gateway.control.liveCalls === 0);
  await waitFor("a pong with the call's frames", () => stack.gateway.supervisor.hosts().some((h) => (h.lastStats?.totals.framesIn ?? 0) > 0));
  const response = await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`);
  const exposed = exposedMetrics(await response.text());
  const documented = await documentedMetrics();
  assert.ok(documented.size >= 30, `the table was read (${documented.size} rows)`);
  assert.deepEqual(differences(documented, exposed), []);
});

test('the platform: its "Platform metrics" table and its /metrics (admin token) agree', async () => {
  const platformMetrics = `http://127.0.0.1:${stack.ports.platform}/metrics`;
  assert.equal((await fetch(platformMetrics)).status, 401, 'the admin token is required');
  const response = await fetch(platformMetrics, { headers: { authorization: `Bearer ${PLATFORM_ADMIN_TOKEN}` } });
  assert.equal(response.status, 200);
  const documented = await documentedMetrics('## Platform metrics');
  assert.ok(documented.size >= 1, 'the platform table was read');
  assert.deepEqual(differences(documented, exposedMetrics(await response.text())), []);
  const outcomes = documented.get('ttma_unowned_dials_total')!.values.get('outcome');
  assert.deepEqual(UNOWNED_DIAL_OUTCOMES.filter((o) => !outcomes?.includes(o)), [], 'unowned dial outcomes missing from the docs');
});

test('every reason the code can put on a bounded label is documented', async () => {
  const documented = await documentedMetrics();
  const upgrades = documented.get('ttma_media_upgrades_refused_total')!.meaningTerms;
  assert.deepEqual(MEDIA_REFUSAL_REASONS.filter((r) => !upgrades.includes(r)), [], 'media upgrade refusal reasons missing from the docs');
  const causes = documented.get('ttma_calls_ended_total')!.meaningTerms;
  assert.deepEqual(END_CAUSES.filter((c) => !causes.includes(c)), [], 'end causes missing from the docs');
});

test('ttma_worker_up reads 0 from a worker\'s loss until its replacement has started, then 1; its counters do not drop', async () => {
  const { supervisor, metrics } = stack.gateway;
  const up = async (): Promise<number | undefined> => {
    const gauge = metrics.registry.getSingleMetric('ttma_worker_up')!;
    const values = (await gauge.get()).values;
    return values.find((v) => v.labels['worker'] === '0')?.value;
  };
  assert.equal(await up(), 1);
  const scrape = async () => (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
  const framesBefore = metricValue(await scrape(), 'ttma_media_frames_total')!;
  assert.ok(framesBefore > 0, 'the first test\'s call was counted');
  // Read right after the supervisor put the replacement in place (it spawns it in the same turn as the loss).
  const duringRestart = new Promise<number | undefined>((resolve) => {
    supervisor.once('worker.lost', () => queueMicrotask(() => resolve(up())));
  });
  const restarted = new Promise<void>((resolve) => supervisor.once('worker.restarted', () => resolve()));
  supervisor.host(0)!.testOnlyPostUndecodable();
  assert.equal(await duringRestart, 0, 'a worker that is still starting is not up');
  await restarted;
  assert.equal(await up(), 1);
  const text = await scrape();
  assert.equal(metricValue(text, 'ttma_worker_up'), 2);
  // The replacement's own totals start at 0 and are added to the worker's series: nothing drops (rate() sees no reset).
  const framesAfter = metricValue(text, 'ttma_media_frames_total')!;
  assert.ok(framesAfter >= framesBefore, `frames counted ${framesBefore}, then ${framesAfter} after the restart`);
  assert.equal(metricValue(text, 'ttma_worker_restarts_total', { reason: 'lost' }), 1);
});
