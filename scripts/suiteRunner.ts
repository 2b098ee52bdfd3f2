/**
 * What the summary suites (test:security, test:platform) share: run every
 * compiled *.test.js file of one test folder, one at a time, with node:test's
 * spec reporter, while the tests append JSON lines to a results file whose
 * path they find in an environment variable (inherited by each test file's
 * child process). Returns the lines for the suite to summarize.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

/** Per test; each suite takes well under a minute. */
const TEST_TIMEOUT_MS = 120_000;

export interface SuiteRun {
  files: number;
  failures: number;
  seconds: number;
  /** The non-blank lines the tests wrote to the results file. */
  resultLines: string[];
}

/** `testDir` is relative to dist/scripts (e.g. '../test/security/'); `resultEnv` names the variable holding the results file. */
export async function runSuite(testDir: string, resultEnv: string): Promise<SuiteRun> {
  const dir = fileURLToPath(new URL(testDir, import.meta.url));
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.test.js'))
    .sort()
    .map((name) => join(dir, name));
  if (files.length === 0) return { files: 0, failures: 0, seconds: 0, resultLines: [] };

  const resultDir = mkdtempSync(join(tmpdir(), 'ttma-suite-'));
  const resultFile = join(resultDir, 'results.jsonl');
  writeFileSync(resultFile, '');
  process.env[resultEnv] = resultFile;

  let failures = 0;
  const startedAt = Date.now();
  const events = run({ files, concurrency: 1, timeout: TEST_TIMEOUT_MS });
  events.on('test:fail', () => {
    failures++;
  });
  const report = events.compose(new spec());
  report.pipe(process.stdout, { end: false });
  await finished(report);

  const resultLines = readFileSync(resultFile, 'utf8').split('\n').filter((line) => line.trim() !== '');
  rmSync(resultDir, { recursive: true, force: true });
  const seconds = (Date.now() - startedAt) / 1000;
  process.stdout.write(`${files.length} files, ${failures} failed tests, ${seconds.toFixed(1)} s\n`);
  return { files: files.length, failures, seconds, resultLines };
}
