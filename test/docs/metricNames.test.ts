/**
 * Metric names, without starting anything: the names the code registers
 * (quoted ttma_* strings in the src/ files that import prom-client) are
 * exactly the rows of docs/operations-metrics.md, the gateway's under
 * "## Metrics" and the platform's (src/platform/) under "## Platform
 * metrics", and every ttma_* name the docs use is a metric or a name the
 * source has. test/e2e/metricsDocs.test.ts checks types and labels against
 * a live /metrics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sourceFiles, userDoc, userDocs } from '../helpers/docsCorpus.js';

const DOC = 'docs/operations-metrics.md';

function registered(): { gateway: Set<string>; platform: Set<string> } {
  const out = { gateway: new Set<string>(), platform: new Set<string>() };
  for (const file of sourceFiles('src')) {
    if (!/from 'prom-client'/.test(file.text)) continue;
    const into = file.path.startsWith('src/platform/') ? out.platform : out.gateway;
    for (const m of file.text.matchAll(/['"`](ttma_[a-z0-9_]+)['"`]/g)) into.add(m[1]!);
  }
  return out;
}

/** The metric rows (`| \`ttma_...\` | type | ...`) of the table under each `## ` heading. */
function documented(): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  let heading = '';
  for (const line of userDoc(DOC).text.split('\n')) {
    if (line.startsWith('## ')) heading = line.slice(3).trim();
    const row = /^\| `(ttma_[a-z0-9_]+)` \|/.exec(line);
    if (!row) continue;
    if (!tables.has(heading)) tables.set(heading, new Set());
    tables.get(heading)!.add(row[1]!);
  }
  return tables;
}

const sorted = (s: Set<string> | undefined) => [...(s ?? [])].sort();

test('the gateway\'s and the platform\'s registered metrics are exactly the rows of their tables', () => {
  const code = registered();
  const docs = documented();
  assert.ok(code.gateway.size >= 30 && code.platform.size >= 1, 'the metric modules were read');
  assert.deepEqual(sorted(docs.get('Metrics')), sorted(code.gateway), `${DOC} "## Metrics" against the gateway's registrations`);
  assert.deepEqual(sorted(docs.get('Platform metrics')), sorted(code.platform), `${DOC} "## Platform metrics" against the platform's`);
  assert.deepEqual([...docs.keys()].sort(), ['Metrics', 'Platform metrics'], 'metric rows under no other heading');
});

test('every ttma_* name in the docs is a metric (or its _bucket/_sum/_count series), or a name the source has', () => {
  const code = registered();
  const metrics = new Set([...code.gateway, ...code.platform]);
  const isMetric = (name: string) => metrics.has(name) || metrics.has(name.replace(/_(bucket|sum|count)$/, ''));
  const sourceText = [...sourceFiles('src'), ...sourceFiles('native/src', ['.c', '.h'])].map((f) => f.text).join('\n');
  const unknown: string[] = [];
  for (const doc of userDocs()) {
    for (const m of doc.text.matchAll(/\b(ttma_[a-z0-9_]*[a-z0-9])\b/g)) {
      const name = m[1]!;
      if (isMetric(name)) continue;
      // In the metrics page every ttma_ name is a metric; elsewhere a cookie or C symbol may be meant.
      if (doc.path === DOC || !new RegExp(`\\b${name}\\b`).test(sourceText)) unknown.push(`${doc.path}: ${name}`);
    }
  }
  assert.deepEqual([...new Set(unknown)], []);
});
