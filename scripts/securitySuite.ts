/**
 * The adversarial suite (issue 4): runs every test/security/*.test.js file,
 * one at a time, with node:test's spec reporter, then prints, as the very
 * last line, `security: N attacks, M accepted` (N distinct attack names from
 * the registry that test/security/attacks.ts appends to). Exit code 1 if any
 * attack was accepted, any test failed, or no attack was recorded at all.
 *
 * Compiled to dist/scripts/securitySuite.js; it finds the compiled tests at
 * ../test/security/ from its own location.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

/** Per test; the whole suite takes well under a minute. */
const TEST_TIMEOUT_MS = 120_000;

interface AttackLine {
  name: string;
  accepted: boolean;
}

function readRegistry(file: string): { attacks: Map<string, boolean>; unreadable: number } {
  const attacks = new Map<string, boolean>();
  let unreadable = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as AttackLine;
      if (typeof record.name !== 'string' || typeof record.accepted !== 'boolean') throw new Error('bad record');
      // An attack recorded twice (it should not be) counts as accepted if it ever was.
      attacks.set(record.name, (attacks.get(record.name) ?? false) || record.accepted);
    } catch {
      unreadable++;
    }
  }
  return { attacks, unreadable };
}

async function main(): Promise<number> {
  const dir = fileURLToPath(new URL('../test/security/', import.meta.url));
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.test.js'))
    .sort()
    .map((name) => join(dir, name));
  if (files.length === 0) {
    process.stdout.write(`no compiled security tests in ${dir}: run the build first\n`);
    process.stdout.write('security: 0 attacks, 0 accepted\n');
    return 1;
  }

  const logDir = mkdtempSync(join(tmpdir(), 'ttma-security-'));
  const logFile = join(logDir, 'attacks.jsonl');
  writeFileSync(logFile, '');
  // Each test file runs in a child process, which inherits this.
  process.env.TTMA_SECURITY_LOG = logFile;

  let failures = 0;
  const startedAt = Date.now();
  const events = run({ files, concurrency: 1, timeout: TEST_TIMEOUT_MS });
  events.on('test:fail', () => {
    failures++;
  });
  const report = events.compose(new spec());
  report.pipe(process.stdout, { end: false });
  await finished(report);

  const { attacks, unreadable } = readRegistry(logFile);
  rmSync(logDir, { recursive: true, force: true });
  const accepted = [...attacks].filter(([, wasAccepted]) => wasAccepted).map(([name]) => name);
  for (const name of accepted) process.stdout.write(`ACCEPTED: ${name}\n`);
  if (unreadable > 0) process.stdout.write(`${unreadable} unreadable registry lines\n`);
  process.stdout.write(`${files.length} files, ${failures} failed tests, ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`security: ${attacks.size} attacks, ${accepted.length} accepted\n`);
  return accepted.length > 0 || failures > 0 || attacks.size === 0 || unreadable > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stdout.write(`security suite could not run: ${(err as Error).message}\n`);
    process.stdout.write('security: 0 attacks, 0 accepted\n');
    process.exitCode = 1;
  },
);
