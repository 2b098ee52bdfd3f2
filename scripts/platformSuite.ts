/**
 * `npm run test:platform`: runs every test/platform/*.test.js file (the
 * embedded store and a real redis-server the tests start themselves), one at
 * a time, with node:test's spec reporter, then prints as the very last line
 * `platform: cap race granted G of C minutes, overshoot O`. Exit code 1 when
 * any test failed, the race did not run, or it granted more than the cap.
 * Under CI a missing redis-server fails the suite (test/helpers/redisServer.ts).
 *
 * Compiled to dist/scripts/platformSuite.js; finds the compiled tests at
 * ../test/platform/ from its own location.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const TEST_TIMEOUT_MS = 120_000;

interface RaceResult {
  granted: number;
  cap: number;
  overshoot: number;
}

async function main(): Promise<number> {
  const dir = fileURLToPath(new URL('../test/platform/', import.meta.url));
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.test.js'))
    .sort()
    .map((name) => join(dir, name));
  const resultDir = mkdtempSync(join(tmpdir(), 'ttma-platform-'));
  const resultFile = join(resultDir, 'race.jsonl');
  writeFileSync(resultFile, '');
  process.env.TTMA_CAP_RACE_FILE = resultFile;

  let failures = 0;
  const startedAt = Date.now();
  const events = run({ files, concurrency: 1, timeout: TEST_TIMEOUT_MS });
  events.on('test:fail', () => {
    failures++;
  });
  const report = events.compose(new spec());
  report.pipe(process.stdout, { end: false });
  await finished(report);

  const lines = readFileSync(resultFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  rmSync(resultDir, { recursive: true, force: true });
  process.stdout.write(`${files.length} files, ${failures} failed tests, ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  const last = lines.length > 0 ? (JSON.parse(lines[lines.length - 1]!) as RaceResult) : null;
  if (!last) {
    process.stdout.write('platform: cap race not run (redis-server missing?)\n');
    return 1;
  }
  process.stdout.write(`platform: cap race granted ${last.granted} of ${last.cap} minutes, overshoot ${last.overshoot}\n`);
  return failures > 0 || last.granted > last.cap ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stdout.write(`platform suite could not run: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
