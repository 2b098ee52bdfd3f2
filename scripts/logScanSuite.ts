/**
 * `npm run test:logscan`: the whole test suite with every test stack logging
 * at trace into one directory (test/helpers/suiteLogs.ts), then a scan of
 * every captured line for every secret any stack used (any 16-character
 * piece of it, or all of a shorter one). Exit 1 if a test fails, nothing
 * was captured, or any secret is found.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WINDOW = 16;
/** Shorter secrets (test fixtures such as 'ws-agent-token') are looked for whole down to this length. */
const MIN_SECRET = 8;

const dir = mkdtempSync(join(tmpdir(), 'ttma-logscan-'));
const testDir = fileURLToPath(new URL('../test/', import.meta.url));
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', testDir], {
  stdio: 'inherit',
  env: { ...process.env, TTMA_TEST_LOG_DIR: dir },
});

const files = readdirSync(dir);
// Every 16-character piece of every secret, for a set lookup at each position of each line.
const pieces = new Map<string, string>(); // piece -> secret name
const short: Array<[string, string]> = []; // secrets shorter than a piece, looked for whole
let secretCount = 0;
for (const name of files.filter((f) => f.endsWith('.secrets.json'))) {
  const secrets = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, string[]>;
  for (const [label, forms] of Object.entries(secrets)) {
    for (const form of forms) {
      if (form.length < MIN_SECRET) continue;
      secretCount++;
      if (form.length < WINDOW) short.push([form, label]);
      for (let i = 0; i + WINDOW <= form.length; i++) pieces.set(form.slice(i, i + WINDOW), label);
    }
  }
}

let lines = 0;
const found: string[] = [];
for (const name of files.filter((f) => f.endsWith('.jsonl'))) {
  for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
    if (!line) continue;
    lines++;
    let label: string | undefined;
    for (let i = 0; label === undefined && i + WINDOW <= line.length; i++) label = pieces.get(line.slice(i, i + WINDOW));
    label ??= short.find(([secret]) => line.includes(secret))?.[1];
    if (label !== undefined) found.push(`${name}: ${label}: ${line.slice(0, 300)}`);
  }
}

const logFiles = files.filter((f) => f.endsWith('.jsonl')).length;
console.log(`log scan: ${lines} lines from ${logFiles} stacks, ${secretCount} secrets, ${found.length} lines with a secret`);
for (const hit of found.slice(0, 20)) console.log(`  ${hit}`);
if (run.status === 0 && found.length === 0 && lines > 0) rmSync(dir, { recursive: true, force: true });
else console.log(`logs kept in ${dir}`);
process.exit(run.status !== 0 || found.length > 0 || lines === 0 || secretCount === 0 ? 1 : 0);
