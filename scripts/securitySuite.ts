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
import { runSuite } from './suiteRunner.js';

interface AttackLine {
  name: string;
  accepted: boolean;
}

function readRegistry(lines: string[]): { attacks: Map<string, boolean>; unreadable: number } {
  const attacks = new Map<string, boolean>();
  let unreadable = 0;
  for (const line of lines) {
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
  const suite = await runSuite('../test/security/', 'TTMA_SECURITY_LOG');
  if (suite.files === 0) {
    process.stdout.write('no compiled security tests in test/security: run the build first\n');
    process.stdout.write('security: 0 attacks, 0 accepted\n');
    return 1;
  }
  const failures = suite.failures;
  const { attacks, unreadable } = readRegistry(suite.resultLines);
  const accepted = [...attacks].filter(([, wasAccepted]) => wasAccepted).map(([name]) => name);
  for (const name of accepted) process.stdout.write(`ACCEPTED: ${name}\n`);
  if (unreadable > 0) process.stdout.write(`${unreadable} unreadable registry lines\n`);
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
