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
import { runSuite } from './suiteRunner.js';

interface RaceResult {
  granted: number;
  cap: number;
  overshoot: number;
}

async function main(): Promise<number> {
  const { failures, resultLines: lines } = await runSuite('../test/platform/', 'TTMA_CAP_RACE_FILE');
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
